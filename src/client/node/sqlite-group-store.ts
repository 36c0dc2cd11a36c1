/**
 * Node-only: the GroupStore (groups/group-store.ts) in the user's `ratchet.sqlite`, beside the ratchet
 * sessions and sealed exactly as they are (sealed-rows.ts: AES-256-GCM under a key derived from the
 * user's private signing key, the row's name as associated data). A group's row is found by an HMAC of its
 * id, so the file shows neither group ids nor how many members a group has; a small sealed `summary`
 * (id, name, inactive) beside the state lets `groups()` list them without opening every state.
 * KeyPackage private halves are one row each, found by an HMAC of their KeyPackageRef; whether a row is
 * the last-resort one is kept in the clear (the server knows which package is last-resort anyway).
 *
 * Saves are compare-and-swap: UPDATE … WHERE version = ?, one statement, atomic across every process
 * that has the file open.
 */
import type Database from 'better-sqlite3';
import { base64urlDecode, base64urlEncode } from '../../crypto/bytes.js';
import { groupRowFromJson, groupRowToJson, groupSummaryFromJson, groupSummaryToJson, keyPackageRowFromJson, keyPackageRowToJson } from '../groups/group-rows.js';
import type { GroupRow, GroupStore, GroupSummary, KeyPackageRow, VersionedGroupRow } from '../groups/group-store.js';
import type { RowSealer } from './sealed-rows.js';

/** The ratchet store's schema step that adds these tables (sqlite-ratchet-store.ts, migration 4). */
export const GROUP_TABLES_MIGRATION = `
  CREATE TABLE mls_groups (key TEXT PRIMARY KEY, summary BLOB NOT NULL, data BLOB NOT NULL, version INTEGER NOT NULL) STRICT, WITHOUT ROWID;
  CREATE TABLE mls_key_packages (key TEXT PRIMARY KEY, last_resort INTEGER NOT NULL, created_at INTEGER NOT NULL, ref BLOB NOT NULL, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`;

const groupName = (groupId: Uint8Array) => `mls-group:${base64urlEncode(groupId)}`;
const keyPackageName = (ref: Uint8Array) => `mls-key-package:${base64urlEncode(ref)}`;

export class SqliteGroupStore implements GroupStore {
  readonly #statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly rows: RowSealer,
  ) {}

  private sql(text: string): Database.Statement {
    let s = this.#statements.get(text);
    if (!s) this.#statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  async loadGroup(groupId: Uint8Array): Promise<VersionedGroupRow | undefined> {
    const key = this.rows.keyOf(groupName(groupId));
    const row = this.sql('SELECT data, version FROM mls_groups WHERE key = ?').get(key) as { data: Buffer; version: number } | undefined;
    return row && { row: groupRowFromJson(this.rows.open(key, row.data)), version: row.version };
  }

  async saveGroup(row: GroupRow, name: string | undefined, expected: number): Promise<boolean> {
    const key = this.rows.keyOf(groupName(row.groupId));
    const data = this.rows.seal(key, groupRowToJson(row));
    // The summary is sealed under its own name: it cannot be swapped with the state's ciphertext.
    const summary = this.rows.seal(`${key}:summary`, groupSummaryToJson({ groupId: row.groupId, name, inactive: row.inactive === true }));
    const result =
      expected === 0
        ? this.sql('INSERT INTO mls_groups (key, summary, data, version) VALUES (?, ?, ?, 1) ON CONFLICT (key) DO NOTHING').run(key, summary, data)
        : this.sql('UPDATE mls_groups SET summary = ?, data = ?, version = version + 1 WHERE key = ? AND version = ?').run(summary, data, key, expected);
    return result.changes === 1;
  }

  async listGroups(): Promise<GroupSummary[]> {
    const rows = this.sql('SELECT key, summary FROM mls_groups').all() as { key: string; summary: Buffer }[];
    return rows.map((r) => groupSummaryFromJson(this.rows.open(`${r.key}:summary`, r.summary)));
  }

  async putKeyPackage(ref: Uint8Array, row: KeyPackageRow): Promise<void> {
    const key = this.rows.keyOf(keyPackageName(ref));
    this.sql('INSERT INTO mls_key_packages (key, last_resort, created_at, ref, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING').run(
      key,
      row.lastResort ? 1 : 0,
      row.createdAt,
      // The ref is public (the server indexes by it), sealed anyway: the file need not tell which are ours.
      this.rows.seal(`${key}:ref`, base64urlEncode(ref)),
      this.rows.seal(key, keyPackageRowToJson(row)),
    );
  }

  async loadKeyPackage(ref: Uint8Array): Promise<KeyPackageRow | undefined> {
    const key = this.rows.keyOf(keyPackageName(ref));
    const row = this.sql('SELECT data FROM mls_key_packages WHERE key = ?').get(key) as { data: Buffer } | undefined;
    return row && keyPackageRowFromJson(this.rows.open(key, row.data));
  }

  async deleteKeyPackage(ref: Uint8Array): Promise<boolean> {
    return this.sql('DELETE FROM mls_key_packages WHERE key = ?').run(this.rows.keyOf(keyPackageName(ref))).changes === 1;
  }

  async lastResortKeyPackages() {
    const rows = this.sql('SELECT key, ref, created_at FROM mls_key_packages WHERE last_resort = 1').all() as { key: string; ref: Buffer; created_at: number }[];
    return rows.map((r) => ({ ref: base64urlDecode(this.rows.open<string>(`${r.key}:ref`, r.ref)), createdAt: r.created_at }));
  }
}
