/**
 * Node-only: what this device heard in its groups, for `history --group` and for `receive` to show what
 * another command of the user received (the group messages any connected command takes in are acked by
 * the client once its listeners ran, so they are recorded here, synchronously, inside the listener).
 * The groups module keeps MLS states, not texts: this is the conversation a person reads back.
 *
 * One SQLite file beside the others, every row sealed as sealed-rows.ts describes (its own HKDF `info`),
 * found by an HMAC of its id; the group a row belongs to is an HMAC too, so the file shows neither group
 * ids nor names nor who wrote. Ids are what makes an entry unique: a message is its group's sequence
 * number (one per message in the Delivery Service's order), a membership change its epoch and kind, so a
 * second copy (a resync, two processes of one user) is recorded once.
 */
import type Database from 'better-sqlite3';
import type { Address } from '../address.js';
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

/** A text in a group: `in` from a member (the user's other devices too), `out` sent by this device. */
export interface GroupTextEntry {
  readonly kind: 'message';
  readonly id: string;
  readonly groupId: string;
  readonly name: string | undefined;
  readonly direction: 'in' | 'out';
  readonly from: Address;
  readonly text: string;
  /** The sender's clock (ms since the epoch), its own word inside the encryption. */
  readonly sentAt: number;
  readonly seq: number;
}

/** A membership change as MLS applied it on this device. */
export interface GroupChangeEntry {
  readonly kind: 'membership';
  readonly id: string;
  readonly groupId: string;
  readonly name: string | undefined;
  readonly epoch: number;
  readonly added: readonly Address[];
  readonly removed: readonly Address[];
  /** This device joined the group (Welcome). */
  readonly joined: boolean;
  /** This device is no longer in the group. */
  readonly left: boolean;
  /** This device's clock when it applied the change. */
  readonly at: number;
}

export type GroupHistoryEntry = GroupTextEntry | GroupChangeEntry;

/** The id of a group's message: its place in the group's order. */
export const groupTextId = (groupId: string, seq: number): string => `m:${groupId}:${seq}`;
/** The id of a membership change: its epoch and whether this device joined, left, or saw others change. */
export const groupChangeId = (groupId: string, epoch: number, how: 'joined' | 'left' | 'changed'): string => `e:${groupId}:${epoch}:${how}`;

export class SqliteGroupHistory {
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

  /**
   * Records an entry once (synchronous: it is written before the listener that calls it returns, so
   * before the client acks what it came in). 'duplicate': an entry of that id was already recorded.
   */
  record(entry: GroupHistoryEntry, options: { displayed: boolean }): 'new' | 'duplicate' {
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
  history(groupId: string, limit?: number): GroupHistoryEntry[] {
    const grp = this.rows.keyOf(`group:${groupId}`);
    const rows = (
      limit === undefined
        ? this.sql('SELECT key, data FROM entries WHERE grp = ? ORDER BY n').all(grp)
        : this.sql('SELECT key, data FROM entries WHERE grp = ? ORDER BY n DESC LIMIT ?').all(grp, limit).reverse()
    ) as { key: string; data: Buffer }[];
    return rows.map((r) => this.rows.open<GroupHistoryEntry>(r.key, r.data));
  }

  /** Entries recorded and never shown (another command of the user took them in), oldest first. */
  undisplayed(): GroupHistoryEntry[] {
    const rows = this.sql('SELECT key, data FROM entries WHERE displayed = 0 ORDER BY n').all() as { key: string; data: Buffer }[];
    return rows.map((r) => this.rows.open<GroupHistoryEntry>(r.key, r.data));
  }

  markDisplayed(ids: readonly string[]): void {
    const mark = this.sql('UPDATE entries SET displayed = 1 WHERE key = ?');
    this.db.transaction(() => ids.forEach((id) => mark.run(this.rows.keyOf(id))))();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
