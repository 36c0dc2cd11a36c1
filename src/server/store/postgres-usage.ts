/**
 * The queue usage counters of the PostgreSQL store (device, user, sender-to-device, server), locked and
 * changed in one global order: device rows, then user rows, then pair rows, then server shards (each
 * sorted). Every transaction that touches them follows it, so two nodes never wait on each other in a
 * cycle over these rows (and the few cycles left elsewhere end in a retry, postgres-pool.ts).
 *
 * The server-wide total is the one cap not checked under a lock. A single locked row would be touched
 * by every send and ack on every node and make each wait for the previous one's commit (its WAL flush):
 * measured, that capped a node below what one connection does alone. So the total is kept in 16 shards
 * (a recipient device's changes go to one shard) and read as their sum without locking: sends checked
 * at the same moment may together pass the server cap by what they carry (at most one envelope per
 * pooled connection per node). The cap protects the disk, for which that overshoot is nothing; the
 * per-device, per-user and per-sender caps, which protect users from each other, stay exact.
 */
import type pg from 'pg';
import { NO_USAGE, type Usage, type UsageReader } from './quota.js';

/** A change of what one sender has queued for one recipient device. */
export interface UsageDelta {
  recipient: string;
  device: number;
  sender: string;
  count: number;
  bytes: number;
}

const deviceKey = (recipient: string, device: number) => `${recipient}\n${device}`;

export const SERVER_USAGE_SHARDS = 16;

/** The server_usage shard a recipient device's changes go to (FNV-1a of its key: stable across nodes). */
export function serverShard(recipient: string, device: number): number {
  let h = 0x811c9dc5;
  for (const c of deviceKey(recipient, device)) {
    h ^= c.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % SERVER_USAGE_SHARDS;
}
const pairKey = (recipient: string, device: number, sender: string) => `${recipient}\n${device}\n${sender}`;
const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Sorted distinct values of `key` over `items`, each with the first item that had it. */
function sortedBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const t of items) if (!seen.has(key(t))) seen.set(key(t), t);
  return [...seen.keys()].sort(byText).map((k) => seen.get(k)!);
}

/**
 * Locks the usage rows a send to these (recipient device, sender) pairs will change, creating missing
 * ones at zero, and returns what they hold: the quota check reads them under the lock, so two nodes can
 * never both pass a check only one of them fits. The device row's lock also orders a device's queue:
 * a copy gets its seq after the lock and keeps it until commit, so seqs of one device commit in order
 * and a delivery cursor never steps over a copy committed late.
 *
 * One statement per table, whatever the number of rows: each inserts its rows in the order of their
 * ordinality (the ORDER BY feeds the insert row by row), which is the global lock order. The server's
 * total is read by the last one, after the device and user locks were taken: a pair row changes only
 * under its device row's lock, held here already, so that statement hardly ever waits (only on a sweep
 * dropping a row at zero) and its snapshot is as fresh as a read of its own would be. The total is the
 * unlocked, approximate cap anyway (the top of this file).
 */
export async function lockUsage(client: pg.PoolClient, addresses: readonly Omit<UsageDelta, 'count' | 'bytes'>[]): Promise<UsageReader> {
  const devices = new Map<string, Usage>();
  const users = new Map<string, Usage>();
  const pairs = new Map<string, Usage>();
  let serverBytes = 0;
  // Nothing to lock is nothing to check: no copy will ask the reader.
  if (addresses.length > 0) {
    const d = sortedBy(addresses, (x) => deviceKey(x.recipient, x.device));
    const deviceRows = await client.query<Usage & { recipient: string; recipient_device: number }>(
      `INSERT INTO device_usage AS u (recipient, recipient_device, count, bytes)
       SELECT r, d, 0, 0 FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(r, d, n) ORDER BY n
       ON CONFLICT (recipient, recipient_device) DO UPDATE SET count = u.count RETURNING recipient, recipient_device, count, bytes`,
      [d.map((a) => a.recipient), d.map((a) => a.device)],
    );
    for (const r of deviceRows.rows) devices.set(deviceKey(r.recipient, r.recipient_device), usageOf(r));
    const u = sortedBy(addresses, (x) => x.recipient);
    const userRows = await client.query<Usage & { recipient: string }>(
      `INSERT INTO user_usage AS u (recipient, count, bytes)
       SELECT r, 0, 0 FROM unnest($1::text[]) WITH ORDINALITY AS t(r, n) ORDER BY n
       ON CONFLICT (recipient) DO UPDATE SET count = u.count RETURNING recipient, count, bytes`,
      [u.map((a) => a.recipient)],
    );
    for (const r of userRows.rows) users.set(r.recipient, usageOf(r));
    const p = sortedBy(addresses, (x) => pairKey(x.recipient, x.device, x.sender));
    const pairRows = await client.query<Usage & { recipient: string; recipient_device: number; sender: string; server_bytes: number }>(
      `WITH locked AS (
         INSERT INTO pair_usage AS u (recipient, recipient_device, sender, count, bytes)
         SELECT r, d, s, 0, 0 FROM unnest($1::text[], $2::int[], $3::text[]) WITH ORDINALITY AS t(r, d, s, n) ORDER BY n
         ON CONFLICT (recipient, recipient_device, sender) DO UPDATE SET count = u.count RETURNING recipient, recipient_device, sender, count, bytes)
       SELECT locked.*, (${SERVER_BYTES}) AS server_bytes FROM locked`,
      [p.map((a) => a.recipient), p.map((a) => a.device), p.map((a) => a.sender)],
    );
    for (const r of pairRows.rows) pairs.set(pairKey(r.recipient, r.recipient_device, r.sender), usageOf(r));
    serverBytes = pairRows.rows[0]!.server_bytes;
  }
  return {
    device: (r, d) => devices.get(deviceKey(r, d)) ?? NO_USAGE,
    user: (r) => users.get(r) ?? NO_USAGE,
    pair: (r, d, s) => pairs.get(pairKey(r, d, s)) ?? NO_USAGE,
    serverBytes: () => serverBytes,
  };
}

const usageOf = (row: Usage): Usage => ({ count: row.count, bytes: row.bytes });

function sum(deltas: readonly UsageDelta[], key: (d: UsageDelta) => string): Array<{ first: UsageDelta; count: number; bytes: number }> {
  const groups = new Map<string, { first: UsageDelta; count: number; bytes: number }>();
  for (const d of deltas) {
    const g = groups.get(key(d)) ?? { first: d, count: 0, bytes: 0 };
    g.count += d.count;
    g.bytes += d.bytes;
    groups.set(key(d), g);
  }
  return [...groups.keys()].sort(byText).map((k) => groups.get(k)!);
}

/** One statement of a usage change: its SQL, with parameters numbered from `first`, and their values. */
export interface UsageStatement {
  sql: (first: number) => string;
  params: unknown[];
}

/**
 * The statements that add the deltas (negative for envelopes that left), summed per row: one per table,
 * in the lock order, each changing its rows in the order of their ordinality (as lockUsage's).
 */
export function usageChanges(deltas: readonly UsageDelta[]): UsageStatement[] {
  if (deltas.length === 0) return [];
  const counts = (gs: ReadonlyArray<{ count: number }>) => gs.map((g) => g.count);
  const bytes = (gs: ReadonlyArray<{ bytes: number }>) => gs.map((g) => g.bytes);
  const $ = (first: number) => (k: number) => `$${first + k}`;
  const d = sum(deltas, (x) => deviceKey(x.recipient, x.device));
  const u = sum(deltas, (x) => x.recipient);
  const p = sum(deltas, (x) => pairKey(x.recipient, x.device, x.sender));
  const s = sum(deltas, (x) => String(serverShard(x.recipient, x.device)).padStart(2, '0'));
  return [
    {
      sql: (first) => {
        const n = $(first);
        return `INSERT INTO device_usage AS u (recipient, recipient_device, count, bytes)
          SELECT r, d, c, b FROM unnest(${n(0)}::text[], ${n(1)}::int[], ${n(2)}::bigint[], ${n(3)}::bigint[]) WITH ORDINALITY AS t(r, d, c, b, n) ORDER BY n
          ON CONFLICT (recipient, recipient_device) DO UPDATE SET count = u.count + excluded.count, bytes = u.bytes + excluded.bytes`;
      },
      params: [d.map((g) => g.first.recipient), d.map((g) => g.first.device), counts(d), bytes(d)],
    },
    {
      sql: (first) => {
        const n = $(first);
        return `INSERT INTO user_usage AS u (recipient, count, bytes)
          SELECT r, c, b FROM unnest(${n(0)}::text[], ${n(1)}::bigint[], ${n(2)}::bigint[]) WITH ORDINALITY AS t(r, c, b, n) ORDER BY n
          ON CONFLICT (recipient) DO UPDATE SET count = u.count + excluded.count, bytes = u.bytes + excluded.bytes`;
      },
      params: [u.map((g) => g.first.recipient), counts(u), bytes(u)],
    },
    {
      sql: (first) => {
        const n = $(first);
        return `INSERT INTO pair_usage AS u (recipient, recipient_device, sender, count, bytes)
          SELECT r, d, s, c, b FROM unnest(${n(0)}::text[], ${n(1)}::int[], ${n(2)}::text[], ${n(3)}::bigint[], ${n(4)}::bigint[]) WITH ORDINALITY AS t(r, d, s, c, b, n) ORDER BY n
          ON CONFLICT (recipient, recipient_device, sender) DO UPDATE SET count = u.count + excluded.count, bytes = u.bytes + excluded.bytes`;
      },
      params: [p.map((g) => g.first.recipient), p.map((g) => g.first.device), p.map((g) => g.first.sender), counts(p), bytes(p)],
    },
    {
      // Every shard row exists (migration 1): the insert never inserts, it is the statement that changes
      // rows in a given order (an UPDATE … FROM follows its join's order, which differs between plans).
      sql: (first) => {
        const n = $(first);
        return `INSERT INTO server_usage AS u (shard, count, bytes)
          SELECT s, c, b FROM unnest(${n(0)}::int[], ${n(1)}::bigint[], ${n(2)}::bigint[]) WITH ORDINALITY AS t(s, c, b, n) ORDER BY n
          ON CONFLICT (shard) DO UPDATE SET count = u.count + excluded.count, bytes = u.bytes + excluded.bytes`;
      },
      params: [s.map((g) => serverShard(g.first.recipient, g.first.device)), counts(s), bytes(s)],
    },
  ];
}

/** Adds the deltas, one statement per table in the lock order (usageChanges). */
export async function applyUsage(client: pg.PoolClient, deltas: readonly UsageDelta[]): Promise<void> {
  for (const statement of usageChanges(deltas)) await client.query(statement.sql(1), statement.params);
}

/** Bytes queued on the whole server: the shards' sum, read without a lock (see the top of this file). */
const SERVER_BYTES = 'SELECT coalesce(sum(bytes), 0)::bigint FROM server_usage';

export async function readServerBytes(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await db.query<{ bytes: number }>(`SELECT (${SERVER_BYTES}) AS bytes`);
  return rows[0]!.bytes;
}

/** Reads outside any lock, for the usage queries: a snapshot, as SQLite's reads are. */
export async function readUsage(pool: pg.Pool, sql: string, params: unknown[]): Promise<Usage> {
  const { rows } = await pool.query<Usage>(sql, params);
  return rows[0] ?? NO_USAGE;
}
