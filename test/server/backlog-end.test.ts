/**
 * `backlog.end` (docs/PROTOCOL.md §7.11): once per logged-in connection, after every envelope queued for
 * the user at login has been pushed on it, the server says so, with the number of pushes before it. It
 * comes after the last backlog envelope even when the delivery window made the backlog wait for acks, and
 * never again on that connection.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { IncomingMessage } from '../../src/protocol/events.js';
import { DELIVERY_WINDOW } from '../../src/protocol/limits.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

/** What a connection received, in order: `message <id>` and `backlog.end <count>`. */
type Log = string[];

describe('backlog.end', () => {
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

  async function socketWithLog(): Promise<{ socket: Socket; log: Log; messages: IncomingMessage[] }> {
    const socket = await rawSocket(srv.url);
    sockets.push(socket);
    const log: Log = [];
    const messages: IncomingMessage[] = [];
    socket.on('message', (m: IncomingMessage) => {
      messages.push(m);
      log.push(`message ${m.id}`);
    });
    socket.on('backlog.end', (b: { count: number }) => log.push(`backlog.end ${b.count}`));
    return { socket, log, messages };
  }

  /** Registers `name`, then disconnects: envelopes for it wait in the store. */
  async function offlineUser(name: string): Promise<UserKeyPairs> {
    const keys = await keysFor();
    const { socket } = await socketWithLog();
    expect((await registerRaw(socket, name, keys)).ok).toBe(true);
    socket.close();
    return keys;
  }

  async function sender(name: string): Promise<Socket> {
    const { socket } = await socketWithLog();
    expect((await registerRaw(socket, name, await keysFor())).ok).toBe(true);
    return socket;
  }

  async function sendMany(from: Socket, to: string, n: number): Promise<string[]> {
    const answers = await Promise.all(Array.from({ length: n }, () => call(from, 'send', { to, envelope: hybridEnvelope({ blocks: 1 }) })));
    for (const a of answers) expect(a.ok).toBe(true);
    return answers.map((a) => (a as RawAck & { id: string }).id);
  }

  it('follows the last envelope of the backlog, with its count, once; live envelopes after it bring no second one', async () => {
    const bobKeys = await offlineUser('be-bob');
    const alice = await sender('be-alice');
    const ids = await sendMany(alice, 'be-bob', 3);

    const bob = await socketWithLog();
    expect((await loginRaw(bob.socket, 'be-bob', bobKeys)).ok).toBe(true);
    await waitUntil(() => (bob.log.length >= 4 ? true : undefined), 5000, 'the backlog and its end');
    expect(bob.log).toEqual([...ids.map((id) => `message ${id}`), 'backlog.end 3']);

    // Barrier: a live envelope pushed after the marker; anything the pump would add comes before it.
    const [live] = await sendMany(alice, 'be-bob', 1);
    await waitUntil(() => (bob.log.length >= 5 ? true : undefined), 5000, 'the live envelope');
    expect(bob.log.slice(4)).toEqual([`message ${live}`]);
  });

  it('comes at once, with count 0, for an empty backlog', async () => {
    const keys = await offlineUser('be-carol');
    const carol = await socketWithLog();
    expect((await loginRaw(carol.socket, 'be-carol', keys)).ok).toBe(true);
    await waitUntil(() => (carol.log.length >= 1 ? true : undefined), 5000, 'the marker');
    expect(carol.log).toEqual(['backlog.end 0']);
  });

  it('waits for a backlog larger than the delivery window to be pushed in full, acks opening the window', async () => {
    const daveKeys = await offlineUser('be-dave');
    const alice = await sender('be-alice2');
    const total = DELIVERY_WINDOW + 5;
    await sendMany(alice, 'be-dave', total);

    const dave = await socketWithLog();
    expect((await loginRaw(dave.socket, 'be-dave', daveKeys)).ok).toBe(true);
    await waitUntil(() => (dave.messages.length >= DELIVERY_WINDOW ? true : undefined), 10_000, 'a full window');
    // The window is full and nothing is acknowledged yet: the rest of the backlog waits, and so does its end.
    expect((await call(dave.socket, 'ack', { ids: dave.messages.map((m) => m.id) })).ok).toBe(true);
    await waitUntil(() => (dave.log.length >= total + 1 ? true : undefined), 10_000, 'the rest and the marker');
    expect(dave.messages).toHaveLength(total);
    expect(dave.log.slice(DELIVERY_WINDOW)).toEqual([...dave.messages.slice(DELIVERY_WINDOW).map((m) => `message ${m.id}`), `backlog.end ${total}`]);
  });

  it('is sent on each new logged-in connection, never to one that has not logged in', async () => {
    const keys = await offlineUser('be-erin');
    const anonymous = await socketWithLog();
    const first = await socketWithLog();
    expect((await loginRaw(first.socket, 'be-erin', keys)).ok).toBe(true);
    const second = await socketWithLog();
    expect((await loginRaw(second.socket, 'be-erin', keys)).ok).toBe(true);
    await waitUntil(() => (first.log.length >= 1 && second.log.length >= 1 ? true : undefined), 5000, 'both markers');
    expect([first.log, second.log]).toEqual([['backlog.end 0'], ['backlog.end 0']]);
    // Barrier: the anonymous socket's own answer comes after anything the server would have pushed it.
    expect((await call(anonymous.socket, 'challenge', {})).ok).toBe(true);
    expect(anonymous.log).toEqual([]);
  });
});
