/**
 * Node-only: the RatchetStore in `ratchet.sqlite` in the user's folder. Rows are sealed exactly as the
 * message store's are (AES-256-GCM under a key derived from the user's private signing key, the row key
 * as associated data) and looked up by an HMAC of the peer's name, so the file shows neither secrets nor
 * who the user talks to. Writes use synchronous = FULL: a session saved before an ack must survive power loss.
 * Saves are compare-and-swap on a per-row version (ratchet-store.ts says why): one UPDATE … WHERE version
 * = ?, atomic in SQLite across every process that has the file open.
 */
import type Database from 'better-sqlite3';
import type { LocalKeysPickle } from '../local-prekeys.js';
import type { PeerSessionPickle, RatchetStore, Versioned } from '../ratchet-store.js';
import { openLocalDatabase, RowSealer } from './sealed-rows.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`,
  `ALTER TABLE secrets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
];

/** Domain-separated from the message store's key ("e2ee-chat/v1/local-storage"). */
const STORAGE_KEY_INFO = 'e2ee-chat/v1/ratchet-storage';

export class SqliteRatchetStore implements RatchetStore {
  private constructor(
    private readonly db: Database.Database,
    private readonly rows: RowSealer,
  ) {}

  /** `secret` is the user's Ed25519 private key (32 bytes); the storage keys are derived from it. */
  static async open(path: string, secret: Uint8Array, username: string): Promise<SqliteRatchetStore> {
    return new SqliteRatchetStore(await openLocalDatabase(path, MIGRATIONS), new RowSealer(secret, username, STORAGE_KEY_INFO));
  }

  private read<T>(name: string): Versioned<T> | undefined {
    const key = this.rows.keyOf(name);
    const row = this.db.prepare('SELECT data, version FROM secrets WHERE key = ?').get(key) as { data: Buffer; version: number } | undefined;
    return row ? { value: this.rows.open<T>(key, row.data), version: row.version } : undefined;
  }

  /** Writes if the row's version is still `expected` (0: no row); true when it did. */
  private write(name: string, value: unknown, expected: number): boolean {
    const key = this.rows.keyOf(name);
    const data = this.rows.seal(key, value);
    const result =
      expected === 0
        ? this.db.prepare('INSERT INTO secrets (key, data, version) VALUES (?, ?, 1) ON CONFLICT (key) DO NOTHING').run(key, data)
        : this.db.prepare('UPDATE secrets SET data = ?, version = version + 1 WHERE key = ? AND version = ?').run(data, key, expected);
    return result.changes === 1;
  }

  async loadKeys() {
    return this.read<LocalKeysPickle>('keys');
  }
  async createKeys(keys: LocalKeysPickle) {
    this.write('keys', keys, 0);
    return this.read<LocalKeysPickle>('keys')!;
  }
  async saveKeys(keys: LocalKeysPickle, expected: number) {
    return this.write('keys', keys, expected);
  }
  async loadSession(peer: string) {
    return this.read<PeerSessionPickle>(`session:${peer}`);
  }
  async saveSession(peer: string, session: PeerSessionPickle, expected: number) {
    return this.write(`session:${peer}`, session, expected);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
