/**
 * Acks on PostgreSQL are written in batches, as sends are (postgres-send-batch.test.ts): while one
 * transaction runs, the acks that arrive wait, and the next carries them all, each with its own receipts.
 * And two nodes settling the same copies at once (a repeated ack) owe each receipt exactly once, and
 * forget receipts their sender saw without deadlocking. The acks
 * here are issued in one tick, so the batches are known without timing (the store's `ackBatches`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresServerStore } from '../../src/server/store/postgres-store.js';
import type { QueuedEnvelope } from '../../src/server/store/server-store.js';
import { testSchemaName } from '../helpers/postgres.js';
import { cleanupStores, input, postgresStore, quota, stored } from './store-fixtures.js';

afterEach(cleanupStores);

async function queueFor(store: PostgresServerStore, count: number, recipient = 'bob'): Promise<QueuedEnvelope[]> {
  const results = await Promise.all(Array.from({ length: count }, () => store.enqueue(input({ recipient }), quota)));
  return results.map(stored);
}

describe('postgres server store: acks written in batches', () => {
  it('writes a lone ack at once, and the acks that arrive meanwhile in one transaction, each answered with its own receipts', async () => {
    const store = await postgresStore();
    const copies = await queueFor(store, 11);
    expect(await store.acknowledge('bob', 1, [copies[0]!.id], 5, 10_000_000)).toHaveLength(1);
    expect(store.ackBatches).toEqual({ batches: 1, items: 1, largest: 1 });
    const answers = await Promise.all(copies.slice(1).map((c, k) => store.acknowledge('bob', 1, [c.id], 10 + k, 10_000_000)));
    expect(answers.map((receipts) => receipts.map((r) => [r.id, r.deliveredAt]))).toEqual(copies.slice(1).map((c, k) => [[c.id, 10 + k]]));
    // The first of the ten went alone, the nine that waited for it together.
    expect(store.ackBatches).toEqual({ batches: 3, items: 11, largest: 9 });
    expect((await store.pendingReceipts('alice', 1, 0, 100)).map((r) => r.id)).toEqual(copies.map((c) => c.id));
    expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 0, bytes: 0 });
  });

  it('fails only the ack whose commit callback throws; the others of its batch stand', async () => {
    const store = await postgresStore();
    const copies = await queueFor(store, 3);
    const [lone, failing, fine] = await Promise.allSettled([
      store.acknowledge('bob', 1, [copies[0]!.id], 5, 10_000_000),
      store.acknowledge('bob', 1, [copies[1]!.id], 5, 10_000_000, () => {
        throw new Error('a caller callback failed');
      }),
      store.acknowledge('bob', 1, [copies[2]!.id], 5, 10_000_000),
    ]);
    expect(lone.status).toBe('fulfilled');
    expect(failing).toMatchObject({ status: 'rejected', reason: { message: 'a caller callback failed' } });
    expect(fine).toMatchObject({ status: 'fulfilled', value: [{ id: copies[2]!.id }] });
    // Its deletion was committed with the batch all the same: the copy is settled, its receipt owed.
    expect((await store.pendingReceipts('alice', 1, 0, 100)).map((r) => r.id)).toEqual(copies.map((c) => c.id));
  });

  it('owes each receipt once when two nodes settle the same copies at once, whatever order each ack names them in', async () => {
    const schema = testSchemaName();
    const one = await postgresStore(schema);
    const two = await postgresStore(schema);
    for (let round = 0; round < 5; round++) {
      const copies = await queueFor(one, 20, `r${round}`);
      const ids = copies.map((c) => c.id);
      const [a, b, c] = await Promise.all([
        one.acknowledge(`r${round}`, 1, ids, 5, 10_000_000),
        two.acknowledge(`r${round}`, 1, [...ids].reverse(), 6, 10_000_000),
        two.acknowledge(`r${round}`, 1, ids.filter((_, k) => k % 2 === 0), 7, 10_000_000),
      ]);
      const settled = [...a!, ...b!, ...c!].map((r) => r.id);
      expect([...settled].sort()).toEqual([...ids].sort());
      expect(await one.deviceQueueUsage(`r${round}`, 1)).toEqual({ count: 0, bytes: 0 });
    }
    const owed = await one.pendingReceipts('alice', 1, 0, 1000);
    expect(owed).toHaveLength(100);
    expect(new Set(owed.map((r) => r.id)).size).toBe(100);
    expect(await one.senderQueueUsage('alice', 'r0', 1)).toEqual({ count: 0, bytes: 0 });
    // The sender forgets them through both nodes at once, in opposite orders: each goes once, and
    // neither statement waits on the other in a cycle.
    const seen = owed.map((r) => r.id);
    await Promise.all([one.acknowledgeReceipts('alice', 1, seen), two.acknowledgeReceipts('alice', 1, [...seen].reverse())]);
    expect(await one.pendingReceipts('alice', 1, 0, 1000)).toEqual([]);
  });
});
