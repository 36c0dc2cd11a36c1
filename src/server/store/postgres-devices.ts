/**
 * The device list tables of the PostgreSQL store: the newest signed list of each user, kept byte for
 * byte as published, and one row per listed device. Writes take the client of the caller's transaction.
 */
import type pg from 'pg';
import type { DeviceListInput, SendContext, StoredDeviceList } from './server-store.js';
import { listFromRows, type DeviceRow, type ListRow } from './sql-rows.js';

type Db = pg.Pool | pg.PoolClient;

/** The list and its devices; inside a publish, read under the user's advisory lock (lockUserLists). */
export async function getDeviceList(db: Db, username: string): Promise<StoredDeviceList | undefined> {
  const { rows } = await db.query<ListRow>('SELECT username, version, max_device_id, list, signature, updated_at FROM device_lists WHERE username = $1', [username]);
  const row = rows[0];
  if (!row) return undefined;
  const devices = await db.query<DeviceRow>(
    'SELECT device_id, signing_key, dh_key, encryption_key_n, name, added_at, last_seen_at FROM devices WHERE username = $1 ORDER BY device_id',
    [username],
  );
  return listFromRows(row, devices.rows);
}


/** A list row with its devices as one JSON value (their numbers all far below 2^53: JSON keeps them exact). */
type ListJson = ListRow & { devices: DeviceRow[] };

/**
 * A send's context in one statement (one round trip, one snapshot): whether the recipient exists, and
 * the two users' lists with their devices, each list as getDeviceList reads it.
 */
export async function sendContext(db: Db, sender: string, recipient: string): Promise<SendContext> {
  const { rows } = await db.query<{ recipient_exists: boolean; lists: ListJson[] }>(
    `SELECT EXISTS (SELECT 1 FROM users WHERE username = $2) AS recipient_exists,
       coalesce((
         SELECT json_agg(json_build_object(
           'username', l.username, 'version', l.version, 'max_device_id', l.max_device_id, 'list', l.list,
           'signature', l.signature, 'updated_at', l.updated_at,
           'devices', (SELECT coalesce(json_agg(json_build_object(
               'device_id', d.device_id, 'signing_key', d.signing_key, 'dh_key', d.dh_key, 'encryption_key_n', d.encryption_key_n,
               'name', d.name, 'added_at', d.added_at, 'last_seen_at', d.last_seen_at) ORDER BY d.device_id), '[]'::json)
             FROM devices d WHERE d.username = l.username)))
         FROM device_lists l WHERE l.username IN ($1, $2)), '[]'::json) AS lists`,
    [sender, recipient],
  );
  const row = rows[0]!;
  const listOf = (username: string) => {
    const found = row.lists.find((l) => l.username === username);
    return found && listFromRows(found, found.devices);
  };
  return { recipientExists: row.recipient_exists, recipientList: listOf(recipient), senderList: listOf(sender) };
}

/**
 * Serialises everything that writes one user's list, across nodes, until commit. A user without a list
 * has no row to lock, and two first publishes must not both pass the compare-and-swap on "no list".
 */
export async function lockUserLists(client: pg.PoolClient, username: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('e2ee-chat device lists'), hashtext($1))`, [username]);
}

/**
 * The stored versions of the checked users, read with FOR SHARE: a publish replacing one of these lists
 * waits for this transaction, and one that committed first is seen here. Called before any usage row
 * is locked (the lock order: lists, then usage), users in sorted order.
 */
export async function sharedVersions(client: pg.PoolClient, usernames: readonly string[]): Promise<Map<string, number>> {
  const sorted = [...new Set(usernames)].sort();
  const { rows } = await client.query<{ username: string; version: number }>(
    'SELECT username, version FROM device_lists WHERE username = ANY($1::text[]) ORDER BY username FOR SHARE',
    [sorted],
  );
  return new Map(rows.map((r) => [r.username, r.version]));
}

/** Call inside a transaction: the list replaces the stored one, and its devices the stored rows. */
export async function writeDeviceList(client: pg.PoolClient, list: DeviceListInput, removed: readonly number[], now: number): Promise<void> {
  await client.query(
    `INSERT INTO device_lists (username, version, max_device_id, list, signature, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (username) DO UPDATE SET version = excluded.version, max_device_id = excluded.max_device_id,
       list = excluded.list, signature = excluded.signature, updated_at = excluded.updated_at`,
    [list.username, list.version, list.maxDeviceId, list.list, list.signature, now],
  );
  if (removed.length > 0) await client.query('DELETE FROM devices WHERE username = $1 AND device_id = ANY($2::int[])', [list.username, removed]);
  // A device kept from the previous list keeps its last_seen_at; its other columns are the list's.
  for (const d of list.devices) {
    await client.query(
      `INSERT INTO devices (username, device_id, signing_key, dh_key, encryption_key_n, name, added_at, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
       ON CONFLICT (username, device_id) DO UPDATE SET signing_key = excluded.signing_key, dh_key = excluded.dh_key,
         encryption_key_n = excluded.encryption_key_n, name = excluded.name, added_at = excluded.added_at`,
      [list.username, d.device, d.signingKey, d.dhKey, d.encryptionKeyN, d.name, d.addedAt],
    );
  }
}

/** One statement (its own transaction); a device without a row is left alone, and the time never goes back. */
export async function touchDevice(db: Db, username: string, device: number, now: number): Promise<void> {
  await db.query('UPDATE devices SET last_seen_at = GREATEST(coalesce(last_seen_at, 0), $1) WHERE username = $2 AND device_id = $3', [now, username, device]);
}
