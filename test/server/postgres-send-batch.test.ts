/**
 * Sends on PostgreSQL are written in batches (group commit, issue 13): while one transaction runs, the
 * sends that arrive wait, and the next transaction carries them all. Each send keeps its own outcome,
 * exactly what it would have had alone in that order. The sends here are issued in one tick: the
 * first starts a transaction at once, by itself, and every later one waits for the next, so the batches
 * are known without any timing (the store's `sendBatches` counts them).
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { DeviceListInput, EnqueueInput, EnqueueManyResult, QueueQuota } from '../../src/server/store/server-store.js';
import type { PostgresServerStore } from '../../src/server/store/postgres-store.js';
import { TEST_DATABASE_URL, testSchemaName } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/test-clients.js';
import { cleanupStores, input, key, postgresStore, quota, sig } from './store-fixtures.js';

afterEach(cleanupStores);

const send = (store: PostgresServerStore, copies: EnqueueInput[], q: QueueQuota = quota) => store.enqueueMany(copies, q);
const statusOf = (r: EnqueueManyResult) => r.status;
const storedIds = (store: PostgresServerStore, recipient: string, device: number) => store.pending(recipient, device, 0, 1000, 0).then((m) => m.map((x) => x.id));

/** A device list for `username` (the store keeps what it is given; the handler verified it). */
const list = (username: string, version: number): DeviceListInput => ({
  username,
  version,
  maxDeviceId: 1,
  list: `payload-${username}-v${version}`.padEnd(120, 'p'),
  signature: sig(`sig-${username}-v${version}`),
  devices: [{ device: 1, signingKey: key('dsk1'), dhKey: key('ik1'), encryptionKeyN: key('n1', 342), name: 'device 1', addedAt: 1_001 }],
});

describe('postgres server store: sends written in batches', () => {
  it('writes a lone send in a transaction of its own at once, and the sends that arrive meanwhile together, in arrival order', async () => {
    const store = await postgresStore();
    const first = input({ id: 'lone' });
    const lone = await send(store, [first]);
    expect(lone.status).toBe('accepted');
    expect(store.sendBatches).toEqual({ batches: 1, items: 1, largest: 1 });
    // One sender's twenty sends and ten of others, interleaved, all issued at once.
    const copies = Array.from({ length: 30 }, (_, i) => input({ id: `m${i}`, sender: i % 3 === 2 ? `other${i}` : 'alice' }));
    const results = await Promise.all(copies.map((c) => send(store, [c])));
    expect(results.map(statusOf)).toEqual(copies.map(() => 'accepted'));
    // The first went alone, the 29 that waited for it went in one transaction.
    expect(store.sendBatches).toEqual({ batches: 3, items: 31, largest: 29 });
    // Seqs follow arrival order, so bob reads every sender's messages in the order they were sent.
    expect(await storedIds(store, 'bob', 1)).toEqual(['lone', ...copies.map((c) => c.id)]);
    const bytes = [first, ...copies].reduce((sum, c) => sum + c.envelope.length, 0);
    expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 31, bytes });
    expect(await store.senderQueueUsage('alice', 'bob', 1)).toMatchObject({ count: 21 });
  });

  it('checks every send of a batch in arrival order against what the sends before it stored, and refuses one without touching the others', async () => {
    const store = await postgresStore();
    const q: QueueQuota = { maxCount: 5, maxBytes: 1_000, senderMaxCount: 2 };
    const big = 'x'.repeat(1_100);
    const sends: EnqueueInput[][] = [
      [input({ id: 's0', sender: 's0' })], // alone: the batch below waits for it
      [input({ id: 'x1', sender: 'x' })],
      [input({ id: 'x2', sender: 'x' })],
      [input({ id: 'x3', sender: 'x' })], // x's third for bob/1: over its sender cap of 2
      // Fits bob/1, not bob/2: the whole send is refused, and its bob/1 copy counts for nobody after it.
      [input({ id: 'y1', sender: 'y', clientId: 'y-client-id-0001' }), input({ id: 'y2', sender: 'y', clientId: 'y-client-id-0001', recipientDevice: 2, envelope: big })],
      [input({ id: 's5', sender: 's5' })],
      [input({ id: 's6', sender: 's6' })], // bob/1's fifth
      [input({ id: 's7', sender: 's7' })], // bob/1 is full
    ];
    const results = await Promise.all(sends.map((copies) => send(store, copies, q)));
    expect(store.sendBatches).toMatchObject({ batches: 2, largest: 7 });
    expect(results.map(statusOf)).toEqual(['accepted', 'accepted', 'accepted', 'sender_quota_exceeded', 'quota_exceeded', 'accepted', 'accepted', 'quota_exceeded']);
    expect(results[3]).toMatchObject({ to: 'bob', device: 1 });
    expect(results[4]).toMatchObject({ to: 'bob', device: 2 });
    expect(results[7]).toMatchObject({ to: 'bob', device: 1, message: expect.stringContaining('maximum of 5') });
    expect(await storedIds(store, 'bob', 1)).toEqual(['s0', 'x1', 'x2', 's5', 's6']);
    expect(await storedIds(store, 'bob', 2)).toEqual([]);
    expect(await store.deviceQueueUsage('bob', 1)).toMatchObject({ count: 5 });
    expect(await store.deviceQueueUsage('bob', 2)).toEqual({ count: 0, bytes: 0 });
    expect(await store.senderQueueUsage('x', 'bob', 1)).toMatchObject({ count: 2 });
    expect(await store.senderQueueUsage('y', 'bob', 1)).toEqual({ count: 0, bytes: 0 });
    expect(await store.queueUsage('bob')).toMatchObject({ count: 5 });
    // Refused sends kept no idempotency record: y's send, retried with room, is stored, not a duplicate.
    const retried = await send(store, [input({ id: 'y1b', sender: 'y', clientId: 'y-client-id-0001', recipient: 'carol' })], q);
    expect(retried).toMatchObject({ status: 'accepted', copies: [{ status: 'stored' }] });
  });

  it('answers a client id taken earlier in the same batch, or before it, as a duplicate; one refused leaves its key free', async () => {
    const store = await postgresStore();
    const before = await send(store, [input({ id: 'k0-first', clientId: 'client-id-k0-000' })]);
    expect(before).toMatchObject({ status: 'accepted', copies: [{ status: 'stored' }] });
    const tiny: QueueQuota = { maxCount: 1000, maxBytes: 5 };
    const sends: Array<[EnqueueInput[], QueueQuota]> = [
      [[input({ id: 'blocker', sender: 'carol' })], quota],
      [[input({ id: 'k0-again', clientId: 'client-id-k0-000' })], quota],
      [[input({ id: 'k1-a', clientId: 'client-id-k1-000', sentAt: 111 })], quota],
      [[input({ id: 'k1-b', clientId: 'client-id-k1-000', sentAt: 222 })], quota],
      // Two copies of one send; refused (bob/2 has no room under this quota), so its key stays free…
      [[input({ id: 'k2-a1', clientId: 'client-id-k2-000' }), input({ id: 'k2-a2', clientId: 'client-id-k2-000', recipientDevice: 2 })], tiny],
      // …and the same send again, with room, is stored…
      [[input({ id: 'k2-b1', clientId: 'client-id-k2-000' }), input({ id: 'k2-b2', clientId: 'client-id-k2-000', recipientDevice: 2 })], quota],
      // …and answers a third attempt, one of whose copies is new.
      [[input({ id: 'k2-c2', clientId: 'client-id-k2-000', recipientDevice: 2 }), input({ id: 'k2-c3', clientId: 'client-id-k2-000', recipientDevice: 3 })], quota],
    ];
    const results = await Promise.all(sends.map(([copies, q]) => send(store, copies, q)));
    expect(store.sendBatches).toMatchObject({ batches: 3, largest: 6 });
    expect(results.map(statusOf)).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'quota_exceeded', 'accepted', 'accepted']);
    expect(results[1]).toEqual({ status: 'accepted', copies: [{ status: 'duplicate', id: 'k0-first', sentAt: expect.any(Number) }] });
    expect(results[2]).toMatchObject({ copies: [{ status: 'stored', message: { id: 'k1-a' } }] });
    expect(results[3]).toEqual({ status: 'accepted', copies: [{ status: 'duplicate', id: 'k1-a', sentAt: 111 }] });
    expect(results[5]).toMatchObject({ copies: [{ status: 'stored', message: { id: 'k2-b1' } }, { status: 'stored', message: { id: 'k2-b2' } }] });
    expect(results[6]).toMatchObject({ copies: [{ status: 'duplicate', id: 'k2-b2' }, { status: 'stored', message: { id: 'k2-c3' } }] });
    expect(await storedIds(store, 'bob', 1)).toEqual(['k0-first', 'blocker', 'k1-a', 'k2-b1']);
    expect(await storedIds(store, 'bob', 2)).toEqual(['k2-b2']);
    expect(await storedIds(store, 'bob', 3)).toEqual(['k2-c3']);
    expect(await store.acceptedCopies('alice', 1, 'client-id-k2-000', [1, 2, 3].map((d) => ({ recipient: 'bob', recipientDevice: d })))).toEqual([
      { id: 'k2-b1', sentAt: expect.any(Number) },
      { id: 'k2-b2', sentAt: expect.any(Number) },
      { id: 'k2-c3', sentAt: expect.any(Number) },
    ]);
    expect(await store.deviceQueueUsage('bob', 1)).toMatchObject({ count: 4 });
  });

  it('refuses only the send whose checked device list moved', async () => {
    const store = await postgresStore();
    const at = (replaces: number | null) => ({ replaces, now: 5_000, receiptExpiresAt: 10_000_000 });
    expect(await store.publishDeviceList(list('bob', 1), undefined, [], at(null))).toMatchObject({ status: 'published' });
    expect(await store.publishDeviceList(list('bob', 2), undefined, [], at(1))).toMatchObject({ status: 'published' });
    const results = await Promise.all([
      send(store, [input({ id: 'first', sender: 'dave' })]),
      store.enqueueMany([input({ id: 'stale' })], quota, undefined, [{ username: 'bob', version: 1 }]),
      store.enqueueMany([input({ id: 'current', sender: 'carol' })], quota, undefined, [{ username: 'bob', version: 2 }, { username: 'carol', version: null }]),
      send(store, [input({ id: 'unchecked', sender: 'erin' })]),
    ]);
    expect(store.sendBatches).toMatchObject({ batches: 2, largest: 3 });
    expect(results.map(statusOf)).toEqual(['accepted', 'lists_changed', 'accepted', 'accepted']);
    expect(await storedIds(store, 'bob', 1)).toEqual(['first', 'current', 'unchecked']);
    expect(await store.senderQueueUsage('alice', 'bob', 1)).toEqual({ count: 0, bytes: 0 });
  });

  it("tells each send's committed callback after COMMIT, in arrival order; a callback that throws fails its own send only", async () => {
    const schema = testSchemaName();
    const [store, otherNode] = [await postgresStore(schema), await postgresStore(schema)];
    const told: number[] = [];
    const seenElsewhere: Array<Promise<string[]>> = [];
    const sends = Array.from({ length: 6 }, (_, i) =>
      store.enqueueMany([input({ id: `c${i}`, sender: `sender${i}` })], quota, () => {
        told.push(i);
        // Read by another pool as the callback runs: committed means visible to every node.
        seenElsewhere.push(storedIds(otherNode, 'bob', 1));
        if (i === 3) throw new Error('listener 3 failed');
      }),
    );
    const settled = await Promise.allSettled(sends);
    expect(told).toEqual([0, 1, 2, 3, 4, 5]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((settled[3] as PromiseRejectedResult).reason).toMatchObject({ message: 'listener 3 failed' });
    const seen = await Promise.all(seenElsewhere);
    seen.forEach((ids, i) => expect(ids).toContain(`c${i}`));
    expect(await storedIds(store, 'bob', 1)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']);
  });

  it('fails every send of a batch the database refuses, storing none of them, and writes the next batch', async () => {
    const store = await postgresStore();
    const results = await Promise.allSettled([
      send(store, [input({ id: 'ok-alone', sender: 'carol' })]),
      send(store, [input({ id: 'batch-a', clientId: 'client-id-fail-a' })]),
      // PostgreSQL text holds no NUL character: the batch's queue insert fails.
      send(store, [input({ id: 'batch-nul', sender: 'mallory', envelope: '{"x":"\u0000"}' })]),
      send(store, [input({ id: 'batch-c', sender: 'dave' })]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    for (const r of results.slice(1)) expect((r as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringMatching(/0x00/) });
    expect(await storedIds(store, 'bob', 1)).toEqual(['ok-alone']);
    expect(await store.deviceQueueUsage('bob', 1)).toMatchObject({ count: 1 });
    expect(await store.senderQueueUsage('alice', 'bob', 1)).toEqual({ count: 0, bytes: 0 });
    // Nothing of the failed batch was kept: the same send again is stored, not answered as a duplicate.
    const again = await send(store, [input({ id: 'batch-a2', clientId: 'client-id-fail-a' })]);
    expect(again).toMatchObject({ status: 'accepted', copies: [{ status: 'stored', message: { id: 'batch-a2' } }] });
  });

  it('runs a whole batch again when PostgreSQL aborts it in a deadlock, storing each send once', async () => {
    const schema = testSchemaName();
    // PostgreSQL checks a waiting transaction for a deadlock once, deadlock_timeout after its wait began,
    // and the one whose check finds the cycle is aborted. The batch's check comes 5 s into its wait, long
    // after the cycle closes even on a loaded machine; the other transaction's never comes in the test.
    // So the batch is always the one aborted (with the default 1 s, a slow step let the other be).
    const store = await postgresStore(schema, { sessionSettings: { deadlock_timeout: '5s' } });
    // Usage rows for bob/1, carol/1 and dave/1 exist.
    for (const recipient of ['bob', 'carol', 'dave']) await send(store, [input({ id: `seed-${recipient}`, recipient })]);
    const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await other.connect();
    await other.query(`SET deadlock_timeout = '10min'`);
    const lockRow = (recipient: string) => other.query(`SELECT count FROM ${schema}.device_usage WHERE recipient = $1 AND recipient_device = 1 FOR UPDATE`, [recipient]);
    const batchWaits = () =>
      waitUntil(
        async () => (await other.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [schema])).rows.length > 0 || undefined,
        5_000,
        'a send transaction to wait on a locked row',
      );
    try {
      // Another transaction holds carol/1's usage row, and dave/1's until its savepoint is rolled back.
      await other.query('BEGIN');
      await lockRow('carol');
      await other.query('SAVEPOINT held');
      await lockRow('dave');
      // A send to dave waits on its row; the two sends after it wait for its transaction, then go together.
      const lone = send(store, [input({ id: 'to-dave', sender: 's0', recipient: 'dave' })]);
      await batchWaits();
      const batch = Promise.all([
        send(store, [input({ id: 'd1', sender: 's1' }), input({ id: 'd1c', sender: 's1', recipient: 'carol' })]),
        send(store, [input({ id: 'd2', sender: 's2' })]),
      ]);
      await other.query('ROLLBACK TO SAVEPOINT held');
      expect((await lone).status).toBe('accepted');
      // The batch locks bob/1 (sorted first), then waits on carol/1.
      await batchWaits();
      // Now the other transaction wants bob/1: a cycle. The batch's check finds it and the batch is
      // aborted; the other gets bob/1 and commits, and the batch runs again from the start.
      await lockRow('bob');
      await other.query('COMMIT');
      expect((await batch).map(statusOf)).toEqual(['accepted', 'accepted']);
    } finally {
      await other.end();
    }
    expect(store.sendBatches).toEqual({ batches: 5, items: 6, largest: 2 });
    expect(await storedIds(store, 'bob', 1)).toEqual(['seed-bob', 'd1', 'd2']);
    expect(await storedIds(store, 'carol', 1)).toEqual(['seed-carol', 'd1c']);
    expect(await store.deviceQueueUsage('bob', 1)).toMatchObject({ count: 3 });
    expect(await store.deviceQueueUsage('carol', 1)).toMatchObject({ count: 2 });
  });

  it('keeps quotas exact and each key stored once while two nodes batch sends for the same devices', async () => {
    const schema = testSchemaName();
    const [a, b] = [await postgresStore(schema), await postgresStore(schema)];
    const five: QueueQuota = { maxCount: 5, maxBytes: 1_000_000 };
    // 40 sends to bob/1 from 40 senders, and each node also takes the same raced send 5 times.
    const raced = (i: number) => input({ id: `raced-${i}`, sender: 'racer', clientId: 'raced-client-0001', recipient: 'carol' });
    const work = Array.from({ length: 50 }, (_, i) => {
      const node = i % 2 === 0 ? a : b;
      return i < 40 ? send(node, [input({ id: `q${i}`, sender: `q${i}` })], five) : send(node, [raced(i)]);
    });
    const results = await Promise.all(work);
    expect(a.sendBatches.largest).toBeGreaterThan(1);
    expect(b.sendBatches.largest).toBeGreaterThan(1);
    expect(results.slice(0, 40).filter((r) => r.status === 'accepted')).toHaveLength(5);
    expect(results.slice(0, 40).filter((r) => r.status === 'quota_exceeded')).toHaveLength(35);
    expect(await storedIds(a, 'bob', 1)).toHaveLength(5);
    expect(await a.deviceQueueUsage('bob', 1)).toMatchObject({ count: 5 });
    const racedCopies = results.slice(40).map((r) => (r.status === 'accepted' ? r.copies[0]! : undefined));
    const firstStored = racedCopies.filter((c) => c?.status === 'stored');
    expect(firstStored).toHaveLength(1);
    const id = firstStored[0]!.status === 'stored' ? firstStored[0]!.message.id : '';
    for (const c of racedCopies) if (c?.status === 'duplicate') expect(c.id).toBe(id);
    expect(await storedIds(b, 'carol', 1)).toEqual([id]);
  });
});
