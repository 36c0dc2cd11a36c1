/**
 * Node-only: the RatchetStore in `ratchet.sqlite` in the user's folder. Rows are sealed exactly as the
 * message store's are (AES-256-GCM under a key derived from the user's private signing key, the row key
 * as associated data) and looked up by an HMAC of the peer's name, so the file shows neither secrets nor
 * who the user talks to. Writes use synchronous = FULL: a session saved before an ack must survive power loss.
 */
import Database from 'better-sqlite3';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LocalKeysPickle } from '../local-prekeys.js';
import type { PeerSessionPickle, RatchetStore } from '../ratchet-store.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from './atomic-file.js';

const MIGRATIONS: readonly string[] = [`CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`];

/** Domain-separated from the message store's key ("e2ee-chat/v1/local-storage"). */
const STORAGE_KEY_INFO = 'e2ee-chat/v1/ratchet-storage';

export class SqliteRatchetStore implements RatchetStore {
  private readonly db: Database.Database;
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  private constructor(path: string, secret: Uint8Array, username: string) {
    const okm = Buffer.from(hkdfSync('sha256', secret, Buffer.from(username, 'utf8'), STORAGE_KEY_INFO, 64));
    this.encKey = okm.subarray(0, 32);
    this.macKey = okm.subarray(32);
    const fresh = !existsSync(path);
    this.db = new Database(path);
    if (fresh) chmodSync(path, PRIVATE_FILE_MODE);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < MIGRATIONS.length; v++) this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${MIGRATIONS.length}`);
      })
      .immediate();
  }

  /** `secret` is the user's Ed25519 private key (32 bytes); the storage keys are derived from it. */
  static async open(path: string, secret: Uint8Array, username: string): Promise<SqliteRatchetStore> {
    await ensurePrivateDir(dirname(path));
    return new SqliteRatchetStore(path, secret, username);
  }

  private keyOf(name: string): string {
    return createHmac('sha256', this.macKey).update(name).digest('base64url');
  }

  private seal(key: string, value: unknown): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv).setAAD(Buffer.from(key));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  private read<T>(name: string): T | undefined {
    const key = this.keyOf(name);
    const row = this.db.prepare('SELECT data FROM secrets WHERE key = ?').get(key) as { data: Buffer } | undefined;
    if (!row) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, row.data.subarray(0, 12)).setAAD(Buffer.from(key));
    decipher.setAuthTag(row.data.subarray(row.data.length - 16));
    return JSON.parse(Buffer.concat([decipher.update(row.data.subarray(12, row.data.length - 16)), decipher.final()]).toString('utf8')) as T;
  }

  private write(name: string, value: unknown, onConflict: 'replace' | 'keep'): void {
    const key = this.keyOf(name);
    const sql = onConflict === 'replace' ? 'INSERT INTO secrets (key, data) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data' : 'INSERT INTO secrets (key, data) VALUES (?, ?) ON CONFLICT (key) DO NOTHING';
    this.db.prepare(sql).run(key, this.seal(key, value));
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
