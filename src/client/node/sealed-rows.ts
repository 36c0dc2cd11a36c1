/**
 * Node-only: how the client's local databases keep rows. Each row's value is JSON sealed with
 * AES-256-GCM (random 96-bit IV, the row's key as associated data, so a row cannot be moved under
 * another key), and rows are found by an HMAC-SHA-256 of what names them, so the file shows neither
 * secrets nor message ids nor who the user talks to. Both keys come from HKDF-SHA-256 over the user's
 * Ed25519 private key (salt: the username; `info` names the database), so a file is exactly as protected
 * as the private key: unreadable without the passphrase when there is one.
 */
import Database from 'better-sqlite3';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from './atomic-file.js';

export class RowSealer {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(secret: Uint8Array, username: string, info: string) {
    const okm = Buffer.from(hkdfSync('sha256', secret, Buffer.from(username, 'utf8'), info, 64));
    this.encKey = okm.subarray(0, 32);
    this.macKey = okm.subarray(32);
  }

  /** The row key for a name: an HMAC, so equal names find the same row and nothing else leaks. */
  keyOf(name: string): string {
    return createHmac('sha256', this.macKey).update(name).digest('base64url');
  }

  seal(key: string, value: unknown): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv).setAAD(Buffer.from(key));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  open<T>(key: string, data: Buffer): T {
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, data.subarray(0, 12)).setAAD(Buffer.from(key));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return JSON.parse(Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]).toString('utf8')) as T;
  }
}

/** A schema step: SQL, or a function for a step that must read and rewrite rows (run in the same transaction). */
export type Migration = string | ((db: Database.Database) => void);

/**
 * Opens (creating, mode 0600) a local SQLite database in WAL mode with `synchronous = FULL` (a state
 * saved before an ack must survive power loss) and brings it to the latest of `migrations`.
 */
export async function openLocalDatabase(path: string, migrations: readonly Migration[]): Promise<Database.Database> {
  await ensurePrivateDir(dirname(path));
  const fresh = !existsSync(path);
  const db = new Database(path);
  if (fresh) chmodSync(path, PRIVATE_FILE_MODE);
  // Wait for another process's lock rather than failing at once (two terminals, one user).
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // IMMEDIATE takes the write lock before reading the version: two processes opening a new file at
  // once migrate it once, not twice.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < migrations.length; v++) {
      const step = migrations[v]!;
      if (typeof step === 'string') db.exec(step);
      else step(db);
    }
    db.pragma(`user_version = ${Math.max(version, migrations.length)}`);
  }).immediate();
  return db;
}
