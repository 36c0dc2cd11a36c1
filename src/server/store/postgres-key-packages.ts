/**
 * The KeyPackage tables of the PostgreSQL store (migration 2). A claim takes the oldest one-time package
 * FOR UPDATE SKIP LOCKED: two nodes claiming for one device at once take two different packages (the
 * second skips the row the first holds) instead of the second finding its row gone and falling back to
 * the last-resort package while one-time ones are left.
 */
import type pg from 'pg';
import type { ClaimedKeyPackageRecord, PutKeyPackagesResult } from './group-records.js';
import { Rollback } from './postgres-pool.js';

type Db = pg.Pool | pg.PoolClient;

async function oneTime(db: Db, username: string, device: number): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM key_packages WHERE username = $1 AND device_id = $2', [username, device]);
  return Number(rows[0]!.n);
}

/**
 * Call inside a transaction. The device's row lock (on its last-resort row, or a fresh advisory lock
 * when it has none) serialises uploads of one device, so two cannot both pass the cap.
 */
export async function putKeyPackages(
  client: pg.PoolClient,
  username: string,
  device: number,
  packages: readonly string[],
  lastResort: string | undefined,
  maxStored: number,
): Promise<PutKeyPackagesResult | Rollback<PutKeyPackagesResult>> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('e2ee-chat key packages'), hashtext($1::text || '/' || $2::text))`, [username, device]);
  const held = await oneTime(client, username, device);
  if (held + packages.length > maxStored) return new Rollback({ status: 'limit', oneTime: held });
  for (const p of packages) await client.query('INSERT INTO key_packages (username, device_id, package) VALUES ($1, $2, $3)', [username, device, p]);
  if (lastResort !== undefined) {
    await client.query(
      `INSERT INTO last_resort_key_packages (username, device_id, package) VALUES ($1, $2, $3)
       ON CONFLICT (username, device_id) DO UPDATE SET package = excluded.package`,
      [username, device, lastResort],
    );
  }
  return { status: 'stored', stored: packages.length, oneTime: held + packages.length };
}

export async function keyPackageCounts(db: Db, username: string, device: number): Promise<{ oneTime: number; lastResort: boolean }> {
  const { rows } = await db.query('SELECT 1 FROM last_resort_key_packages WHERE username = $1 AND device_id = $2', [username, device]);
  return { oneTime: await oneTime(db, username, device), lastResort: rows.length > 0 };
}

/** Call inside a transaction. */
export async function claimKeyPackages(client: pg.PoolClient, username: string, devices: readonly number[]): Promise<ClaimedKeyPackageRecord[]> {
  const out: ClaimedKeyPackageRecord[] = [];
  for (const device of devices) {
    const { rows } = await client.query<{ package: string }>(
      `DELETE FROM key_packages WHERE id = (
         SELECT id FROM key_packages WHERE username = $1 AND device_id = $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
       ) RETURNING package`,
      [username, device],
    );
    if (rows[0]) {
      out.push({ device, keyPackage: rows[0].package, lastResort: false, remaining: await oneTime(client, username, device) });
      continue;
    }
    const last = await client.query<{ package: string }>('SELECT package FROM last_resort_key_packages WHERE username = $1 AND device_id = $2', [username, device]);
    if (last.rows[0]) out.push({ device, keyPackage: last.rows[0].package, lastResort: true, remaining: 0 });
  }
  return out;
}

/** Call inside a transaction: a device left its user's list. */
export async function removeKeyPackages(client: pg.PoolClient, username: string, device: number): Promise<void> {
  await client.query('DELETE FROM key_packages WHERE username = $1 AND device_id = $2', [username, device]);
  await client.query('DELETE FROM last_resort_key_packages WHERE username = $1 AND device_id = $2', [username, device]);
}
