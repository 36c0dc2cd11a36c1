/**
 * The device list tables of the SQLite store (migration 6): the newest signed list of each user, kept
 * byte for byte as published, and one row per listed device with the keys login and bundle checks need.
 * Statements only: the caller runs each write inside its transaction, with the rest of a publish.
 */
import type Database from 'better-sqlite3';
import type { DeviceListInput, StoredDeviceList } from './server-store.js';
import { listFromRows, type DeviceRow, type ListRow } from './sql-rows.js';

export class SqliteDeviceTables {
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      selectList: db.prepare<[string], ListRow>('SELECT username, version, max_device_id, list, signature, updated_at FROM device_lists WHERE username = ?'),
      upsertList: db.prepare(
        `INSERT INTO device_lists (username, version, max_device_id, list, signature, updated_at)
         VALUES (@username, @version, @max_device_id, @list, @signature, @updated_at)
         ON CONFLICT (username) DO UPDATE SET version = excluded.version, max_device_id = excluded.max_device_id,
           list = excluded.list, signature = excluded.signature, updated_at = excluded.updated_at`,
      ),
      selectDevices: db.prepare<[string], DeviceRow>(
        'SELECT device_id, signing_key, dh_key, encryption_key_n, name, added_at, last_seen_at FROM devices WHERE username = ? ORDER BY device_id',
      ),
      // A device kept from the previous list keeps its last_seen_at; its other columns are the list's.
      upsertDevice: db.prepare(
        `INSERT INTO devices (username, device_id, signing_key, dh_key, encryption_key_n, name, added_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (username, device_id) DO UPDATE SET signing_key = excluded.signing_key, dh_key = excluded.dh_key,
           encryption_key_n = excluded.encryption_key_n, name = excluded.name, added_at = excluded.added_at`,
      ),
      deleteDevice: db.prepare('DELETE FROM devices WHERE username = ? AND device_id = ?'),
      selectDeviceExists: db.prepare<[string, number], { one: number }>('SELECT 1 AS one FROM devices WHERE username = ? AND device_id = ?'),
      touchDevice: db.prepare(
        'UPDATE devices SET last_seen_at = max(coalesce(last_seen_at, 0), ?) WHERE username = ? AND device_id = ?',
      ),
    };
  }

  get(username: string): StoredDeviceList | undefined {
    const row = this.sql.selectList.get(username);
    if (!row) return undefined;
    return listFromRows(row, this.sql.selectDevices.all(username));
  }

  /** The stored version, or null for a user without a list. */
  version(username: string): number | null {
    return this.sql.selectList.get(username)?.version ?? null;
  }

  /** Call inside a write transaction: the list replaces the stored one, and its devices the stored rows. */
  write(list: DeviceListInput, removed: readonly number[], now: number): void {
    this.sql.upsertList.run({
      username: list.username,
      version: list.version,
      max_device_id: list.maxDeviceId,
      list: list.list,
      signature: list.signature,
      updated_at: now,
    });
    for (const device of removed) this.sql.deleteDevice.run(list.username, device);
    for (const d of list.devices) this.sql.upsertDevice.run(list.username, d.device, d.signingKey, d.dhKey, d.encryptionKeyN, d.name, d.addedAt);
  }

  /** Whether the device has a row: it is in its user's stored list. */
  has(username: string, device: number): boolean {
    return this.sql.selectDeviceExists.get(username, device) !== undefined;
  }

  /** Call inside a write transaction. */
  touch(username: string, device: number, now: number): void {
    this.sql.touchDevice.run(now, username, device);
  }
}
