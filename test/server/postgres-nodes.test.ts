/**
 * What PostgreSQL adds over the contract: several nodes (here several stores, each with its own pool)
 * on one database at once. Migrations race, the same one-time keys are fetched, the same send arrives
 * twice, a quota is contended, and a delivery cursor reads while two nodes write.
 */
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { TEST_DATABASE_URL, testSchemaName } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/test-clients.js';
import { cleanupStores, input, key, postgresStore, quota, upload } from './store-fixtures.js';
import { POSTGRES_MIGRATIONS } from '../../src/server/store/postgres-migrations.js';

afterEach(cleanupStores);

// The fixtures' gate skips suites titled 'postgres …' when PostgreSQL is absent and not required.
describe('postgres server store: several nodes on one database', () => {
  it('applies each migration once when three nodes start at the same moment', async () => {
    const schema = testSchemaName();
    await Promise.all([postgresStore(schema), postgresStore(schema), postgresStore(schema)]);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    } finally {
      await client.end();
    }
  });

  it('hands each one-time key out once when two nodes fetch bundles concurrently', async () => {
    const schema = testSchemaName();
    const [a, b] = [await postgresStore(schema), await postgresStore(schema)];
    const oneTime = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, publicKey: key(`o${i}`) }));
    const kem = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, publicKey: key(`k${i}`, 2091), signature: key('s', 86) }));
    await a.putPreKeys('bob', 1, upload({ oneTimePreKeys: oneTime, kemPreKeys: kem }), 1);
    const fetches = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).takePreKeyBundles('bob', [1]));
    const bundles = (await Promise.all(fetches)).map((r) => (r.status === 'taken' ? r.bundles[0]! : undefined));
    const handed = bundles.flatMap((x) => (x?.oneTimePreKey ? [x.oneTimePreKey.id] : []));
    expect(handed.sort((x, y) => x - y)).toEqual(oneTime.map((k) => k.id));
    const kemHanded = bundles.map((x) => x!.kemPreKey.id).filter((id) => id !== 1000);
    expect(kemHanded.sort((x, y) => x - y)).toEqual(kem.map((k) => k.id));
    expect(await b.preKeyCounts('bob', 1)).toMatchObject({ oneTime: 0, kemOneTime: 0 });
  });

  it('stores a send that reaches two nodes at once a single time, and answers every attempt with its id', async () => {
    const schema = testSchemaName();
    const [a, b] = [await postgresStore(schema), await postgresStore(schema)];
    const attempts = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).enqueue(input({ clientId: 'raced-client-id-01', id: `raced-${i}` }), quota));
    const results = await Promise.all(attempts);
    const storedOnes = results.filter((r) => r.status === 'stored');
    expect(storedOnes).toHaveLength(1);
    const id = storedOnes[0]!.status === 'stored' ? storedOnes[0]!.message.id : '';
    for (const r of results) if (r.status === 'duplicate') expect(r.id).toBe(id);
    expect(await a.pending('bob', 1, 0, 100, 0)).toHaveLength(1);
    expect(await b.deviceQueueUsage('bob', 1)).toMatchObject({ count: 1 });
  });

  it('lets no more through a contended quota than it allows', async () => {
    const schema = testSchemaName();
    const [a, b] = [await postgresStore(schema), await postgresStore(schema)];
    const five = { maxCount: 5, maxBytes: 1_000_000 };
    const sends = Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).enqueue(input({ sender: `s${i}` }), five));
    const statuses = (await Promise.all(sends)).map((r) => r.status);
    expect(statuses.filter((s) => s === 'stored')).toHaveLength(5);
    expect(statuses.filter((s) => s === 'quota_exceeded')).toHaveLength(19);
    expect(await a.deviceQueueUsage('bob', 1)).toMatchObject({ count: 5 });
  });

  it('a delivery cursor reading while two nodes write steps over no envelope', async () => {
    const schema = testSchemaName();
    const [a, b, reader] = [await postgresStore(schema), await postgresStore(schema), await postgresStore(schema)];
    const n = 120;
    // Many senders, so each node runs many transactions side by side (one sender's are serialised).
    const writes = Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? a : b).enqueue(input({ sender: `w${i % 12}` }), quota)));
    const seen = new Set<string>();
    let cursor = 0;
    let done = false;
    void writes.then(() => (done = true));
    // Reads as the delivery loop does: from the cursor, moving it past what it read.
    for (;;) {
      const last = done;
      const batch = await reader.pending('bob', 1, cursor, 10, 0);
      for (const m of batch) seen.add(m.id);
      if (batch.length > 0) cursor = batch[batch.length - 1]!.seq;
      if (last && batch.length === 0) break;
    }
    await writes;
    expect(seen.size).toBe(n);
  });

  it('keeps working when the database drops its connections (a restart, a network cut)', async () => {
    const schema = testSchemaName();
    const store = await postgresStore(schema);
    const first = await store.enqueue(input(), quota);
    expect(first.status).toBe('stored');
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity WHERE application_name = $1', [schema]);
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    // The pool drops a dead connection when its socket reports the close, and opens a new one; a request
    // that raced the close fails (the client's retry is for that), so: wait until one goes through.
    await waitUntil(() => store.ping().then(() => true, () => undefined), 5_000, 'the pool to reconnect');
    expect((await store.enqueue(input(), quota)).status).toBe('stored');
    expect(await store.pending('bob', 1, 0, 10, 0)).toHaveLength(2);
  });

  it('fails a request stuck behind a lock after the statement timeout instead of waiting for ever', async () => {
    const schema = testSchemaName();
    const store = await postgresStore(schema, { timeouts: { statementTimeoutMs: 300 } });
    const blocker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`LOCK TABLE ${schema}.queue IN ACCESS EXCLUSIVE MODE`);
      await expect(store.enqueue(input(), quota)).rejects.toThrow(/statement timeout/);
      await blocker.query('ROLLBACK');
      // Nothing of the failed send was kept, and the store serves the next one.
      expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 0, bytes: 0 });
      expect((await store.enqueue(input(), quota)).status).toBe('stored');
    } finally {
      await blocker.end();
    }
  });
});
