/**
 * The client message id (`id` in a `send` payload) is an idempotency key per sender: a resend with the
 * same id is stored once, answered with the first acceptance (same server id, `duplicate: true`), and
 * reaches the recipient once — before delivery, and after it was delivered and acknowledged too.
 */
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { clientBarrier, rawBarrier } from './barrier.js';
import { call, clientId, fakeEnvelope, keysFor, Resources, waitOfflineRaw, waitUntil, type RawAck } from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

type SendAck = RawAck & { id: string; sentAt: number; status: 'delivered' | 'queued'; duplicate?: true };

const send = (socket: Socket, payload: object) => call(socket, 'send', payload) as Promise<SendAck>;

describe('idempotent send', () => {
  it('a duplicate send to an online recipient is stored once and delivered once', async () => {
    const srv = await res.server();
    const alice = await res.raw(srv.url, 'alice', await keysFor());
    const bob = await res.raw(srv.url, 'bob', await keysFor());
    const id = clientId();
    const envelope = fakeEnvelope('once');

    const first = await send(alice.socket, { to: 'bob', id, envelope });
    expect(first).toMatchObject({ ok: true, status: 'delivered' });
    expect(first.duplicate).toBeUndefined();
    const second = await send(alice.socket, { to: 'bob', id, envelope });
    expect(second).toEqual({ ok: true, id: first.id, sentAt: first.sentAt, status: 'delivered', duplicate: true });

    await waitUntil(() => (bob.messages.length >= 1 ? true : undefined), 5000, 'the message');
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 1 });
    expect(await srv.store.pending('bob', 1, 0, 10, Date.now())).toHaveLength(1);
    const barrier = await rawBarrier(alice.socket, 'bob', bob);
    expect(bob.messages.map((m) => m.id)).toEqual([first.id, barrier]);
    expect(bob.messages[0]).toMatchObject({ from: 'alice', to: 'bob', sentAt: first.sentAt, envelope });
  });

  it('duplicates sent while the recipient is offline — again, altered, from another connection, concurrently — are queued once', async () => {
    const srv = await res.server();
    const aliceKeys = await keysFor();
    const alice = await res.raw(srv.url, 'alice', aliceKeys);
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    await waitOfflineRaw(alice.socket, 'bob');

    const id = clientId();
    const original = fakeEnvelope('original');
    const first = await send(alice.socket, { to: 'bob', id, envelope: original });
    expect(first).toMatchObject({ ok: true, status: 'queued' });
    expect(first.duplicate).toBeUndefined();
    const dup = { ok: true, id: first.id, sentAt: first.sentAt, status: 'queued', duplicate: true };
    // Again, byte for byte.
    expect(await send(alice.socket, { to: 'bob', id, envelope: original })).toEqual(dup);
    // Same id, other content: still the first acceptance (nothing replaces a stored envelope).
    expect(await send(alice.socket, { to: 'bob', id, envelope: fakeEnvelope('altered') })).toEqual(dup);
    // From a second connection of alice (as after a reconnect), two at once with the first connection.
    const alice2 = await res.raw(srv.url, 'alice', aliceKeys, 'login');
    const concurrent = await Promise.all([send(alice.socket, { to: 'bob', id, envelope: original }), send(alice2.socket, { to: 'bob', id, envelope: original })]);
    expect(concurrent).toEqual([dup, dup]);
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 1 });

    const bob = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await waitUntil(() => (bob.messages.length >= 1 ? true : undefined), 5000, 'the message');
    const barrier = await rawBarrier(alice.socket, 'bob', bob);
    expect(bob.messages.map((m) => m.id)).toEqual([first.id, barrier]);
    expect(bob.messages[0]!.envelope).toEqual(original);
  });

  it('two new sends with one id racing on two connections are stored once: one is accepted, the other is its duplicate', async () => {
    const srv = await res.server();
    const aliceKeys = await keysFor();
    const a1 = await res.raw(srv.url, 'alice', aliceKeys);
    const a2 = await res.raw(srv.url, 'alice', aliceKeys, 'login');
    await res.raw(srv.url, 'bob', await keysFor());
    const id = clientId();
    const [x, y] = await Promise.all([send(a1.socket, { to: 'bob', id, envelope: fakeEnvelope('x') }), send(a2.socket, { to: 'bob', id, envelope: fakeEnvelope('y') })]);
    expect(x!.ok && y!.ok).toBe(true);
    expect(x!.id).toBe(y!.id);
    expect([x!.duplicate, y!.duplicate].filter(Boolean)).toHaveLength(1);
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 1 });
  });

  it('after the message was delivered and acknowledged, a resend with the same id is still a duplicate and is not delivered again', async () => {
    const srv = await res.server();
    const bob = await res.client(srv.url, 'bob');
    const alice = await res.client(srv.url, 'alice');
    const sent = await alice.client.send('bob', 'say it once');
    expect(sent.status).toBe('sent');
    await waitUntil(() => (bob.received.length >= 1 ? true : undefined), 5000, 'the message');
    await waitUntil(() => (alice.delivered.length >= 1 ? true : undefined), 5000, 'the receipt');
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 5000, 'the ack');
    await waitUntil(async () => ((await srv.store.pendingReceipts('alice', 1, 0, 10)).length === 0 ? true : undefined), 5000, 'the receipt ack');

    // The very copy alice's client sent, sent again under the same id (a client whose ack was lost resends
    // exactly this), here over a protocol-1 connection: both use the one idempotency key (alice/1, id, bob/1).
    const frame = srv.frames.find((f) => f.event === 'send' && (f.args[0] as { id?: string }).id === sent.id);
    expect(frame).toBeDefined();
    const [copy] = (frame!.args[0] as { messages: Array<{ to: string; envelope: object }> }).messages;
    const replayer = await res.raw(srv.url, 'alice', alice.keys, 'login');
    const again = await send(replayer.socket, { to: copy!.to, id: sent.id, envelope: copy!.envelope });
    expect(again).toEqual({ ok: true, id: sent.serverId, sentAt: sent.serverTime, status: 'delivered', duplicate: true });

    // A third user's message to bob, enqueued after the replay, and its receipt; then a round trip on each
    // of alice's connections, so any receipt the replay caused has reached them.
    const barrier = await clientBarrier(await res.client(srv.url, 'carol'), bob);
    await alice.client.onlineUsers();
    await call(replayer.socket, 'users', {});
    expect(bob.received.map((m) => m.body)).toEqual(['say it once', barrier]);
    expect(bob.rejected).toEqual([]);
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 5000, 'the ack of the barrier');
    expect(alice.delivered).toHaveLength(1);
    expect(replayer.receipts).toEqual([]);
  });

  it('the key is per sender, and sends without an id are never merged', async () => {
    const srv = await res.server();
    const alice = await res.raw(srv.url, 'alice', await keysFor());
    const carol = await res.raw(srv.url, 'carol', await keysFor());
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    await waitOfflineRaw(alice.socket, 'bob');

    const id = clientId();
    const fromAlice = await send(alice.socket, { to: 'bob', id, envelope: fakeEnvelope('a') });
    const fromCarol = await send(carol.socket, { to: 'bob', id, envelope: fakeEnvelope('c') });
    expect(fromCarol.duplicate).toBeUndefined();
    expect(fromCarol.id).not.toBe(fromAlice.id);
    const noId = [await send(alice.socket, { to: 'bob', envelope: fakeEnvelope('n') }), await send(alice.socket, { to: 'bob', envelope: fakeEnvelope('n') })];
    expect(noId.every((a) => a.ok && a.duplicate === undefined)).toBe(true);
    expect(noId[0]!.id).not.toBe(noId[1]!.id);
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 4 });

    const bob = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await waitUntil(() => (bob.messages.length >= 4 ? true : undefined), 5000, 'four messages');
    const barrier = await rawBarrier(alice.socket, 'bob', bob);
    expect(bob.messages.map((m) => [m.from, m.id])).toEqual([
      ['alice', fromAlice.id],
      ['carol', fromCarol.id],
      ['alice', noId[0]!.id],
      ['alice', noId[1]!.id],
      ['alice', barrier],
    ]);
  });
});
