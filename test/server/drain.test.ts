/**
 * The drain of a node (src/server/drain.ts), in process: while it drains, /health answers 503
 * "draining" and a new client is refused, a request already started is answered before its connection
 * is closed, the connection is closed as a lost transport (which Socket.IO's client reconnects after),
 * and the drain ends with the store closed.
 */
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { io as connectSocket, Manager, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { loginMessage } from '../../src/protocol/auth-message.js';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { loadServerConfig } from '../../src/server/config.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import type { UserRecord } from '../../src/server/store/server-store.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir } from '../helpers/test-server.js';

/** A store whose user lookups wait while `gate` is set: a request held in flight on purpose. */
class GatedStore extends SqliteServerStore {
  gate: Promise<void> | null = null;
  held = 0;
  closed = false;

  override async getUser(username: string): Promise<UserRecord | undefined> {
    if (this.gate) {
      this.held++;
      await this.gate;
    }
    return super.getUser(username);
  }

  override async close(): Promise<void> {
    await super.close();
    this.closed = true;
  }
}

describe('a draining node', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-drain-'));
  const store = new GatedStore(dataDir);
  const sockets: Socket[] = [];
  let server: ChatServer;
  let url: string;
  let keys: UserKeyPairs;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    void installNodeCrypto({ mlkem: false });
    server = createChatServer({
      config: { ...loadServerConfig({}), host: '127.0.0.1', port: 0, dataDir, drainNoticeMs: 0 },
      store,
      logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    url = `http://127.0.0.1:${(await server.listen()).port}`;
    keys = await keysFor();
  });
  afterAll(() => {
    for (const s of sockets) s.close();
    removeDir(dataDir);
  });

  it('refuses new clients, answers the request in flight, then closes the transport and the store', async () => {
    const first = await rawSocket(url);
    sockets.push(first);
    expect((await registerRaw(first, 'dora', keys)).ok).toBe(true);
    first.close();

    const busy = await rawSocket(url);
    sockets.push(busy);
    const reason = new Promise<string>((resolve) => busy.once('disconnect', resolve));
    const { challenge } = (await call(busy, 'challenge', {})) as RawAck & { challenge: string };
    let release!: () => void;
    store.gate = new Promise<void>((resolve) => (release = resolve));
    const signature = base64urlEncode(ed25519Sign(loginMessage({ challenge, username: 'dora' }), base64urlDecode(keys.signing.d)));
    const login = call(busy, 'login', { username: 'dora', signature });
    await waitUntil(() => (store.held === 1 ? true : undefined), 5000, 'the login held at its lookup');
    // A client whose handshake passed before the drain and whose socket joins after the moves began.
    const late = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false, forceNew: true });
    await new Promise<void>((resolve, reject) => late.open((err) => (err ? reject(err) : resolve())));

    const drained = server.drain();
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'draining', store: 'ok' });
    // A new client's handshake is refused (it would try again, elsewhere).
    const newcomer = connectSocket(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    sockets.push(newcomer);
    const refused = await new Promise<Error>((resolve) => newcomer.once('connect_error', resolve));
    expect(refused.message).toMatch(/websocket error/);

    // The node is moving its clients, and this one waits for its login to be answered.
    await waitUntil(() => (logLines.some((l) => l.phase === 'moving') ? true : undefined), 5000, 'the moving phase');
    expect(logLines.some((l) => l.phase === 'moved')).toBe(false);
    // The late joiner is moved at once, while the drain still waits for the held login.
    const lateSocket = late.socket('/');
    sockets.push(lateSocket);
    const lateReason = new Promise<string>((resolve) => lateSocket.once('disconnect', resolve));
    lateSocket.connect();
    expect(await lateReason).toBe('transport close');
    expect(store.held).toBe(1);
    store.gate = null;
    release();
    // Answered, not cut off: the ack arrives before the transport closes.
    expect(await login).toMatchObject({ ok: true, username: 'dora' });
    expect(await reason).toBe('transport close');
    await drained;
    expect(store.closed).toBe(true);
    expect(logLines.map((l) => l.phase).filter((p) => p !== undefined)).toEqual(['draining', 'moving', 'moved', 'closed']);
  });
});
