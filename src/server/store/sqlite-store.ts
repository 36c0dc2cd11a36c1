/** The embedded default store: SQLite in WAL mode under the data folder, schema migrations in code. */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerStore, UserRecord } from './server-store.js';

/** Each entry moves the schema from version i to i+1; `PRAGMA user_version` records how far we are. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     username TEXT PRIMARY KEY,
     signing_key TEXT NOT NULL,
     encryption_key TEXT NOT NULL,
     signing_key_thumbprint TEXT NOT NULL,
     encryption_key_thumbprint TEXT NOT NULL,
     registered_at INTEGER NOT NULL
   ) STRICT`,
];

export const SQLITE_FILE_NAME = 'e2ee-chat.sqlite';

interface UserRow {
  username: string;
  signing_key: string;
  encryption_key: string;
  signing_key_thumbprint: string;
  encryption_key_thumbprint: string;
  registered_at: number;
}

function fromRow(row: UserRow): UserRecord {
  return {
    username: row.username,
    signingKey: JSON.parse(row.signing_key),
    encryptionKey: JSON.parse(row.encryption_key),
    signingKeyThumbprint: row.signing_key_thumbprint,
    encryptionKeyThumbprint: row.encryption_key_thumbprint,
    registeredAt: row.registered_at,
  };
}

export class SqliteServerStore implements ServerStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly selectUser: Database.Statement<[string], UserRow>;
  private readonly insertUser: Database.Statement<[UserRow]>;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.path = join(dataDir, SQLITE_FILE_NAME);
    this.db = new Database(this.path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit the server has acknowledged survives power loss, not only a process crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.selectUser = this.db.prepare('SELECT * FROM users WHERE username = ?');
    this.insertUser = this.db.prepare(
      `INSERT INTO users (username, signing_key, encryption_key, signing_key_thumbprint, encryption_key_thumbprint, registered_at)
       VALUES (@username, @signing_key, @encryption_key, @signing_key_thumbprint, @encryption_key_thumbprint, @registered_at)
       ON CONFLICT (username) DO NOTHING`,
    );
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this server understands (${MIGRATIONS.length})`);
    }
    for (let version = current; version < MIGRATIONS.length; version++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[version]!);
        this.db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = this.selectUser.get(username);
    return row ? fromRow(row) : undefined;
  }

  async createUser(record: UserRecord): Promise<{ created: boolean; record: UserRecord }> {
    const info = this.insertUser.run({
      username: record.username,
      signing_key: JSON.stringify(record.signingKey),
      encryption_key: JSON.stringify(record.encryptionKey),
      signing_key_thumbprint: record.signingKeyThumbprint,
      encryption_key_thumbprint: record.encryptionKeyThumbprint,
      registered_at: record.registeredAt,
    });
    if (info.changes === 1) return { created: true, record };
    return { created: false, record: fromRow(this.selectUser.get(record.username)!) };
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
