/**
 * Node-only: the user's history, seen ids and outbox in one SQLite file in the user's folder. Every row
 * is sealed with AES-256-GCM under a key derived from the user's private signing key, so the file is
 * exactly as protected as the keys are: unreadable without the passphrase when there is one. Rows are
 * looked up by an HMAC of their id, so not even message ids are stored in clear.
 */
import Database from 'better-sqlite3';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { HistoryRecord, MessageStore, OutboxEntry } from '../stores.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from './atomic-file.js';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     direction TEXT NOT NULL,
     displayed INTEGER NOT NULL,
     data BLOB NOT NULL
   ) STRICT;
   CREATE INDEX messages_undisplayed ON messages (displayed, seq);
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     data BLOB NOT NULL
   ) STRICT;`,
];

/** Domain-separated derivation of the local storage keys from the signing key's private scalar seed. */
const STORAGE_KEY_INFO = 'e2ee-chat/v1/local-storage';

interface Row {
  key: string;
  data: Buffer;
}

export class SqliteMessageStore implements MessageStore {
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
    // Wait for another process's lock rather than failing at once (two terminals, one user).
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    // IMMEDIATE takes the write lock before reading the version: two processes opening a new file at
    // once (two terminals) migrate it once, not twice.
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < MIGRATIONS.length; v++) this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${MIGRATIONS.length}`);
      })
      .immediate();
  }

  /** `secret` is the user's Ed25519 private key (32 bytes); the storage keys are derived from it. */
  static async open(path: string, secret: Uint8Array, username: string): Promise<SqliteMessageStore> {
    await ensurePrivateDir(dirname(path));
    return new SqliteMessageStore(path, secret, username);
  }

  private keyOf(kind: string, id: string): string {
    return createHmac('sha256', this.macKey).update(`${kind}:${id}`).digest('base64url');
  }

  private seal(key: string, value: unknown): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv).setAAD(Buffer.from(key));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  private open<T>(row: Row): T {
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, row.data.subarray(0, 12)).setAAD(Buffer.from(row.key));
    decipher.setAuthTag(row.data.subarray(row.data.length - 16));
    return JSON.parse(Buffer.concat([decipher.update(row.data.subarray(12, row.data.length - 16)), decipher.final()]).toString('utf8')) as T;
  }

  async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = this.keyOf('in', record.id);
    const info = this.db
      .prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, 0, ?) ON CONFLICT (key) DO NOTHING')
      .run(key, 'in', this.seal(key, record));
    return info.changes === 1 ? 'new' : 'duplicate';
  }

  async addOutgoing(entry: OutboxEntry, record: HistoryRecord): Promise<void> {
    const outKey = this.keyOf('outbox', entry.id);
    const msgKey = this.keyOf('out', record.id);
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO outbox (key, data) VALUES (?, ?)').run(outKey, this.seal(outKey, entry));
      this.db.prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, 1, ?)').run(msgKey, 'out', this.seal(msgKey, record));
    })();
  }

  async outbox(): Promise<OutboxEntry[]> {
    return (this.db.prepare('SELECT key, data FROM outbox ORDER BY seq').all() as Row[]).map((r) => this.open<OutboxEntry>(r));
  }

  private update(direction: 'in' | 'out', id: string, change: (r: HistoryRecord) => void): void {
    const key = this.keyOf(direction, id);
    const row = this.db.prepare('SELECT key, data FROM messages WHERE key = ?').get(key) as Row | undefined;
    if (!row) return;
    const record = this.open<HistoryRecord>(row);
    change(record);
    this.db.prepare('UPDATE messages SET data = ? WHERE key = ?').run(this.seal(key, record), key);
  }

  async settleOutgoing(id: string, status: 'sent' | 'queued' | 'failed', server?: { id: string; time: number }): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM outbox WHERE key = ?').run(this.keyOf('outbox', id));
      this.update('out', id, (r) => {
        if (r.status !== 'delivered') r.status = status;
        if (server) {
          r.serverId = server.id;
          r.serverTime = server.time;
        }
      });
    })();
  }

  async markDelivered(id: string): Promise<void> {
    this.update('out', id, (r) => {
      r.status = 'delivered';
    });
  }

  async undisplayed(): Promise<HistoryRecord[]> {
    const rows = this.db.prepare("SELECT key, data FROM messages WHERE displayed = 0 AND direction = 'in' ORDER BY seq").all() as Row[];
    return rows.map((r) => this.open<HistoryRecord>(r));
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    const stmt = this.db.prepare('UPDATE messages SET displayed = 1 WHERE key = ?');
    this.db.transaction(() => {
      for (const id of ids) stmt.run(this.keyOf('in', id));
    })();
  }

  async history(options: { peer?: string; limit?: number } = {}): Promise<HistoryRecord[]> {
    const rows = this.db.prepare('SELECT key, data FROM messages ORDER BY seq').all() as Row[];
    const all = rows.map((r) => this.open<HistoryRecord>(r)).filter((r) => options.peer === undefined || r.peer === options.peer);
    return options.limit === undefined ? all : all.slice(-options.limit);
  }

  async get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined> {
    const key = this.keyOf(direction, id);
    const row = this.db.prepare('SELECT key, data FROM messages WHERE key = ?').get(key) as Row | undefined;
    return row ? this.open<HistoryRecord>(row) : undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
