/**
 * The KeyPackage tables of the SQLite store (migration 7). Statements only: the caller runs each method
 * inside its write transaction, so a claim's packages are removed and returned in one commit and two
 * concurrent claims never get the same one-time package.
 */
import type Database from 'better-sqlite3';
import type { ClaimedKeyPackageRecord, PutKeyPackagesResult } from './group-records.js';

export class SqliteKeyPackageTables {
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      count: db.prepare<[string, number], { n: number }>('SELECT count(*) AS n FROM key_packages WHERE username = ? AND device_id = ?'),
      insert: db.prepare('INSERT INTO key_packages (username, device_id, package) VALUES (?, ?, ?)'),
      upsertLastResort: db.prepare(
        `INSERT INTO last_resort_key_packages (username, device_id, package) VALUES (?, ?, ?)
         ON CONFLICT (username, device_id) DO UPDATE SET package = excluded.package`,
      ),
      selectLastResort: db.prepare<[string, number], { package: string }>('SELECT package FROM last_resort_key_packages WHERE username = ? AND device_id = ?'),
      takeOldest: db.prepare<[string, number, string, number], { package: string }>(
        `DELETE FROM key_packages WHERE id = (SELECT id FROM key_packages WHERE username = ? AND device_id = ? ORDER BY id LIMIT 1)
           AND username = ? AND device_id = ? RETURNING package`,
      ),
      deleteOneTime: db.prepare('DELETE FROM key_packages WHERE username = ? AND device_id = ?'),
      deleteLastResort: db.prepare('DELETE FROM last_resort_key_packages WHERE username = ? AND device_id = ?'),
    };
  }

  private oneTime(username: string, device: number): number {
    return this.sql.count.get(username, device)!.n;
  }

  /** Call inside a write transaction. */
  put(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number): PutKeyPackagesResult {
    const held = this.oneTime(username, device);
    if (held + packages.length > maxStored) return { status: 'limit', oneTime: held };
    for (const p of packages) this.sql.insert.run(username, device, p);
    if (lastResort !== undefined) this.sql.upsertLastResort.run(username, device, lastResort);
    return { status: 'stored', stored: packages.length, oneTime: held + packages.length };
  }

  counts(username: string, device: number): { oneTime: number; lastResort: boolean } {
    return { oneTime: this.oneTime(username, device), lastResort: this.sql.selectLastResort.get(username, device) !== undefined };
  }

  /** Call inside a write transaction. */
  claim(username: string, devices: readonly number[]): ClaimedKeyPackageRecord[] {
    const out: ClaimedKeyPackageRecord[] = [];
    for (const device of devices) {
      const taken = this.sql.takeOldest.get(username, device, username, device);
      if (taken) {
        out.push({ device, keyPackage: taken.package, lastResort: false, remaining: this.oneTime(username, device) });
        continue;
      }
      const lastResort = this.sql.selectLastResort.get(username, device);
      if (lastResort) out.push({ device, keyPackage: lastResort.package, lastResort: true, remaining: 0 });
    }
    return out;
  }

  /** Call inside a write transaction: a device left its user's list. */
  remove(username: string, device: number): void {
    this.sql.deleteOneTime.run(username, device);
    this.sql.deleteLastResort.run(username, device);
  }
}
