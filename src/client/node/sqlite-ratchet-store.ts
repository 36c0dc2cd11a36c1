/**
 * Node-only: the RatchetStore in `ratchet.sqlite` in the user's folder, one row per record
 * (ratchet-store.ts). Every row's value is sealed exactly as the message store's are (AES-256-GCM under
 * a key derived from the user's private signing key, the row's name as associated data, so a row cannot
 * be moved under another name). Sessions and the identity are found by an HMAC of their name, so the file
 * shows neither secrets nor who the user talks to. Prekeys are found by (kind, id) in the clear, beside
 * their handed-out mark: the server hands those ids out and tells us which it still holds, so they say
 * nothing it does not know, and hygiene can list them without opening a secret.
 *
 * Writes use synchronous = FULL: a session saved before an ack must survive power loss. Each write is
 * one statement or one transaction, atomic in SQLite across every process that has the file open:
 * sessions UPDATE … WHERE version = ? (compare-and-swap; an initial message's used prekeys are deleted in
 * the same transaction), new prekeys INSERT under ids reserved by UPDATE … RETURNING, consumed ones
 * DELETE (its `changes` says whether this call deleted it).
 *
 * Schema history: 1 one `secrets` table (0.1: the keys as one pickle row named "keys", sessions);
 * 2 row versions (0.1.1); 3 per-record prekeys: migration 3 opens the "keys" row and rewrites it as
 * records in the same transaction, so an upgraded file has no pickle left and is never read twice;
 * 4 MLS group states and KeyPackage private halves (sqlite-group-store.ts, reached through groups()).
 *
 * Session rows: `session:<peer>/<device>` since devices (docs/design/devices-v2.md §10), `session:<peer>`
 * before. Rows are found by an HMAC of their name, so the old names cannot be listed and renamed by a
 * migration: they move lazily instead (§11.2 step 3). Loading device 1 of a peer whose row is absent looks
 * for the peer's old row and, if there is one, moves it in one transaction (insert of the new row if it
 * is still absent, delete of the old, with the old version), so a session started before the upgrade
 * goes on without a new PQXDH: its associated data holds IDS and IK, which are device 1's DSK_1 and IK_1.
 */
import type Database from 'better-sqlite3';
import { addressOf, addressText, PRIMARY_DEVICE, type Address, type AddressLike } from '../address.js';
import {
  EMPTY_SESSION,
  MAX_LAST_RESORT_USES,
  type KeySetImport,
  type KeyState,
  type OneTimeKind,
  type PeerSessionPickle,
  type PreKeyKind,
  type PreKeyPickles,
  type PreKeysUsed,
  type RatchetStore,
} from '../ratchet-store.js';
import { openLocalDatabase, RowSealer, type Migration } from './sealed-rows.js';
import { GROUP_TABLES_MIGRATION, SqliteGroupStore } from './sqlite-group-store.js';

/** Domain-separated from the message store's key ("e2ee-chat/v1/local-storage"). Exported for tests that write old files. */
export const STORAGE_KEY_INFO = 'e2ee-chat/v1/ratchet-storage';

/** Associated data of a prekey row: its kind and id, so a sealed key cannot be replayed under another id. */
const prekeyName = (kind: PreKeyKind, id: number) => `prekey:${kind}:${id}`;

/**
 * Sessions kept opened in memory per connection, most recently used first: a receiving client talks to
 * a handful of peers at a time, and a session row can reach 128 KiB (PROTOCOL.md §16.11). Reading a cached
 * one costs a version check instead of an AES-GCM open and a JSON.parse.
 */
export const CACHED_SESSIONS = 32;

const KEY_STATE = ['currentSignedId', 'lastResortId', 'nextSigned', 'nextOneTime', 'nextKem'] as const;
const NEXT: Record<PreKeyKind, (typeof KEY_STATE)[number]> = { signed: 'nextSigned', oneTime: 'nextOneTime', kem: 'nextKem' };

/** Writes a whole key set as records, inside the caller's transaction. */
function importKeys(db: Database.Database, rows: RowSealer, keys: KeySetImport): void {
  const identityKey = rows.keyOf('identity');
  db.prepare('INSERT INTO secrets (key, data, version) VALUES (?, ?, 1)').run(identityKey, rows.seal(identityKey, keys.identity));
  const state = db.prepare('INSERT INTO key_state (name, value) VALUES (?, ?)');
  const values = [keys.currentSignedId, keys.lastResortId, keys.nextIds.signed, keys.nextIds.oneTime, keys.nextIds.kem];
  KEY_STATE.forEach((name, i) => state.run(name, values[i]));
  const marks = { oneTime: new Map(keys.handedOut?.oneTime ?? []), kem: new Map(keys.handedOut?.kem ?? []) };
  const insert = db.prepare('INSERT INTO prekeys (kind, id, one_time, handed_out, data) VALUES (?, ?, ?, ?, ?)');
  for (const kind of ['signed', 'oneTime', 'kem'] as const) {
    for (const r of keys[kind]) {
      const oneTime = kind === 'oneTime' || (kind === 'kem' && (r as PreKeyPickles['kem']).kind === 'one-time');
      const mark = kind !== 'signed' && oneTime ? marks[kind].get(r.id) : undefined;
      insert.run(kind, r.id, oneTime ? 1 : 0, mark ?? null, rows.seal(prekeyName(kind, r.id), r));
    }
  }
  const use = db.prepare('INSERT OR IGNORE INTO last_resort_uses (use, kem_id, signed_id) VALUES (?, ?, ?)');
  for (const u of keys.lastResortUses ?? []) {
    const [kemId, signedId] = u.split(':').map(Number);
    use.run(rows.keyOf(`last-resort-use:${u}`), kemId, signedId);
  }
}

function migrations(rows: RowSealer): readonly Migration[] {
  return [
    `CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`,
    `ALTER TABLE secrets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
    (db) => {
      db.exec(`
        CREATE TABLE prekeys (
          kind TEXT NOT NULL CHECK (kind IN ('signed', 'oneTime', 'kem')),
          id INTEGER NOT NULL,
          one_time INTEGER NOT NULL,
          handed_out INTEGER,
          data BLOB NOT NULL,
          PRIMARY KEY (kind, id)
        ) STRICT, WITHOUT ROWID;
        CREATE TABLE key_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT, WITHOUT ROWID;
        CREATE TABLE last_resort_uses (seq INTEGER PRIMARY KEY AUTOINCREMENT, use TEXT NOT NULL UNIQUE, kem_id INTEGER NOT NULL, signed_id INTEGER NOT NULL) STRICT;`);
      // A 0.1 / 0.2 file: its keys pickle (every version of it: lastResortUses and handedOut may be absent) becomes records.
      const oldKey = rows.keyOf('keys');
      const old = db.prepare('SELECT data FROM secrets WHERE key = ?').get(oldKey) as { data: Buffer } | undefined;
      if (old) {
        const pickle = rows.open<KeySetImport & { v: unknown }>(oldKey, old.data);
        if (pickle.v !== 1) throw new TypeError(`unsupported local keys pickle version ${String(pickle.v)}`);
        importKeys(db, rows, pickle);
        db.prepare('DELETE FROM secrets WHERE key = ?').run(oldKey);
      }
    },
    GROUP_TABLES_MIGRATION,
  ];
}

export class SqliteRatchetStore implements RatchetStore {
  private constructor(
    private readonly db: Database.Database,
    private readonly rows: RowSealer,
  ) {}

  /** `secret` is the user's Ed25519 private key (32 bytes); the storage keys are derived from it. */
  static async open(path: string, secret: Uint8Array, username: string): Promise<SqliteRatchetStore> {
    const rows = new RowSealer(secret, username, STORAGE_KEY_INFO);
    return new SqliteRatchetStore(await openLocalDatabase(path, migrations(rows)), rows);
  }

  readonly #statements = new Map<string, Database.Statement>();
  /** Row key → the session as last read or written through this connection (see CACHED_SESSIONS). */
  readonly #sessions = new Map<string, { value: PeerSessionPickle; version: number }>();
  readonly #rowKeys = new Map<string, string>();

  /** The HMAC row key of an address's session, computed once per address. */
  private sessionKey(address: Address): string {
    const name = `session:${addressText(address)}`;
    let key = this.#rowKeys.get(name);
    if (key === undefined) {
      key = this.rows.keyOf(name);
      if (this.#rowKeys.size >= CACHED_SESSIONS * 4) this.#rowKeys.clear();
      this.#rowKeys.set(name, key);
    }
    return key;
  }

  /** The row key a peer's one session had before devices: `session:<peer>`, now device 1's. */
  private legacySessionKey(user: string): string {
    return this.rows.keyOf(`session:${user}`);
  }

  private remember(key: string, entry: { value: PeerSessionPickle; version: number }): void {
    this.#sessions.delete(key);
    this.#sessions.set(key, entry);
    if (this.#sessions.size > CACHED_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
  }
  /** Prepared once per connection: preparing costs more than running these small statements. */
  private sql(text: string): Database.Statement {
    let s = this.#statements.get(text);
    if (!s) this.#statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  private readSecret<T>(name: string): { value: T; version: number } | undefined {
    const key = this.rows.keyOf(name);
    const row = this.sql('SELECT data, version FROM secrets WHERE key = ?').get(key) as { data: Buffer; version: number } | undefined;
    return row ? { value: this.rows.open<T>(key, row.data), version: row.version } : undefined;
  }

  async loadIdentity() {
    return this.readSecret<KeySetImport['identity']>('identity')?.value;
  }
  async createKeys(keys: KeySetImport) {
    // IMMEDIATE: the write lock before the check, so of two processes creating at once one writes.
    this.db
      .transaction(() => {
        if (!this.sql('SELECT 1 FROM secrets WHERE key = ?').get(this.rows.keyOf('identity'))) importKeys(this.db, this.rows, keys);
      })
      .immediate();
    return (await this.loadIdentity())!;
  }
  async loadKeyState(): Promise<KeyState | undefined> {
    const rows = this.sql('SELECT name, value FROM key_state').all() as { name: string; value: number }[];
    if (rows.length === 0) return undefined;
    const v = Object.fromEntries(rows.map((r) => [r.name, r.value])) as Record<(typeof KEY_STATE)[number], number>;
    return { currentSignedId: v.currentSignedId, lastResortId: v.lastResortId, nextIds: { signed: v.nextSigned, oneTime: v.nextOneTime, kem: v.nextKem } };
  }
  async loadPreKey<K extends PreKeyKind>(kind: K, id: number) {
    const row = this.sql('SELECT data FROM prekeys WHERE kind = ? AND id = ?').get(kind, id) as { data: Buffer } | undefined;
    return row && this.rows.open<PreKeyPickles[K]>(prekeyName(kind, id), row.data);
  }
  async reservePreKeyIds(kind: PreKeyKind, count: number) {
    const row = this.sql('UPDATE key_state SET value = value + ? WHERE name = ? RETURNING value').get(count, NEXT[kind]) as { value: number } | undefined;
    if (!row) throw new Error('no local keys yet: createKeys first');
    return row.value - count;
  }
  async addPreKeys<K extends PreKeyKind>(kind: K, records: readonly PreKeyPickles[K][]) {
    const insert = this.sql('INSERT INTO prekeys (kind, id, one_time, handed_out, data) VALUES (?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING');
    this.db.transaction(() => {
      for (const r of records) {
        const oneTime = kind === 'oneTime' || (kind === 'kem' && (r as PreKeyPickles['kem']).kind === 'one-time');
        insert.run(kind, r.id, oneTime ? 1 : 0, this.rows.seal(prekeyName(kind, r.id), r));
      }
    })();
  }
  async removePreKey(kind: PreKeyKind, id: number) {
    return this.sql('DELETE FROM prekeys WHERE kind = ? AND id = ?').run(kind, id).changes === 1;
  }
  async setCurrentSignedPreKey(id: number, expected: number) {
    return this.sql("UPDATE key_state SET value = ? WHERE name = 'currentSignedId' AND value = ?").run(id, expected).changes === 1;
  }
  async listSignedPreKeyIds() {
    return (this.sql("SELECT id FROM prekeys WHERE kind = 'signed' ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  }
  async listOneTimePreKeys(kind: OneTimeKind) {
    const rows = this.sql('SELECT id, handed_out FROM prekeys WHERE kind = ? AND one_time = 1 ORDER BY id').all(kind) as { id: number; handed_out: number | null }[];
    return rows.map((r) => (r.handed_out === null ? { id: r.id } : { id: r.id, handedOutSince: r.handed_out }));
  }
  async setHandedOut(kind: OneTimeKind, id: number, since: number | undefined) {
    this.sql('UPDATE prekeys SET handed_out = ? WHERE kind = ? AND id = ? AND one_time = 1').run(since ?? null, kind, id);
  }
  async isLastResortUseRecorded(useId: string) {
    return this.sql('SELECT 1 FROM last_resort_uses WHERE use = ?').get(this.rows.keyOf(`last-resort-use:${useId}`)) !== undefined;
  }
  async recordLastResortUse(useId: string, kemPreKeyId: number, signedPreKeyId: number) {
    this.recordUse(useId, kemPreKeyId, signedPreKeyId);
  }
  private recordUse(useId: string, kemPreKeyId: number, signedPreKeyId: number): void {
    this.db.transaction(() => {
      this.sql('INSERT OR IGNORE INTO last_resort_uses (use, kem_id, signed_id) VALUES (?, ?, ?)').run(this.rows.keyOf(`last-resort-use:${useId}`), kemPreKeyId, signedPreKeyId);
      this.sql(
        `DELETE FROM last_resort_uses WHERE NOT EXISTS (SELECT 1 FROM prekeys WHERE kind = 'kem' AND id = kem_id)
           OR NOT EXISTS (SELECT 1 FROM prekeys WHERE kind = 'signed' AND id = signed_id)`,
      ).run();
      this.sql('DELETE FROM last_resort_uses WHERE seq <= (SELECT MAX(seq) FROM last_resort_uses) - ?').run(MAX_LAST_RESORT_USES);
    })();
  }
  /**
   * The session with an address. A copy this connection read or wrote is returned as is when the row's
   * version still matches (another process's save changes the version, and versions never repeat, so its
   * session is read afresh); callers treat the value as read-only, as its type says. Device 1's session
   * from before devices is moved to its address here (see the file comment).
   */
  async loadSession(peer: AddressLike) {
    const address = addressOf(peer);
    const key = this.sessionKey(address);
    const cached = this.#sessions.get(key);
    if (cached) {
      const row = this.sql('SELECT version FROM secrets WHERE key = ?').get(key) as { version: number } | undefined;
      if (row?.version === cached.version) return (this.remember(key, cached), cached);
    }
    const row = (this.sql('SELECT data, version FROM secrets WHERE key = ?').get(key) as { data: Buffer; version: number } | undefined) ??
      (address.device === PRIMARY_DEVICE ? this.moveLegacySession(address.user, key) : undefined);
    if (!row) return undefined;
    const entry = { value: this.rows.open<PeerSessionPickle>(key, row.data), version: row.version };
    this.remember(key, entry);
    return entry;
  }

  /**
   * Moves `session:<user>` to device 1's row `key`, keeping its version, and returns the new row; undefined
   * when there is no old row. IMMEDIATE, so of two processes loading at once one moves it and the other
   * finds the new row.
   */
  private moveLegacySession(user: string, key: string): { data: Buffer; version: number } | undefined {
    return this.db
      .transaction(() => {
        const moved = this.sql('SELECT data, version FROM secrets WHERE key = ?').get(key) as { data: Buffer; version: number } | undefined;
        if (moved) return moved;
        const legacyKey = this.legacySessionKey(user);
        const old = this.sql('SELECT data, version FROM secrets WHERE key = ?').get(legacyKey) as { data: Buffer; version: number } | undefined;
        if (!old) return undefined;
        // Sealed again: the row's name is its associated data, so the old ciphertext would not open under the new name.
        const data = this.rows.seal(key, this.rows.open<PeerSessionPickle>(legacyKey, old.data));
        this.sql('INSERT INTO secrets (key, data, version) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING').run(key, data, old.version);
        this.sql('DELETE FROM secrets WHERE key = ?').run(legacyKey);
        return { data, version: old.version };
      })
      .immediate();
  }

  /** Writes if the row's version is still `expected` (0: no row), with `used` in the same transaction; true when it did. */
  async saveSession(peer: AddressLike, session: PeerSessionPickle, expected: number, used?: PreKeysUsed) {
    const address = addressOf(peer);
    const key = this.sessionKey(address);
    const data = this.rows.seal(key, session);
    const alreadyConsumed = new Error('one-time prekey already consumed');
    const write = this.db.transaction(() => {
      // "No session yet" is wrong while device 1's session from before devices is still unmoved: the
      // caller loads again, which moves it, instead of starting a second session beside it.
      if (expected === 0 && address.device === PRIMARY_DEVICE && this.sql('SELECT 1 FROM secrets WHERE key = ?').get(this.legacySessionKey(address.user))) return false;
      const result =
        expected === 0
          ? this.sql('INSERT INTO secrets (key, data, version) VALUES (?, ?, 1) ON CONFLICT (key) DO NOTHING').run(key, data)
          : this.sql('UPDATE secrets SET data = ?, version = version + 1 WHERE key = ? AND version = ?').run(data, key, expected);
      if (result.changes !== 1) return false;
      // A one-time key the user's other process already consumed (another peer's initial message under the
      // same key, handed out twice by a lying server): roll the session back too, so no two sessions are
      // ever built on one one-time key. The retry then finds the key gone and refuses the message.
      const remove = this.sql('DELETE FROM prekeys WHERE kind = ? AND id = ?');
      if (used?.oneTimeId !== undefined && remove.run('oneTime', used.oneTimeId).changes !== 1) throw alreadyConsumed;
      if (used?.kemOneTimeId !== undefined && remove.run('kem', used.kemOneTimeId).changes !== 1) throw alreadyConsumed;
      if (used?.lastResortUse) this.recordUse(used.lastResortUse.useId, used.lastResortUse.kemPreKeyId, used.lastResortUse.signedPreKeyId);
      return true;
    });
    let saved: boolean;
    try {
      saved = write();
    } catch (err) {
      if (err !== alreadyConsumed) throw err;
      saved = false;
    }
    if (saved) this.remember(key, { value: session, version: expected + 1 });
    return saved;
  }

  async deleteSessions(user: string, devices: readonly number[]) {
    const deleted: Array<[string, number]> = [];
    this.db
      .transaction(() => {
        for (const device of devices) {
          const key = this.sessionKey({ user, device });
          let row = this.sql('SELECT version FROM secrets WHERE key = ?').get(key) as { version: number } | undefined;
          if (!row && device === PRIMARY_DEVICE) {
            // Never moved: the old row goes, and its version carries on under the new name.
            const legacyKey = this.legacySessionKey(user);
            row = this.sql('SELECT version FROM secrets WHERE key = ?').get(legacyKey) as { version: number } | undefined;
            if (row) this.sql('DELETE FROM secrets WHERE key = ?').run(legacyKey);
          }
          if (!row) continue;
          this.sql('INSERT INTO secrets (key, data, version) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, version = excluded.version').run(
            key,
            this.rows.seal(key, EMPTY_SESSION),
            row.version + 1,
          );
          deleted.push([key, row.version + 1]);
        }
      })
      .immediate();
    for (const [key, version] of deleted) this.remember(key, { value: EMPTY_SESSION, version });
  }

  /** This file's MLS group rows and KeyPackage private halves (sqlite-group-store.ts), on the same connection. */
  groups(): SqliteGroupStore {
    return (this.#groups ??= new SqliteGroupStore(this.db, this.rows));
  }
  #groups: SqliteGroupStore | undefined;

  close(): void {
    if (this.db.open) this.db.close();
  }
}
