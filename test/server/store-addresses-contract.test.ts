/**
 * The ServerStore contract for addresses (docs/design/devices-v2.md §5.5, §9), against every store (memory, SQLite, PostgreSQL):
 * each device has its own queue, receipts go to the sending address, a whole send is stored in one
 * transaction with per-copy idempotency, and the quotas count per device, per user, per sender and
 * recipient device, and for the server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EnqueueManyResult, QueueQuota } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, input, quota, stored, durableBackends } from './store-fixtures.js';

afterEach(cleanupStores);

function copies(r: EnqueueManyResult) {
  if (r.status !== 'accepted') throw new Error(`expected accepted, got ${r.status}${'message' in r ? `: ${r.message}` : ''}`);
  return r.copies;
}

const to = (recipient: string, recipientDevice: number) => ({ recipient, recipientDevice });

describe.each(backends)('%s server store: one queue per device', (_name, make) => {
  it('serves and settles each device its own copies only, and owes the receipt to the sending address', async () => {
    const store = await make();
    const one = stored(await store.enqueue(input({ senderDevice: 2, ...to('bob', 1) }), quota));
    const two = stored(await store.enqueue(input({ senderDevice: 2, ...to('bob', 2) }), quota));
    expect((await store.pending('bob', 1, 0, 10, 0)).map((m) => m.id)).toEqual([one.id]);
    expect(await store.pending('bob', 2, 0, 10, 0)).toMatchObject([{ id: two.id, sender: 'alice', senderDevice: 2, recipient: 'bob', recipientDevice: 2 }]);
    // Device 2 cannot settle device 1's copy.
    expect(await store.acknowledge('bob', 2, [one.id], 5, 10_000_000)).toEqual([]);
    expect(await store.pending('bob', 1, 0, 10, 0)).toHaveLength(1);
    const receipts = await store.acknowledge('bob', 2, [two.id], 5, 10_000_000);
    expect(receipts).toMatchObject([{ id: two.id, sender: 'alice', senderDevice: 2, recipient: 'bob', recipientDevice: 2, status: 'delivered' }]);
    expect(await store.pendingReceipts('alice', 1, 0, 10)).toEqual([]);
    expect((await store.pendingReceipts('alice', 2, 0, 10)).map((r) => r.id)).toEqual([two.id]);
    // Another address cannot forget alice/2's receipt.
    await store.acknowledgeReceipts('alice', 1, [two.id]);
    expect(await store.pendingReceipts('alice', 2, 0, 10)).toHaveLength(1);
    await store.acknowledgeReceipts('alice', 2, [two.id]);
    expect(await store.pendingReceipts('alice', 2, 0, 10)).toEqual([]);
    expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 1, bytes: one.envelope.length });
    expect(await store.deviceQueueUsage('bob', 2)).toEqual({ count: 0, bytes: 0 });
    expect(await store.queueUsage('bob')).toEqual({ count: 1, bytes: one.envelope.length });
    await store.close();
  });

  it('stores a whole send in order, each copy with its own seq, and answers every copy', async () => {
    const store = await make();
    const send = [to('bob', 1), to('bob', 2), to('alice', 2)].map((t) => input({ clientId: 'one-send-client-id', ...t }));
    const result = copies(await store.enqueueMany(send, quota));
    expect(result.map((c) => c.status)).toEqual(['stored', 'stored', 'stored']);
    const seqs = result.map((c) => (c.status === 'stored' ? c.message.seq : 0));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(3);
    expect(await store.pending('alice', 2, 0, 10, 0)).toMatchObject([{ id: send[2]!.id, envelope: send[2]!.envelope }]);
    expect(await store.queueUsage('bob')).toMatchObject({ count: 2 });
    await store.close();
  });

  it('a resend stores only the copies without an idempotency record and answers the others from their first acceptance', async () => {
    const store = await make();
    const clientId = 'partly-accepted-01';
    const first = copies(await store.enqueueMany([input({ clientId, ...to('bob', 1) }), input({ clientId, ...to('alice', 2) })], quota));
    // After devices_changed the client adds bob/2's copy: the other two are duplicates, with their first server ids.
    const resend = [input({ clientId, ...to('bob', 1) }), input({ clientId, ...to('bob', 2) }), input({ clientId, ...to('alice', 2) })];
    const again = copies(await store.enqueueMany(resend, quota));
    const firstIds = first.map((c) => (c.status === 'stored' ? c.message : undefined)!);
    expect(again).toMatchObject([
      { status: 'duplicate', id: firstIds[0]!.id, sentAt: firstIds[0]!.sentAt },
      { status: 'stored', message: { id: resend[1]!.id, recipient: 'bob', recipientDevice: 2 } },
      { status: 'duplicate', id: firstIds[1]!.id, sentAt: firstIds[1]!.sentAt },
    ]);
    expect(await store.pending('bob', 1, 0, 10, 0)).toHaveLength(1);
    expect(await store.pending('alice', 2, 0, 10, 0)).toHaveLength(1);
    // Every copy recorded: the whole send is answered from the records, and no quota is consulted.
    const full: QueueQuota = { maxCount: 0, maxBytes: 0, serverMaxBytes: 0 };
    const replay = copies(await store.enqueueMany(resend.map((r) => ({ ...r, id: `${r.id}-again` })), full));
    expect(replay.map((c) => c.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    await store.close();
  });

  it('keys idempotency by sender device and recipient device as well as the client id', async () => {
    const store = await make();
    const clientId = 'shared-client-id-1';
    expect((await store.enqueue(input({ clientId, senderDevice: 1, ...to('bob', 1) }), quota)).status).toBe('stored');
    expect((await store.enqueue(input({ clientId, senderDevice: 2, ...to('bob', 1) }), quota)).status).toBe('stored');
    expect((await store.enqueue(input({ clientId, senderDevice: 1, ...to('bob', 2) }), quota)).status).toBe('stored');
    expect((await store.enqueue(input({ clientId, senderDevice: 1, ...to('carol', 1) }), quota)).status).toBe('stored');
    expect((await store.enqueue(input({ clientId, senderDevice: 1, ...to('bob', 1) }), quota)).status).toBe('duplicate');
    expect(await store.queueUsage('bob')).toMatchObject({ count: 3 });
    await store.close();
  });

  it('refuses a send naming one address twice, storing nothing', async () => {
    const store = await make();
    await expect(store.enqueueMany([input(to('bob', 1)), input(to('bob', 2)), input(to('bob', 1))], quota)).rejects.toThrow(/bob\/1/);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    await store.close();
  });
});

describe.each(backends)('%s server store: quotas per device and per user', (_name, make) => {
  it("caps each device's queue on its own: a full device refuses the whole send, naming that device, and stores nothing of it", async () => {
    const store = await make();
    const perDevice: QueueQuota = { maxCount: 2, maxBytes: 1_000_000 };
    for (let i = 0; i < 2; i++) expect((await store.enqueue(input(to('bob', 2)), perDevice)).status).toBe('stored');
    const send = [input({ clientId: 'all-or-nothing-01', ...to('bob', 1) }), input({ clientId: 'all-or-nothing-01', ...to('bob', 2) })];
    const refused = await store.enqueueMany(send, perDevice);
    expect(refused).toMatchObject({ status: 'quota_exceeded', to: 'bob', device: 2 });
    expect(refused.status === 'quota_exceeded' && refused.message).toContain('device 2');
    expect(await store.pending('bob', 1, 0, 10, 0)).toEqual([]);
    // Nothing was recorded either: once bob/2 has room the same send is stored whole.
    const waiting = await store.pending('bob', 2, 0, 10, 0);
    await store.acknowledge('bob', 2, [waiting[0]!.id], 5, 10_000_000);
    expect(copies(await store.enqueueMany(send, perDevice)).map((c) => c.status)).toEqual(['stored', 'stored']);
    // bob/1 has a queue of its own.
    expect((await store.enqueue(input(to('bob', 1)), perDevice)).status).toBe('stored');
    expect(await store.deviceQueueUsage('bob', 1)).toMatchObject({ count: 2 });
    await store.close();
  });

  it("counts the copies of one send together against the user's total, and against the server's", async () => {
    const store = await make();
    const env = 'x'.repeat(20);
    const userCap: QueueQuota = { maxCount: 100, maxBytes: 1_000_000, userMaxBytes: 50 };
    const three = [1, 2, 3].map((d) => input({ clientId: 'three-devices-001', envelope: env, ...to('bob', d) }));
    expect(await store.enqueueMany(three, userCap)).toMatchObject({ status: 'quota_exceeded', to: 'bob', device: 3 });
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    expect(copies(await store.enqueueMany(three.slice(0, 2), userCap))).toHaveLength(2);
    expect(await store.enqueue(input({ envelope: env, ...to('bob', 4) }), userCap)).toMatchObject({ status: 'quota_exceeded', device: 4 });
    // Another user is not held back by bob's total.
    expect((await store.enqueue(input({ envelope: env, ...to('carol', 1) }), userCap)).status).toBe('stored');
    const serverCap: QueueQuota = { maxCount: 100, maxBytes: 1_000_000, serverMaxBytes: 90 };
    const two = [1, 2].map((d) => input({ clientId: 'server-total-0001', envelope: env, ...to('dave', d) }));
    expect(await store.enqueueMany(two, serverCap)).toMatchObject({ status: 'server_full', to: 'dave', device: 2 });
    expect(await store.serverQueueBytes()).toBe(60);
    await store.close();
  });

  it('caps what one sender has queued per recipient device, whichever of its devices sent it', async () => {
    const store = await make();
    const capped: QueueQuota = { maxCount: 100, maxBytes: 1_000_000, senderMaxCount: 2 };
    expect((await store.enqueue(input({ sender: 'mallory', senderDevice: 1, ...to('bob', 2) }), capped)).status).toBe('stored');
    expect((await store.enqueue(input({ sender: 'mallory', senderDevice: 3, ...to('bob', 2) }), capped)).status).toBe('stored');
    expect(await store.enqueue(input({ sender: 'mallory', senderDevice: 1, ...to('bob', 2) }), capped)).toMatchObject({ status: 'sender_quota_exceeded', to: 'bob', device: 2 });
    expect(await store.senderQueueUsage('mallory', 'bob', 2)).toMatchObject({ count: 2 });
    expect((await store.enqueue(input({ sender: 'mallory', ...to('bob', 1) }), capped)).status).toBe('stored');
    expect((await store.enqueue(input({ sender: 'alice', ...to('bob', 2) }), capped)).status).toBe('stored');
    await store.close();
  });

  it('checks in the order sender, device, user, server', async () => {
    const store = await make();
    const env = 'x'.repeat(20);
    const tight: QueueQuota = { maxCount: 1, maxBytes: 1_000_000, userMaxBytes: 20, senderMaxCount: 1, serverMaxBytes: 20 };
    expect((await store.enqueue(input({ envelope: env }), tight)).status).toBe('stored');
    expect((await store.enqueue(input({ envelope: env }), tight)).status).toBe('sender_quota_exceeded');
    expect((await store.enqueue(input({ sender: 'carol', envelope: env }), tight)).status).toBe('quota_exceeded');
    const user = await store.enqueue(input({ sender: 'carol', envelope: env, ...to('bob', 2) }), tight);
    expect(user).toMatchObject({ status: 'quota_exceeded', device: 2 });
    expect(user.status === 'quota_exceeded' && user.message).toContain("bob's devices");
    expect((await store.enqueue(input({ sender: 'carol', envelope: env, ...to('dave', 1) }), tight)).status).toBe('server_full');
    await store.close();
  });

  it('frees every usage on expiry, per device', async () => {
    const store = await make();
    await store.enqueueMany([input({ clientId: 'expiring-send-001', expiresAt: 50, ...to('bob', 1) }), input({ clientId: 'expiring-send-001', expiresAt: 50, ...to('bob', 2) })], quota);
    const live = stored(await store.enqueue(input({ ...to('bob', 2) }), quota));
    expect(await store.sweepExpired(60)).toBe(2);
    expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 0, bytes: 0 });
    expect(await store.deviceQueueUsage('bob', 2)).toEqual({ count: 1, bytes: live.envelope.length });
    expect(await store.senderQueueUsage('alice', 'bob', 2)).toEqual({ count: 1, bytes: live.envelope.length });
    expect(await store.queueUsage('bob')).toEqual({ count: 1, bytes: live.envelope.length });
    expect(await store.serverQueueBytes()).toBe(live.envelope.length);
    await store.close();
  });
});

describe.each(durableBackends)('%s server store: addresses survive a reopen', (_name, place) => {
  it('keeps each device queue, its usage, its receipts and its idempotency records', async () => {
    const open = place();
    const first = await open();
    const send = [input({ clientId: 'reopened-send-001', ...to('bob', 2) }), input({ clientId: 'reopened-send-001', senderDevice: 1, ...to('alice', 3) })];
    const [toBob, toSelf] = copies(await first.enqueueMany(send, quota));
    await first.acknowledge('alice', 3, [toSelf!.status === 'stored' ? toSelf!.message.id : ''], 5, 10_000_000);
    await first.close();
    const second = await open();
    expect((await second.pending('bob', 2, 0, 10, 0)).map((m) => m.id)).toEqual([toBob!.status === 'stored' ? toBob!.message.id : '']);
    expect(await second.pendingReceipts('alice', 1, 0, 10)).toMatchObject([{ recipient: 'alice', recipientDevice: 3, status: 'delivered' }]);
    expect(copies(await second.enqueueMany(send, quota)).map((c) => c.status)).toEqual(['duplicate', 'duplicate']);
    expect(await second.deviceQueueUsage('bob', 2)).toMatchObject({ count: 1 });
    await second.close();
  });
});
