/**
 * Engine.IO connections that never join the namespace (no Socket.IO CONNECT packet) are closed at the
 * auth timeout, like namespace sockets that never log in; a logged-in connection stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const AUTH_TIMEOUT_MS = 300;

interface Wire {
  ws: WebSocket;
  texts: string[];
  closed: Promise<number>;
}

/** A websocket speaking engine.io v4 by hand, opened (the server's `0{...}` packet received). */
async function openWire(port: number): Promise<Wire> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  const texts: string[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    if (!isBinary) texts.push(data.toString());
  });
  ws.on('error', () => undefined);
  await waitUntil(() => texts.find((t) => t.startsWith('0{')), 3000, 'engine.io open packet');
  return { ws, texts, closed };
}

describe(`engine connections and the auth timeout (${AUTH_TIMEOUT_MS} ms)`, () => {
  let srv: TestServer;
  const wires: WebSocket[] = [];
  beforeAll(async () => {
    srv = await startTestServer({ authTimeoutMs: AUTH_TIMEOUT_MS });
  });
  afterAll(async () => {
    for (const w of wires) w.terminate();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('closes an engine connection that never sends the namespace CONNECT packet', async () => {
    const started = Date.now();
    const wire = await openWire(srv.port);
    wires.push(wire.ws);
    await wire.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
    // It was answered nothing but the open packet (and perhaps pings) in the meantime.
    expect(wire.texts.filter((t) => !t.startsWith('0{') && t !== '2')).toEqual([]);
  });

  it('closes an engine connection that keeps answering pings but never joins', async () => {
    const wire = await openWire(srv.port);
    wires.push(wire.ws);
    wire.ws.on('message', (data: WebSocket.RawData) => {
      if (data.toString() === '2') wire.ws.send('3');
    });
    wire.ws.send('3'); // an unsolicited pong: activity that must not count as joining
    await wire.closed;
  });

  it('closes an engine connection that joined the namespace and then left it without logging in', async () => {
    const wire = await openWire(srv.port);
    wires.push(wire.ws);
    wire.ws.send('40');
    await waitUntil(() => wire.texts.find((t) => t.startsWith('40{')), 3000, 'namespace connect');
    wire.ws.send('41');
    await wire.closed;
  });
});

// A longer timeout here: the login must finish in time even on a loaded machine.
describe('engine connections of logged-in sockets (auth timeout 1500 ms)', () => {
  let srv: TestServer;
  const wires: WebSocket[] = [];
  beforeAll(async () => {
    srv = await startTestServer({ authTimeoutMs: 1500 });
  });
  afterAll(async () => {
    for (const w of wires) w.terminate();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('keeps the engine connection of a socket that logged in, past the timeout', async () => {
    const sock = await rawSocket(srv.url);
    try {
      expect((await registerRaw(sock, 'kept', await keysFor())).ok).toBe(true);
      // Barrier: an engine connection opened after the login and left idle is closed at the timeout;
      // by then the logged-in one has passed its own timeout too.
      const idle = await openWire(srv.port);
      wires.push(idle.ws);
      await idle.closed;
      expect(sock.connected).toBe(true);
      expect(await sock.timeout(3000).emitWithAck('users', {})).toMatchObject({ ok: true, users: ['kept'] });
    } finally {
      sock.close();
    }
  });
});
