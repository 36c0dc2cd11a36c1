/**
 * Node-only: the GroupHistoryStore (groups/group-history.ts) of the CLI, for `history --group` and for
 * `receive` to show what another command of the user received. The client records each entry here before
 * it saves the group row and before it acks (GroupInbound), whichever command of the user is connected.
 *
 * One SQLite file beside the others, every row sealed as sealed-rows.ts describes (its own HKDF `info`),
 * found by an HMAC of its id; the group a row belongs to is an HMAC too, so the file shows neither group
 * ids nor names nor who wrote. Ids are what makes an entry unique: a message is its group's sequence
 * number (one per message in the Delivery Service's order), a membership change its epoch and kind, so a
 * second copy (a resync, two processes of one user) is recorded once. SQLite answers synchronously; the
 * methods are async for the interface, and a record is durable once its promise resolves.
 */
import type Database from 'better-sqlite3';
import type { GroupHistoryEntry, GroupHistoryStore } from '../groups/group-history.js';
import { openLocalDatabase, RowSealer } from './sealed-rows.js';

const STORAGE_INFO = 'e2ee-chat group history v1';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE entries (
     n INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     grp TEXT NOT NULL,
     displayed INTEGER NOT NULL,
     data BLOB NOT NULL
   ) STRICT;
   CREATE INDEX entries_group ON entries (grp, n);
   CREATE INDEX entries_undisplayed ON entries (displayed, n);`,
];

export class SqliteGroupHistory implements GroupHistoryStore {
  readonly #statements = new Map<string, Database.Statement>();

  private constructor(
    private readonly db: Database.Database,
    private readonly rows: RowSealer,
  ) {}

  static async open(path: string, secret: Uint8Array, username: string): Promise<SqliteGroupHistory> {
    return new SqliteGroupHistory(await openLocalDatabase(path, MIGRATIONS), new RowSealer(secret, username, STORAGE_INFO));
  }

  private sql(text: string): Database.Statement {
    let s = this.#statements.get(text);
    if (!s) this.#statements.set(text, (s = this.db.prepare(text)));
    return s;
  }

  /** Records an entry once. 'duplicate': an entry of that id was already recorded. */
  async record(entry: GroupHistoryEntry, options: { displayed: boolean }): Promise<'new' | 'duplicate'> {
    const key = this.rows.keyOf(entry.id);
    const result = this.sql('INSERT INTO entries (key, grp, displayed, data) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING').run(
      key,
      this.rows.keyOf(`group:${entry.groupId}`),
      options.displayed ? 1 : 0,
      this.rows.seal(key, entry),
    );
    return result.changes === 1 ? 'new' : 'duplicate';
  }

  /** A group's entries, oldest first; with `limit`, the newest `limit` of them. */
  async history(groupId: string, limit?: number): Promise<GroupHistoryEntry[]> {
    const grp = this.rows.keyOf(`group:${groupId}`);
    const rows = (
      limit === undefined
        ? this.sql('SELECT key, data FROM entries WHERE grp = ? ORDER BY n').all(grp)
        : this.sql('SELECT key, data FROM entries WHERE grp = ? ORDER BY n DESC LIMIT ?').all(grp, limit).reverse()
    ) as { key: string; data: Buffer }[];
    return rows.map((r) => this.rows.open<GroupHistoryEntry>(r.key, r.data));
  }

  /** Entries recorded and never shown (another command of the user took them in), oldest first. */
  async undisplayed(): Promise<GroupHistoryEntry[]> {
    const rows = this.sql('SELECT key, data FROM entries WHERE displayed = 0 ORDER BY n').all() as { key: string; data: Buffer }[];
    return rows.map((r) => this.rows.open<GroupHistoryEntry>(r.key, r.data));
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    const mark = this.sql('UPDATE entries SET displayed = 1 WHERE key = ?');
    this.db.transaction(() => ids.forEach((id) => mark.run(this.rows.keyOf(id))))();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
