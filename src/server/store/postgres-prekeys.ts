/**
 * The prekey tables of the PostgreSQL store, one set per device. Write methods take the client of the
 * caller's transaction, so a bundle's one-time keys are removed and returned in one commit.
 */
import type pg from 'pg';
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { checkOneTimePreKeyLimit } from './prekey-limit.js';
import type { PreKeyUpload, TakenPreKeyBundle, TakenPreKeyBundles } from './server-store.js';
import { lastResortOf, preKeyCountsOf, publishedFromRow, signedPreKeyOf, type IdentityRow, type OneTimeRow, type PreKeyKind as Kind, type Published } from './sql-rows.js';

type Db = pg.Pool | pg.PoolClient;

async function identityRow(db: Db, username: string, device: number): Promise<IdentityRow | undefined> {
  const { rows } = await db.query<IdentityRow>(
    'SELECT identity_key, binding, signed_prekey, last_resort_kem_prekey FROM prekey_identities WHERE username = $1 AND device_id = $2',
    [username, device],
  );
  return rows[0];
}

async function ids(db: Db, username: string, device: number, kind: Kind): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>('SELECT id FROM one_time_prekeys WHERE username = $1 AND device_id = $2 AND kind = $3 ORDER BY id', [username, device, kind]);
  return rows.map((r) => r.id);
}

/**
 * Serialises uploads for one device across nodes until commit: the cap is checked against the ids
 * stored, and two uploads checked side by side could each fit and together exceed it. A first upload
 * has no row yet to lock, hence an advisory lock on the address.
 */
async function lockDevicePreKeys(client: pg.PoolClient, username: string, device: number): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('e2ee-chat prekeys'), hashtext($1 || '/' || $2::text))`, [username, device]);
}

/** Call inside a transaction. Checked before anything is written: a refused upload changes nothing. */
export async function putPreKeys(client: pg.PoolClient, username: string, device: number, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult> {
  await lockDevicePreKeys(client, username, device);
  const row = await identityRow(client, username, device);
  const sameIdentity = row?.identity_key === upload.identity.dhKey;
  const kept = async (kind: Kind) => new Set(sameIdentity ? await ids(client, username, device, kind) : []);
  checkOneTimePreKeyLimit('X25519', await kept('x25519'), upload.oneTimePreKeys);
  checkOneTimePreKeyLimit('ML-KEM', await kept('mlkem1024'), upload.kemPreKeys);
  if (row && !sameIdentity) await client.query('DELETE FROM one_time_prekeys WHERE username = $1 AND device_id = $2', [username, device]);
  const signed = upload.signedPreKey ?? (sameIdentity ? signedPreKeyOf(row) : undefined);
  const lastResort = upload.lastResortKemPreKey ?? (sameIdentity ? lastResortOf(row) : undefined);
  await client.query(
    `INSERT INTO prekey_identities (username, device_id, identity_key, binding, signed_prekey, last_resort_kem_prekey, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (username, device_id) DO UPDATE SET identity_key = excluded.identity_key, binding = excluded.binding,
       signed_prekey = excluded.signed_prekey, last_resort_kem_prekey = excluded.last_resort_kem_prekey, updated_at = excluded.updated_at`,
    [username, device, upload.identity.dhKey, upload.identity.binding, signed ? JSON.stringify(signed) : null, lastResort ? JSON.stringify(lastResort) : null, now],
  );
  // One statement per kind: up to 200 keys go in as arrays, not 200 round trips.
  const upsert = async (kind: Kind, keys: ReadonlyArray<{ id: number; publicKey: string; signature?: string }>) => {
    if (keys.length === 0) return;
    await client.query(
      `INSERT INTO one_time_prekeys (username, device_id, kind, id, public_key, signature)
       SELECT $1, $2, $3, k.id, k.public_key, k.signature FROM unnest($4::int[], $5::text[], $6::text[]) AS k (id, public_key, signature)
       ON CONFLICT (username, device_id, kind, id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`,
      [username, device, kind, keys.map((k) => k.id), keys.map((k) => k.publicKey), keys.map((k) => k.signature ?? null)],
    );
  };
  await upsert('x25519', upload.oneTimePreKeys);
  await upsert('mlkem1024', upload.kemPreKeys);
  return preKeyCounts(client, username, device);
}

export async function preKeyCounts(db: Db, username: string, device: number): Promise<PreKeyCountResult> {
  return preKeyCountsOf(await identityRow(db, username, device), await ids(db, username, device, 'x25519'), await ids(db, username, device, 'mlkem1024'));
}

/** The long-lived keys a bundle needs, or undefined while the device lacks its signed or last-resort key. */
async function published(db: Db, username: string, device: number): Promise<Published | undefined> {
  return publishedFromRow(await identityRow(db, username, device));
}

/**
 * Removes and returns the lowest-id one-time key of a kind that no other transaction is taking.
 *
 * Why SKIP LOCKED: under READ COMMITTED a plain `DELETE … WHERE id = (SELECT … LIMIT 1)` run by two
 * nodes at once picks the same row in both subqueries; the second waits for the first, finds the row
 * gone when it commits, and deletes nothing, handing out no one-time key although others are left.
 * `FOR UPDATE SKIP LOCKED` makes the subquery pass over a row another transaction has locked and take
 * the next, so concurrent fetches get different keys without waiting. The row lock taken by the
 * subquery is held to commit, and the DELETE … RETURNING happens in the same transaction that answers
 * the fetch: a key is handed out at most once, and a rolled-back fetch leaves its key in place. (Under
 * contention a fetch may get key 2 while key 1 is being taken by another: order is "lowest free".)
 */
async function takeOneTime(client: pg.PoolClient, username: string, device: number, kind: Kind): Promise<OneTimeRow | undefined> {
  const { rows } = await client.query<OneTimeRow>(
    `DELETE FROM one_time_prekeys WHERE (username, device_id, kind, id) IN (
       SELECT username, device_id, kind, id FROM one_time_prekeys WHERE username = $1 AND device_id = $2 AND kind = $3
       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, public_key, signature`,
    [username, device, kind],
  );
  return rows[0];
}

async function countOneTime(db: Db, username: string, device: number, kind: Kind): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE username = $1 AND device_id = $2 AND kind = $3', [username, device, kind]);
  return rows[0]!.n;
}

async function take(client: pg.PoolClient, username: string, device: number, p: Published): Promise<TakenPreKeyBundle> {
  const oneTime = await takeOneTime(client, username, device, 'x25519');
  const kem = await takeOneTime(client, username, device, 'mlkem1024');
  return {
    device,
    identity: p.identity,
    signedPreKey: p.signedPreKey,
    kemPreKey: kem ? { id: kem.id, publicKey: kem.public_key, signature: kem.signature! } : p.lastResort,
    ...(oneTime ? { oneTimePreKey: { id: oneTime.id, publicKey: oneTime.public_key } } : {}),
    remaining: { oneTime: await countOneTime(client, username, device, 'x25519'), kemOneTime: await countOneTime(client, username, device, 'mlkem1024') },
  };
}

/** Call inside a transaction. Nothing is taken unless every device asked has a bundle. */
export async function takePreKeyBundles(client: pg.PoolClient, username: string, devices: readonly number[]): Promise<TakenPreKeyBundles> {
  const found: Array<Published | undefined> = [];
  for (const device of devices) found.push(await published(client, username, device));
  const missing = devices.filter((_, k) => !found[k]);
  if (missing.length > 0) return { status: 'missing', devices: missing };
  const bundles: TakenPreKeyBundle[] = [];
  for (let k = 0; k < devices.length; k++) bundles.push(await take(client, username, devices[k]!, found[k]!));
  return { status: 'taken', bundles };
}

/** Call inside a transaction: everything a removed device published. */
export async function removePreKeys(client: pg.PoolClient, username: string, device: number): Promise<void> {
  await lockDevicePreKeys(client, username, device);
  await client.query('DELETE FROM prekey_identities WHERE username = $1 AND device_id = $2', [username, device]);
  await client.query('DELETE FROM one_time_prekeys WHERE username = $1 AND device_id = $2', [username, device]);
}
