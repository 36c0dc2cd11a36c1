/**
 * Store-and-forward to an offline recipient: what alice sends while bob is away is stored, reaches bob
 * when he connects (in order, exactly once), leaves the server's queue when bob's device acknowledges
 * it, and turns into a delivery receipt for alice — at once when she is online, at her next login when
 * she is not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clientBarrier } from './barrier.js';
import { keysFor, Resources, waitOffline, waitUntil, type Recorded } from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

/** Registers `name` with a fresh client, then disconnects it; returns its keys. */
async function registerThenLeave(url: string, name: string, observer: Recorded) {
  const keys = await keysFor();
  const c = await res.client(url, name, { keys });
  await c.client.close();
  await waitOffline(observer.client, name);
  return keys;
}

describe('offline delivery', () => {
  it('queues messages for an offline recipient and delivers them in order, exactly once, with receipts to the online sender', async () => {
    const srv = await res.server();
    const alice = await res.client(srv.url, 'alice');
    const bobKeys = await registerThenLeave(srv.url, 'bob', alice);

    const bodies = ['first while you were away', 'second while you were away', 'third while you were away'];
    const sent = [];
    for (const body of bodies) sent.push(await alice.client.send('bob', body));
    // The server's ack said "queued" (stored for an offline recipient), not "delivered".
    expect(sent.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);
    expect(new Set(sent.map((s) => s.serverId)).size).toBe(3);
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 3 });
    for (const s of sent) expect((await alice.messages.get(s.id, 'out'))?.status).toBe('queued');
    expect(alice.delivered).toEqual([]);

    const bob = await res.client(srv.url, 'bob', { keys: bobKeys });
    await waitUntil(() => (bob.received.length >= 3 ? true : undefined), 10_000, 'bob to receive the backlog');
    expect(bob.received.map((m) => m.body)).toEqual(bodies);
    expect(bob.received.map((m) => m.id)).toEqual(sent.map((s) => s.id));
    expect(bob.received.map((m) => m.serverId)).toEqual(sent.map((s) => s.serverId));
    expect(bob.received.every((m) => m.from === 'alice' && m.to === 'bob')).toBe(true);

    // Receipts: one 'delivered' event per message, for alice's own message ids.
    await waitUntil(() => (alice.delivered.length >= 3 ? true : undefined), 5000, 'three delivery receipts');
    expect(alice.delivered.map((d) => d.id).sort()).toEqual(sent.map((s) => s.id).sort());
    expect(alice.delivered.every((d) => d.to === 'bob')).toBe(true);
    for (const s of sent) expect((await alice.messages.get(s.id, 'out'))?.status).toBe('delivered');

    // Acknowledged: bob's queue is empty; alice saw her receipts, so none is owed any more.
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 5000, "bob's queue to empty");
    await expect.poll(() => srv.store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    await expect.poll(() => srv.store.pendingReceipts('alice', 1, 0, 100)).toEqual([]);
    expect(await srv.store.pending('bob', 1, 0, 100, Date.now())).toEqual([]);

    // Exactly once: nothing more arrives, on either side, before a later message and its receipt.
    const barrier = await clientBarrier(alice, bob);
    expect(bob.received.map((m) => m.body)).toEqual([...bodies, barrier]);
    expect(alice.delivered).toHaveLength(4);
    expect(bob.rejected).toEqual([]);
  });

  it('keeps the receipts for a sender who is offline when the recipient acknowledges, and hands them over at her next login', async () => {
    const srv = await res.server();
    const observer = await res.client(srv.url, 'olga');
    const bobKeys = await registerThenLeave(srv.url, 'bob', observer);

    // alice sends while bob is away, then leaves herself. Her history (and its message ids) stays with her.
    const aliceKeys = await keysFor();
    const alice1 = await res.client(srv.url, 'alice', { keys: aliceKeys });
    const aliceMessages = alice1.messages;
    const sent = [];
    for (const body of ['one', 'two', 'three']) sent.push(await alice1.client.send('bob', body));
    expect(sent.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);
    await alice1.client.close();
    await waitOffline(observer.client, 'alice');

    const bob = await res.client(srv.url, 'bob', { keys: bobKeys });
    await waitUntil(() => (bob.received.length >= 3 ? true : undefined), 10_000, 'bob to receive the backlog');
    expect(bob.received.map((m) => m.body)).toEqual(['one', 'two', 'three']);
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 5000, "bob's queue to empty");

    // The receipts wait on the server for alice.
    const owed = await srv.store.pendingReceipts('alice', 1, 0, 100);
    expect(owed.map((r) => r.clientId).sort()).toEqual(sent.map((s) => s.id).sort());
    expect(owed.map((r) => r.id).sort()).toEqual(sent.map((s) => s.serverId!).sort());
    expect(owed.every((r) => r.recipient === 'bob')).toBe(true);
    for (const s of sent) expect((await aliceMessages.get(s.id, 'out'))?.status).toBe('queued');

    // alice logs in later: one 'delivered' event per message, then the server forgets the receipts.
    const alice2 = await res.client(srv.url, 'alice', { keys: aliceKeys, messages: aliceMessages });
    await waitUntil(() => (alice2.delivered.length >= 3 ? true : undefined), 5000, 'the owed receipts');
    expect(alice2.delivered.map((d) => d.id).sort()).toEqual(sent.map((s) => s.id).sort());
    expect(alice2.delivered.every((d) => d.to === 'bob')).toBe(true);
    for (const s of sent) expect((await aliceMessages.get(s.id, 'out'))?.status).toBe('delivered');
    await expect.poll(() => srv.store.pendingReceipts('alice', 1, 0, 100)).toEqual([]);

    // Seen receipts are not handed over again on the next login.
    await alice2.client.close();
    const alice3 = await res.client(srv.url, 'alice', { keys: aliceKeys, messages: aliceMessages });
    // A receipt owed to alice from now on is queued behind any old one the server wrongly kept.
    const barrier = await clientBarrier(alice3, bob);
    expect(alice3.delivered).toHaveLength(1);
    expect(bob.received.map((m) => m.body)).toEqual(['one', 'two', 'three', barrier]);
  });
});
