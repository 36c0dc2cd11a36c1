/**
 * The ServerStore contract, run against every store (memory, SQLite, PostgreSQL): the queue, idempotency, receipts and quotas, as
 * v1 uses them (everything device 1's). Addresses other than device 1, and device lists, are in
 * store-devices-contract.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_STORED_ONE_TIME_PREKEYS } from '../../src/protocol/limits.js';
import type { ServerStore } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, input, key, quota, sig, durableBackends, upload } from './store-fixtures.js';

afterEach(cleanupStores);

describe.each(backends)('%s server store', (_name, make) => {
  it('returns pending envelopes oldest first, after a cursor, up to a limit', async () => {
    const store = await make();
    const stored = [];
    for (let i = 0; i < 5; i++) {
      const r = await store.enqueue(input(), quota);
      expect(r.status).toBe('stored');
      if (r.status === 'stored') stored.push(r.message);
    }
    const all = await store.pending('bob', 1, 0, 100, 0);
    expect(all.map((m) => m.id)).toEqual(stored.map((m) => m.id));
    expect(all.map((m) => m.seq)).toEqual([...all.map((m) => m.seq)].sort((a, b) => a - b));
    const page = await store.pending('bob', 1, all[1]!.seq, 2, 0);
    expect(page.map((m) => m.id)).toEqual([all[2]!.id, all[3]!.id]);
    expect(await store.pending('carol', 1, 0, 100, 0)).toEqual([]);
    await store.close();
  });

  it('stores a duplicate (same sender and client id) once and answers with the first acceptance', async () => {
    const store = await make();
    const first = await store.enqueue(input({ clientId: 'same-client-id-0001' }), quota);
    const again = await store.enqueue(input({ clientId: 'same-client-id-0001' }), quota);
    expect(first.status).toBe('stored');
    expect(again).toMatchObject({ status: 'duplicate', id: first.status === 'stored' ? first.message.id : '' });
    expect(await store.pending('bob', 1, 0, 100, 0)).toHaveLength(1);
    // Still a duplicate after delivery and acknowledgement: a resend after a lost ack is not stored again.
    await store.acknowledge('bob', 1, [first.status === 'stored' ? first.message.id : ''], 5, 10_000_000);
    expect((await store.enqueue(input({ clientId: 'same-client-id-0001' }), quota)).status).toBe('duplicate');
    expect(await store.pending('bob', 1, 0, 100, 0)).toHaveLength(0);
    await store.close();
  });

  it('enforces the per-recipient count and byte quotas', async () => {
    const store = await make();
    const small = { maxCount: 2, maxBytes: 1_000_000 };
    expect((await store.enqueue(input(), small)).status).toBe('stored');
    expect((await store.enqueue(input(), small)).status).toBe('stored');
    expect(await store.enqueue(input(), small)).toMatchObject({ status: 'quota_exceeded' });
    expect((await store.enqueue(input({ recipient: 'carol' }), small)).status).toBe('stored');
    const bytes = { maxCount: 100, maxBytes: 30 };
    expect((await store.enqueue(input({ recipient: 'dave', envelope: 'x'.repeat(20) }), bytes)).status).toBe('stored');
    expect(await store.enqueue(input({ recipient: 'dave', envelope: 'x'.repeat(20) }), bytes)).toMatchObject({ status: 'quota_exceeded' });
    expect(await store.queueUsage('dave')).toEqual({ count: 1, bytes: 20 });
    await store.close();
  });

  it('caps what one sender has queued for one recipient, leaving room for other senders, and frees it on ack and expiry', async () => {
    const store = await make();
    const capped = { maxCount: 100, maxBytes: 1_000_000, senderMaxCount: 2, senderMaxBytes: 1_000_000 };
    const a1 = await store.enqueue(input({ sender: 'mallory', expiresAt: 50 }), capped);
    expect((await store.enqueue(input({ sender: 'mallory' }), capped)).status).toBe('stored');
    expect(await store.enqueue(input({ sender: 'mallory' }), capped)).toMatchObject({ status: 'sender_quota_exceeded' });
    // Another sender to the same recipient, and the same sender to another recipient, still fit.
    expect((await store.enqueue(input({ sender: 'alice' }), capped)).status).toBe('stored');
    expect((await store.enqueue(input({ sender: 'mallory', recipient: 'carol' }), capped)).status).toBe('stored');
    expect(await store.senderQueueUsage('mallory', 'bob', 1)).toMatchObject({ count: 2 });
    // Expiry frees one slot, an ack the other.
    expect(await store.sweepExpired(60)).toBe(1);
    expect(a1.status === 'stored' && (await store.pending('bob', 1, 0, 10, 60)).some((m) => m.id === a1.message.id)).toBe(false);
    expect(await store.senderQueueUsage('mallory', 'bob', 1)).toMatchObject({ count: 1 });
    expect((await store.enqueue(input({ sender: 'mallory' }), capped)).status).toBe('stored');
    const mine = (await store.pending('bob', 1, 0, 10, 60)).filter((m) => m.sender === 'mallory').map((m) => m.id);
    await store.acknowledge('bob', 1, [mine[0]!], 70, 10_000_000);
    expect((await store.enqueue(input({ sender: 'mallory' }), capped)).status).toBe('stored');
    const bytes = { maxCount: 100, maxBytes: 1_000_000, senderMaxBytes: 30 };
    expect((await store.enqueue(input({ sender: 'eve', recipient: 'dave', envelope: 'x'.repeat(20) }), bytes)).status).toBe('stored');
    expect(await store.enqueue(input({ sender: 'eve', recipient: 'dave', envelope: 'x'.repeat(20) }), bytes)).toMatchObject({ status: 'sender_quota_exceeded' });
    expect((await store.enqueue(input({ sender: 'fay', recipient: 'dave', envelope: 'x'.repeat(20) }), bytes)).status).toBe('stored');
    await store.close();
  });

  it('caps the bytes queued on the whole server, and frees them when envelopes leave', async () => {
    const store = await make();
    const capped = { maxCount: 100, maxBytes: 1_000_000, serverMaxBytes: 50 };
    const first = await store.enqueue(input({ recipient: 'r1', envelope: 'x'.repeat(20) }), capped);
    expect((await store.enqueue(input({ recipient: 'r2', sender: 's2', envelope: 'x'.repeat(20) }), capped)).status).toBe('stored');
    expect(await store.serverQueueBytes()).toBe(40);
    expect(await store.enqueue(input({ recipient: 'r3', sender: 's3', envelope: 'x'.repeat(11) }), capped)).toMatchObject({ status: 'server_full' });
    expect((await store.enqueue(input({ recipient: 'r3', sender: 's3', envelope: 'x'.repeat(10) }), capped)).status).toBe('stored');
    if (first.status !== 'stored') throw new Error('not stored');
    await store.acknowledge('r1', 1, [{ id: first.message.id, reason: 'unsupported' }], 5, 10_000_000);
    expect(await store.serverQueueBytes()).toBe(30);
    expect((await store.enqueue(input({ recipient: 'r3', sender: 's3', envelope: 'x'.repeat(20) }), capped)).status).toBe('stored');
    await store.close();
  });

  it('deletes rejected envelopes like acknowledged ones and owes the sender an unreadable receipt with the reason', async () => {
    const store = await make();
    const a = await store.enqueue(input(), quota);
    const b = await store.enqueue(input(), quota);
    if (a.status !== 'stored' || b.status !== 'stored') throw new Error('not stored');
    const receipts = await store.acknowledge('bob', 1, [a.message.id, { id: b.message.id, reason: 'peer_key_changed' }], 77, 10_000_000);
    expect(receipts).toMatchObject([
      { id: a.message.id, status: 'delivered' },
      { id: b.message.id, status: 'unreadable', reason: 'peer_key_changed' },
    ]);
    expect(receipts[0]).not.toHaveProperty('reason');
    expect(await store.pending('bob', 1, 0, 100, 0)).toEqual([]);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    const owed = await store.pendingReceipts('alice', 1, 0, 100);
    expect(owed.map(({ id, status, reason }) => ({ id, status, reason }))).toEqual([
      { id: a.message.id, status: 'delivered', reason: undefined },
      { id: b.message.id, status: 'unreadable', reason: 'peer_key_changed' },
    ]);
    await store.close();
  });

  it('deletes acknowledged envelopes and owes the sender a receipt for each', async () => {
    const store = await make();
    const a = await store.enqueue(input(), quota);
    const b = await store.enqueue(input(), quota);
    if (a.status !== 'stored' || b.status !== 'stored') throw new Error('not stored');
    const receipts = await store.acknowledge('bob', 1, [a.message.id, 'unknown-id'], 77, 10_000_000);
    expect(receipts).toMatchObject([{ id: a.message.id, clientId: a.message.clientId, sender: 'alice', recipient: 'bob', deliveredAt: 77 }]);
    // Only the recipient can acknowledge its own envelopes.
    expect(await store.acknowledge('mallory', 1, [b.message.id], 78, 10_000_000)).toEqual([]);
    expect((await store.pending('bob', 1, 0, 100, 0)).map((m) => m.id)).toEqual([b.message.id]);
    expect((await store.pendingReceipts('alice', 1, 0, 100)).map((r) => r.id)).toEqual([a.message.id]);
    await store.acknowledgeReceipts('alice', 1, [a.message.id]);
    expect(await store.pendingReceipts('alice', 1, 0, 100)).toEqual([]);
    expect(await store.queueUsage('bob')).toEqual({ count: 1, bytes: b.message.envelope.length });
    await store.close();
  });

  it('sweeps expired envelopes and hides them from pending before the sweep', async () => {
    const store = await make();
    await store.enqueue(input({ expiresAt: 100 }), quota);
    const live = await store.enqueue(input({ expiresAt: 10_000 }), quota);
    expect((await store.pending('bob', 1, 0, 100, 150)).map((m) => m.id)).toEqual([live.status === 'stored' ? live.message.id : '']);
    expect(await store.sweepExpired(150)).toBe(1);
    expect(await store.queueUsage('bob')).toMatchObject({ count: 1 });
    expect(await store.sweepExpired(20_000)).toBe(1);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    await store.close();
  });
});

describe.each(durableBackends)('%s server store durability', (_name, place) => {
  it('keeps queued envelopes, idempotency records and receipts across a reopen', async () => {
    const open = place();
    const first = await open();
    const a = await first.enqueue(input({ clientId: 'durable-client-id-1' }), quota);
    const b = await first.enqueue(input(), quota);
    if (a.status !== 'stored' || b.status !== 'stored') throw new Error('not stored');
    await first.acknowledge('bob', 1, [a.message.id], 5, 10_000_000);
    await first.close();
    const second = await open();
    expect((await second.pending('bob', 1, 0, 10, 0)).map((m) => m.id)).toEqual([b.message.id]);
    expect((await second.enqueue(input({ clientId: 'durable-client-id-1' }), quota)).status).toBe('duplicate');
    expect((await second.pendingReceipts('alice', 1, 0, 10)).map((r) => r.id)).toEqual([a.message.id]);
    // seq keeps growing after a reopen (SQLite AUTOINCREMENT, a PostgreSQL identity column): order holds across restarts.
    const c = await second.enqueue(input(), quota);
    expect(c.status === 'stored' && c.message.seq > b.message.seq).toBe(true);
    await second.close();
  });

  it('commits a burst of concurrent writes and answers each caller', async () => {
    const open = place();
    const store = await open();
    const results = await Promise.all(Array.from({ length: 200 }, () => store.enqueue(input(), quota)));
    expect(results.every((r) => r.status === 'stored')).toBe(true);
    const seqs = results.map((r) => (r.status === 'stored' ? r.message.seq : 0));
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(await store.pending('bob', 1, 0, 1000, 0)).toHaveLength(200);
    await store.close();
  });
});

// ---- prekeys ------------------------------------------------------------------------------------

/** Device 1's bundle, as v1's prekeys.bundle takes it; undefined when it has none. */
async function takeOne(store: ServerStore, username: string) {
  const answer = await store.takePreKeyBundles(username, [1]);
  return answer.status === 'taken' ? answer.bundles[0] : undefined;
}

describe.each(backends)('%s server store: prekeys', (_name, make) => {
  it('counts what was uploaded, and has no bundle before the signed and last-resort keys exist', async () => {
    const store = await make();
    expect(await store.preKeyCounts('bob', 1)).toEqual({
      identityKey: null,
      signedPreKeyId: null,
      lastResortKemPreKeyId: null,
      oneTime: 0,
      kemOneTime: 0,
      oneTimeIds: [],
      kemOneTimeIds: [],
    });
    expect(await takeOne(store, 'bob')).toBeUndefined();
    const { signedPreKey: _s, lastResortKemPreKey: _l, ...partial } = upload();
    await store.putPreKeys('bob', 1, partial, 1);
    expect(await takeOne(store, 'bob')).toBeUndefined();
    expect(await store.putPreKeys('bob', 1, upload(), 2)).toEqual({
      identityKey: key('ik1'),
      signedPreKeyId: 7,
      lastResortKemPreKeyId: 1000,
      oneTime: 3,
      kemOneTime: 2,
      oneTimeIds: [1, 2, 3],
      kemOneTimeIds: [1, 2],
    });
    await store.close();
  });

  it('hands each one-time key out once, lowest id first; then the last-resort key serves and the curve one-time key is absent', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    const bundles = await Promise.all([1, 2, 3, 4].map(() => takeOne(store, 'bob')));
    expect(bundles.map((b) => b?.oneTimePreKey?.id)).toEqual([1, 2, 3, undefined]);
    expect(bundles.map((b) => b?.kemPreKey.id)).toEqual([1, 2, 1000, 1000]);
    for (const b of bundles) expect(b).toMatchObject({ identity: { dhKey: key('ik1') }, signedPreKey: { id: 7 } });
    expect(bundles[3]).not.toHaveProperty('oneTimePreKey');
    expect(await store.preKeyCounts('bob', 1)).toMatchObject({ oneTime: 0, kemOneTime: 0 });
    await store.close();
  });

  it('a later upload keeps the signed and last-resort keys it does not replace, and adds one-time keys', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    const counts = await store.putPreKeys('bob', 1, { identity: upload().identity, oneTimePreKeys: [{ id: 9, publicKey: key('opk9') }], kemPreKeys: [] }, 2);
    expect(counts).toMatchObject({ signedPreKeyId: 7, lastResortKemPreKeyId: 1000, oneTime: 4, kemOneTime: 2 });
    await store.putPreKeys('bob', 1, { identity: upload().identity, signedPreKey: { id: 8, publicKey: key('spk8'), signature: sig('s8') }, oneTimePreKeys: [], kemPreKeys: [] }, 3);
    expect((await takeOne(store, 'bob'))?.signedPreKey.id).toBe(8);
    await store.close();
  });

  it(`refuses an upload that would store more than ${MAX_STORED_ONE_TIME_PREKEYS} one-time keys of either kind, changing nothing`, async () => {
    const store = await make();
    const many = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, publicKey: key(`o${from + i}`) }));
    const manyKem = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, publicKey: key(`k${from + i}`, 2091), signature: sig('k') }));
    await store.putPreKeys('bob', 1, upload({ oneTimePreKeys: many(150), kemPreKeys: manyKem(MAX_STORED_ONE_TIME_PREKEYS) }), 1);
    const before = await store.preKeyCounts('bob', 1);
    await expect(store.putPreKeys('bob', 1, upload({ oneTimePreKeys: many(51, 500), kemPreKeys: [] }), 2)).rejects.toMatchObject({ code: 'prekey_limit' });
    await expect(store.putPreKeys('bob', 1, upload({ oneTimePreKeys: [], kemPreKeys: manyKem(1, 900) }), 2)).rejects.toMatchObject({ code: 'prekey_limit' });
    expect(await store.preKeyCounts('bob', 1)).toEqual(before);
    // Known ids are replaced, not added; a new identity starts from zero.
    expect(await store.putPreKeys('bob', 1, upload({ oneTimePreKeys: many(200), kemPreKeys: manyKem(10) }), 3)).toMatchObject({ oneTime: 200, kemOneTime: 200 });
    const fresh = { dhKey: key('ik9'), binding: sig('b9') };
    expect(await store.putPreKeys('bob', 1, upload({ identity: fresh, oneTimePreKeys: many(200, 1000), kemPreKeys: [] }), 4)).toMatchObject({ oneTime: 200, kemOneTime: 0 });
    await store.close();
  });

  it('tells what a bundle fetch left of each kind', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    expect((await takeOne(store, 'bob'))?.remaining).toEqual({ oneTime: 2, kemOneTime: 1 });
    expect((await takeOne(store, 'bob'))?.remaining).toEqual({ oneTime: 1, kemOneTime: 0 });
    expect((await takeOne(store, 'bob'))?.remaining).toEqual({ oneTime: 0, kemOneTime: 0 });
    await store.close();
  });

  it('a new identity key replaces everything published under the old one', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    const fresh = upload({ identity: { dhKey: key('ik2'), binding: sig('b2') }, oneTimePreKeys: [{ id: 50, publicKey: key('new') }], kemPreKeys: [] });
    expect(await store.putPreKeys('bob', 1, fresh, 2)).toMatchObject({ identityKey: key('ik2'), oneTime: 1, kemOneTime: 0 });
    const bundle = await takeOne(store, 'bob');
    expect(bundle).toMatchObject({ identity: { dhKey: key('ik2') }, oneTimePreKey: { id: 50 }, kemPreKey: { id: 1000 } });
    // Users are separate.
    expect(await takeOne(store, 'alice')).toBeUndefined();
    await store.close();
  });
});
