/**
 * Node-only: the RatchetStore in `ratchet.sqlite` in the user's folder. Rows are sealed exactly as the
 * message store's are (AES-256-GCM under a key derived from the user's private signing key, the row key
 * as associated data) and looked up by an HMAC of the peer's name, so the file shows neither secrets nor
 * who the user talks to. Writes use synchronous = FULL: a session saved before an ack must survive power loss.
 */
import type Database from 'better-sqlite3';
import type { LocalKeysPickle } from '../local-prekeys.js';
import type { PeerSessionPickle, RatchetStore } from '../ratchet-store.js';
import { openLocalDatabase, RowSealer } from './sealed-rows.js';

const MIGRATIONS: readonly string[] = [`CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`];

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

  private read<T>(name: string): T | undefined {
    const key = this.rows.keyOf(name);
    const row = this.db.prepare('SELECT data FROM secrets WHERE key = ?').get(key) as { data: Buffer } | undefined;
    return row ? this.rows.open<T>(key, row.data) : undefined;
  }

  private write(name: string, value: unknown, onConflict: 'replace' | 'keep'): void {
    const key = this.rows.keyOf(name);
    const sql = onConflict === 'replace' ? 'INSERT INTO secrets (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data' : 'INSERT INTO secrets (key, data) VALUES (?, ?) ON CONFLICT (key) DO NOTHING';
    this.db.prepare(sql).run(key, this.rows.seal(key, value));
  }

  async loadKeys() {
    return this.read<LocalKeysPickle>('keys');
  }
  async createKeys(keys: LocalKeysPickle) {
    this.write('keys', keys, 'keep');
    return this.read<LocalKeysPickle>('keys')!;
  }
  async saveKeys(keys: LocalKeysPickle) {
    this.write('keys', keys, 'replace');
  }
  async loadSession(peer: string) {
    return this.read<PeerSessionPickle>(`session:${peer}`);
  }
  async saveSession(peer: string, session: PeerSessionPickle) {
    this.write(`session:${peer}`, session, 'replace');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
