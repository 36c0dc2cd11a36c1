/**
 * Flow control on delivery: a large backlog goes out DELIVERY_WINDOW envelopes at a time, at the pace
 * the recipient acknowledges, oldest first (server seq order), each exactly once — and a reconnect in
 * the middle of the drain starts again from the oldest unacknowledged envelope, keeping the order.
 */
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/protocol/events.js';
import { DELIVERY_WINDOW, MAX_ACK_IDS } from '../../src/protocol/limits.js';
import { rawBarrier } from './barrier.js';
import { call, fakeEnvelope, keysFor, Resources, sleep, waitOfflineRaw, waitUntil, type RawAck, type RawUser } from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

/** No rate limit in the way of thousands of events from one socket. */
const UNLIMITED = { rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 };

/** Sends `count` fake envelopes from `socket` to `to`, pipelined in chunks; returns the server ids in send order. */
async function sendMany(socket: Socket, to: string, count: number, label: string): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 250) {
    const chunk = Array.from({ length: Math.min(250, count - start) }, (_, k) =>
      call(socket, 'send', { to, envelope: fakeEnvelope(`${label}${start + k}`) }) as Promise<RawAck & { id: string }>,
    );
    for (const ack of await Promise.all(chunk)) {
      expect(ack).toMatchObject({ ok: true, status: 'queued' });
      ids.push(ack.id);
    }
  }
  return ids;
}

/** Acknowledges `ids`, at most MAX_ACK_IDS per `ack` event; returns how many the server removed. */
async function ackAll(socket: Socket, ids: readonly string[]): Promise<number> {
  let acknowledged = 0;
  for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
    const ack = (await call(socket, 'ack', { ids: ids.slice(i, i + MAX_ACK_IDS) })) as RawAck & { acknowledged: number };
    expect(ack.ok).toBe(true);
    acknowledged += ack.acknowledged;
  }
  return acknowledged;
}

const count = (u: RawUser, n: number, what: string) => waitUntil(() => (u.messages.length >= n ? true : undefined), 10_000, what);

/** Waits `ms` and checks that nothing beyond `n` arrived meanwhile. */
async function settlesAt(u: RawUser, n: number, ms = 500): Promise<void> {
  await count(u, n, `${n} messages`);
  await sleep(ms);
  expect(u.messages.length).toBe(n);
}

function expectUnique(messages: readonly IncomingMessage[]): void {
  expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
}

describe('delivery flow control', () => {
  it('streams a backlog of 3,000 one window at a time, at the pace of the acks, in order, each exactly once', async () => {
    expect(DELIVERY_WINDOW).toBeLessThan(3000 / 2);
    const srv = await res.server(UNLIMITED);
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    const alice = await res.raw(srv.url, 'alice', await keysFor());
    await waitOfflineRaw(alice.socket, 'bob');
    const sent = await sendMany(alice.socket, 'bob', 3000, 'a');
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 3000 });
    // Store order is send order.
    const stored = await srv.store.pending('bob', 1, 0, 5000, Date.now());
    expect(stored.map((q) => q.id)).toEqual(sent);

    // A device that never acknowledges gets one window, then nothing.
    const bob = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await settlesAt(bob, DELIVERY_WINDOW);
    expect(bob.messages.map((m) => m.id)).toEqual(sent.slice(0, DELIVERY_WINDOW));

    // Acknowledging the window opens it again: exactly one more window.
    expect(await ackAll(bob.socket, bob.messages.map((m) => m.id))).toBe(DELIVERY_WINDOW);
    await settlesAt(bob, 2 * DELIVERY_WINDOW, 300);
    expect(bob.messages.map((m) => m.id)).toEqual(sent.slice(0, 2 * DELIVERY_WINDOW));

    // Half a window acknowledged lets half a window more through.
    const half = DELIVERY_WINDOW / 2;
    expect(await ackAll(bob.socket, bob.messages.slice(DELIVERY_WINDOW, DELIVERY_WINDOW + half).map((m) => m.id))).toBe(half);
    await settlesAt(bob, 2 * DELIVERY_WINDOW + half, 300);

    // Acknowledging as they come drains everything.
    let acked = DELIVERY_WINDOW + half;
    while (acked < sent.length) {
      await count(bob, Math.min(sent.length, acked + 1), 'more messages');
      const upTo = bob.messages.length;
      expect(upTo - acked).toBeLessThanOrEqual(DELIVERY_WINDOW);
      expect(await ackAll(bob.socket, bob.messages.slice(acked, upTo).map((m) => m.id))).toBe(upTo - acked);
      acked = upTo;
    }
    // A barrier behind the drained backlog: once it is in, nothing of the backlog can still come. Set it aside.
    const barrier = await rawBarrier(alice.socket, 'bob', bob);
    expect(await ackAll(bob.socket, [barrier])).toBe(1);
    expect(bob.messages.pop()?.id).toBe(barrier);
    expect(bob.messages).toHaveLength(3000);
    expectUnique(bob.messages);
    expect(bob.messages.map((m) => m.id)).toEqual(sent);
    expect(bob.messages.every((m) => m.from === 'alice' && m.to === 'bob')).toBe(true);
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    expect(await srv.store.pending('bob', 1, 0, 10, Date.now())).toEqual([]);
  });

  it('keeps per-sender order, exactly once, across a reconnect of the recipient in the middle of the drain', async () => {
    const srv = await res.server(UNLIMITED);
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    const alice = await res.raw(srv.url, 'alice', await keysFor());
    const carol = await res.raw(srv.url, 'carol', await keysFor());
    await waitOfflineRaw(alice.socket, 'bob');
    // Two senders at once: their envelopes interleave in the store, each sender's in its own order.
    const [fromAlice, fromCarol] = await Promise.all([sendMany(alice.socket, 'bob', 1500, 'a'), sendMany(carol.socket, 'bob', 1500, 'c')]);
    const seqOrder = (await srv.store.pending('bob', 1, 0, 5000, Date.now())).map((q) => q.id);
    expect(seqOrder).toHaveLength(3000);
    expect(seqOrder.filter((id) => fromAlice!.includes(id))).toEqual(fromAlice);
    expect(seqOrder.filter((id) => fromCarol!.includes(id))).toEqual(fromCarol);

    // First connection: takes a window and a bit, acknowledges only part of it, then drops.
    const first = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await settlesAt(first, DELIVERY_WINDOW, 200);
    const ackedFirst = first.messages.slice(0, 300).map((m) => m.id);
    expect(await ackAll(first.socket, ackedFirst)).toBe(300);
    await settlesAt(first, DELIVERY_WINDOW + 300, 200);
    expect(first.messages.map((m) => m.id)).toEqual(seqOrder.slice(0, DELIVERY_WINDOW + 300));
    first.socket.disconnect();
    await waitOfflineRaw(alice.socket, 'bob');

    // Second connection: starts again at the oldest unacknowledged envelope (the ones in flight on the
    // first connection come again), then the rest, in seq order, each once.
    const second = await res.raw(srv.url, 'bob', bobKeys, 'login');
    let acked = 0;
    while (acked < 3000 - 300) {
      await count(second, Math.min(3000 - 300, acked + 1), 'more messages');
      const upTo = second.messages.length;
      await ackAll(second.socket, second.messages.slice(acked, upTo).map((m) => m.id));
      acked = upTo;
    }
    const barrier = await rawBarrier(alice.socket, 'bob', second);
    expect(await ackAll(second.socket, [barrier])).toBe(1);
    expect(second.messages.pop()?.id).toBe(barrier);
    const ackedSet = new Set(ackedFirst);
    expect(second.messages.map((m) => m.id)).toEqual(seqOrder.filter((id) => !ackedSet.has(id)));
    expectUnique(second.messages);

    // What bob's device saw, first occurrence of each id, across both connections: every envelope once,
    // each sender's in that sender's order.
    const seen: string[] = [];
    const seenSet = new Set<string>();
    for (const m of [...first.messages, ...second.messages]) if (!seenSet.has(m.id)) (seenSet.add(m.id), seen.push(m.id));
    expect(seen).toEqual(seqOrder);
    const fromOf = new Map([...first.messages, ...second.messages].map((m) => [m.id, m.from]));
    expect(seen.filter((id) => fromOf.get(id) === 'alice')).toEqual(fromAlice);
    expect(seen.filter((id) => fromOf.get(id) === 'carol')).toEqual(fromCarol);
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
  });
});
