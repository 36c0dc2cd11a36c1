/**
 * Node-only: the user's history, seen ids and outbox in one SQLite file in the user's folder, every row
 * sealed as sealed-rows.ts describes (unreadable without the private key, ids stored only as HMACs).
 */
import type Database from 'better-sqlite3';
import type { RejectReason } from '../../protocol/events.js';
import { applyDeliveries, applyReceipt, type CopyDelivery, type CopyReceipt } from '../delivery-copies.js';
import { outboxEntryFromStored } from '../outbox-entry.js';
import {
  DEFAULT_HELD_LIMITS,
  type HeldEnvelope,
  type HeldLimits,
  type HistoryRecord,
  type MessageStore,
  type OutboxCopy,
  type OutboxEntry,
  type OutboxEntryV1,
  type OutboxFailure,
  sharedAsHistory,
} from '../stores.js';
import { openLocalDatabase, RowSealer } from './sealed-rows.js';

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
  // v2: failed outbox entries stay listed (and out of the way of pending ones) until the user drops
  // them; envelopes refused because their sender's keys changed are held sealed, per sender, in order.
  // `peer` is an HMAC like every key, so the file does not show who sent them.
  `ALTER TABLE outbox ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE held (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     key TEXT NOT NULL UNIQUE,
     peer TEXT NOT NULL,
     data BLOB NOT NULL
   ) STRICT;
   CREATE INDEX held_by_peer ON held (peer, seq);`,
];

/** Domain-separated derivation of the local storage keys from the signing key's private scalar seed. Exported for tests that write old rows. */
export const STORAGE_KEY_INFO = 'e2ee-chat/v1/local-storage';

interface Row {
  key: string;
  data: Buffer;
}

export class SqliteMessageStore implements MessageStore {
  private constructor(
    private readonly db: Database.Database,
    private readonly rows: RowSealer,
    private readonly heldLimits: Readonly<HeldLimits>,
  ) {}

  /** `secret` is the user's Ed25519 private key (32 bytes); the storage keys are derived from it. */
  static async open(path: string, secret: Uint8Array, username: string, options: { heldLimits?: Readonly<HeldLimits> } = {}): Promise<SqliteMessageStore> {
    return new SqliteMessageStore(await openLocalDatabase(path, MIGRATIONS), new RowSealer(secret, username, STORAGE_KEY_INFO), options.heldLimits ?? DEFAULT_HELD_LIMITS);
  }

  private keyOf(kind: string, id: string): string {
    return this.rows.keyOf(`${kind}:${id}`);
  }

  private seal(key: string, value: unknown): Buffer {
    return this.rows.seal(key, value);
  }

  private open<T>(row: Row): T {
    return this.rows.open<T>(row.key, row.data);
  }

  async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = this.keyOf('in', record.id);
    // A receipt is never shown, so it is never waiting to be.
    const info = this.db
      .prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING')
      .run(key, 'in', record.kind === 'receipt' ? 1 : 0, this.seal(key, record));
    return info.changes === 1 ? 'new' : 'duplicate';
  }

  async recordOutgoingCopy(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = this.keyOf('out', record.id);
    const info = this.db
      .prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, 1, ?) ON CONFLICT (key) DO NOTHING')
      .run(key, 'out', this.seal(key, record));
    return info.changes === 1 ? 'new' : 'duplicate';
  }

  async recordHistory(records: readonly HistoryRecord[]): Promise<number> {
    const insert = this.db.prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, 1, ?) ON CONFLICT (key) DO NOTHING');
    return this.db.transaction((): number => {
      let added = 0;
      for (const record of records) {
        const key = this.keyOf(record.direction, record.id);
        added += insert.run(key, record.direction, this.seal(key, record)).changes;
      }
      return added;
    })();
  }

  async addOutgoing(entry: OutboxEntry | OutboxEntryV1, record: HistoryRecord): Promise<void> {
    const outKey = this.keyOf('outbox', entry.id);
    const msgKey = this.keyOf('out', record.id);
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO outbox (key, data) VALUES (?, ?)').run(outKey, this.seal(outKey, outboxEntryFromStored(entry)));
      this.db.prepare('INSERT INTO messages (key, direction, displayed, data) VALUES (?, ?, 1, ?)').run(msgKey, 'out', this.seal(msgKey, record));
    })();
  }

  async outbox(): Promise<OutboxEntry[]> {
    return (this.db.prepare('SELECT key, data FROM outbox WHERE failed = 0 ORDER BY seq').all() as Row[]).map((r) => this.openOutboxEntry(r));
  }

  async outboxEntries(): Promise<OutboxEntry[]> {
    return (this.db.prepare('SELECT key, data FROM outbox ORDER BY seq').all() as Row[]).map((r) => this.openOutboxEntry(r));
  }

  /** An outbox row in today's shape: rows written by 0.1 hold one envelope, device 1's copy (rewritten so at their next update). */
  private openOutboxEntry(row: Row): OutboxEntry {
    return outboxEntryFromStored(this.open<OutboxEntry | OutboxEntryV1>(row));
  }

  /** Read-modify-write of one outbox row, in the caller's transaction; undefined when there is no such row. */
  private updateOutbox<T>(id: string, change: (e: OutboxEntry) => T): T | undefined {
    const key = this.keyOf('outbox', id);
    const row = this.db.prepare('SELECT key, data FROM outbox WHERE key = ?').get(key) as Row | undefined;
    if (!row) return undefined;
    const entry = this.openOutboxEntry(row);
    const result = change(entry);
    this.db.prepare('UPDATE outbox SET data = ?, failed = ? WHERE key = ?').run(this.seal(key, entry), entry.failed ? 1 : 0, key);
    return result;
  }

  async countSendAttempt(id: string): Promise<number> {
    return this.db.transaction(() => this.updateOutbox(id, (e) => (e.attempts = (e.attempts ?? 0) + 1)) ?? 0).immediate();
  }

  /** Read-modify-write of one history record, in the caller's transaction; `change` returning false writes nothing. */
  private update(direction: 'in' | 'out', id: string, change: (r: HistoryRecord) => boolean | void): void {
    const key = this.keyOf(direction, id);
    const row = this.db.prepare('SELECT key, data FROM messages WHERE key = ?').get(key) as Row | undefined;
    if (!row) return;
    const record = this.open<HistoryRecord>(row);
    if (change(record) === false) return;
    this.db.prepare('UPDATE messages SET data = ? WHERE key = ?').run(this.seal(key, record), key);
  }

  async settleOutgoing(id: string, deliveries: readonly CopyDelivery[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM outbox WHERE key = ?').run(this.keyOf('outbox', id));
      this.update('out', id, (r) => applyDeliveries(r, deliveries));
    }).immediate();
  }

  async rewriteOutgoing(id: string, messages: readonly OutboxCopy[]): Promise<boolean> {
    return this.db.transaction(() => this.updateOutbox(id, (e) => void (e.messages = [...messages])) !== undefined).immediate();
  }

  async failOutgoing(id: string, failure: OutboxFailure): Promise<void> {
    this.db.transaction(() => {
      this.updateOutbox(id, (e) => void (e.failed = failure));
      this.update('out', id, (r) => void (r.status = 'failed'));
    }).immediate();
  }

  async dropOutgoing(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      const key = this.keyOf('outbox', id);
      const row = this.db.prepare('SELECT key, data FROM outbox WHERE key = ?').get(key) as Row | undefined;
      if (!row) return false;
      this.db.prepare('DELETE FROM outbox WHERE key = ?').run(key);
      if (!this.open<OutboxEntry>(row).failed) this.update('out', id, (r) => void (r.status = 'failed'));
      return true;
    }).immediate();
  }

  async markCopy(id: string, copy: { to: string; device: number }, receipt: CopyReceipt): Promise<HistoryRecord | undefined> {
    return this.db
      .transaction((): HistoryRecord | undefined => {
        let changed: HistoryRecord | undefined;
        this.update('out', id, (r) => {
          if (applyReceipt(r, copy, receipt)) changed = r;
          return changed !== undefined;
        });
        return changed;
      })
      .immediate();
  }

  async markRead(peer: string, ids: readonly string[]): Promise<string[]> {
    return this.db
      .transaction((): string[] => {
        const now: string[] = [];
        for (const id of ids) {
          const key = this.keyOf('out', id);
          const row = this.db.prepare('SELECT key, data FROM messages WHERE key = ?').get(key) as Row | undefined;
          const record = row && this.open<HistoryRecord>(row);
          if (!record || record.peer !== peer || record.kind !== undefined || record.status === 'read') continue;
          record.status = 'read';
          delete record.reason;
          this.db.prepare('UPDATE messages SET data = ? WHERE key = ?').run(this.seal(key, record), key);
          now.push(id);
        }
        return now;
      })
      .immediate();
  }

  async rejudgeUnreadable(id: string, reason: RejectReason): Promise<boolean> {
    const key = this.keyOf('in', id);
    return this.db
      .transaction((): boolean => {
        const row = this.db.prepare('SELECT key, data FROM messages WHERE key = ?').get(key) as Row | undefined;
        const record = row && this.open<HistoryRecord>(row);
        if (!record || record.status !== 'unreadable' || record.reason === reason) return false;
        record.reason = reason;
        delete record.held;
        this.db.prepare('UPDATE messages SET data = ?, displayed = 0 WHERE key = ?').run(this.seal(key, record), key);
        return true;
      })
      .immediate();
  }

  async hold(envelope: HeldEnvelope): Promise<'held' | 'full'> {
    const key = this.keyOf('held', envelope.serverId);
    const peer = this.keyOf('held-peer', envelope.from);
    const data = this.seal(key, envelope);
    const { perPeer, total, totalBytes } = this.heldLimits;
    // Immediate: the counts and the insert in one write transaction, so two processes cannot both pass.
    return this.db
      .transaction((): 'held' | 'full' => {
        if (this.db.prepare('SELECT 1 FROM held WHERE key = ?').get(key)) return 'held';
        const all = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(length(data)), 0) AS bytes FROM held').get() as { n: number; bytes: number };
        const fromPeer = (this.db.prepare('SELECT COUNT(*) AS n FROM held WHERE peer = ?').get(peer) as { n: number }).n;
        if (all.n >= total || fromPeer >= perPeer || all.bytes + data.length > totalBytes) return 'full';
        this.db.prepare('INSERT INTO held (key, peer, data) VALUES (?, ?, ?)').run(key, peer, data);
        return 'held';
      })
      .immediate();
  }

  async held(peer: string): Promise<HeldEnvelope[]> {
    const rows = this.db.prepare('SELECT key, data FROM held WHERE peer = ? ORDER BY seq').all(this.keyOf('held-peer', peer)) as Row[];
    return rows.map((r) => this.open<HeldEnvelope>(r));
  }

  async release(serverId: string): Promise<void> {
    this.db.prepare('DELETE FROM held WHERE key = ?').run(this.keyOf('held', serverId));
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
    const all = rows.map((r) => this.open<HistoryRecord>(r)).filter((r) => r.kind === undefined && (options.peer === undefined || r.peer === options.peer));
    return options.limit === undefined ? all : all.slice(-options.limit);
  }

  async recent(limit: number): Promise<HistoryRecord[]> {
    // What qualifies is inside the sealed rows, so SQL cannot pick it: the rows are walked from the newest
    // back (the primary key's order, no sort) and the walk stops at `limit`. It reads `limit` rows and the
    // receipts and unreadable records among them, not the whole history.
    const found: HistoryRecord[] = [];
    if (limit <= 0) return found;
    for (const row of this.db.prepare('SELECT key, data FROM messages ORDER BY seq DESC').iterate() as IterableIterator<Row>) {
      const record = this.open<HistoryRecord>(row);
      if (!sharedAsHistory(record)) continue;
      found.push(record);
      if (found.length === limit) break;
    }
    return found.reverse();
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
