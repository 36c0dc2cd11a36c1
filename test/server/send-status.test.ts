/**
 * The send answer's status says where the stored envelope went: `delivered` (read: pushed) only when a
 * connected device of the recipient took it at once, `queued` when it waits in the store because the
 * recipient is offline or every connected device's delivery window is full.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/protocol/events.js';
import { DELIVERY_WINDOW } from '../../src/protocol/limits.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

describe('send status', () => {
  let srv: TestServer;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  async function registered(username: string): Promise<{ socket: Socket; messages: IncomingMessage[] }> {
    const socket = await rawSocket(srv.url);
    sockets.push(socket);
    const messages: IncomingMessage[] = [];
    socket.on('message', (m: IncomingMessage) => messages.push(m));
    expect((await registerRaw(socket, username, await keysFor())).ok).toBe(true);
    return { socket, messages };
  }

  it('is queued for an offline recipient, delivered while a device has room, queued once its window is full', async () => {
    const alice = await registered('st-alice');
    const offline = await registered('st-bob');
    offline.socket.close();
    await waitUntil(async () => ((await call(alice.socket, 'users', {})) as RawAck & { users: string[] }).users.includes('st-bob') ? undefined : true, 5000, 'bob offline');
    const toOffline = await call(alice.socket, 'send', { to: 'st-bob', envelope: hybridEnvelope() });
    expect(toOffline).toMatchObject({ ok: true, status: 'queued' });

    const carol = await registered('st-carol');
    // Barrier: once carol has the first message, her pump has read her (empty) backlog and pushes live.
    expect(await call(alice.socket, 'send', { to: 'st-carol', envelope: hybridEnvelope() })).toMatchObject({ ok: true });
    await waitUntil(() => (carol.messages.length >= 1 ? true : undefined), 5000, 'the first message');
    // Carol never acknowledges: the rest of her window fills, then the server keeps the rest for later.
    const sends: Array<Promise<RawAck>> = [];
    for (let i = 0; i < DELIVERY_WINDOW + 1; i++) sends.push(call(alice.socket, 'send', { to: 'st-carol', envelope: hybridEnvelope({ blocks: 1 }) }));
    const statuses = (await Promise.all(sends)).map((a) => a.status);
    expect(statuses.slice(0, DELIVERY_WINDOW - 1)).toEqual(Array(DELIVERY_WINDOW - 1).fill('delivered'));
    expect(statuses.slice(DELIVERY_WINDOW - 1)).toEqual(['queued', 'queued']);
    expect(carol.messages).toHaveLength(DELIVERY_WINDOW);
  });
});
