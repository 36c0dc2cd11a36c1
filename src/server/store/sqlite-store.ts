/** The embedded default store: SQLite in WAL mode under the data folder, schema migrations in code. */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { GroupCommit } from './group-commit.js';
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import type { RejectReason } from '../../protocol/events.js';
import { settledId, type EnqueueInput, type EnqueueResult, type PreKeyUpload, type QueueQuota, type QueuedEnvelope, type Receipt, type ServerStore, type Settlement, type TakenPreKeyBundle, type UserRecord } from './server-store.js';
import { quotaRefusal } from './quota.js';
import { SqlitePreKeyTables } from './sqlite-prekeys.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { WalSync } from './wal-sync.js';

export const SQLITE_FILE_NAME = 'e2ee-chat.sqlite';

const NO_USAGE = { count: 0, bytes: 0 };

interface UserRow {
  username: string;
  signing_key: string;
  encryption_key: string;
  signing_key_thumbprint: string;
  encryption_key_thumbprint: string;
  registered_at: number;
}

interface QueueRow {
  seq: number;
  id: string;
  recipient: string;
  sender: string;
  client_id: string;
  sent_at: number;
  expires_at: number;
  envelope: string;
}

interface ReceiptRow {
  seq: number;
  id: string;
  client_id: string;
  sender: string;
  recipient: string;
  delivered_at: number;
  status: string;
  reason: string | null;
}

function userFromRow(row: UserRow): UserRecord {
  return {
    username: row.username,
    signingKey: JSON.parse(row.signing_key),
    encryptionKey: JSON.parse(row.encryption_key),
    signingKeyThumbprint: row.signing_key_thumbprint,
    encryptionKeyThumbprint: row.encryption_key_thumbprint,
    registeredAt: row.registered_at,
  };
}

const queuedFromRow = (r: QueueRow): QueuedEnvelope => ({
  id: r.id,
  seq: r.seq,
  sender: r.sender,
  recipient: r.recipient,
  clientId: r.client_id,
  sentAt: r.sent_at,
  expiresAt: r.expires_at,
  envelope: r.envelope,
});

const receiptFromRow = (r: ReceiptRow): Receipt => ({
  seq: r.seq,
  id: r.id,
  clientId: r.client_id,
  sender: r.sender,
  recipient: r.recipient,
  deliveredAt: r.delivered_at,
  // Written by this store only, from the RejectReason of a parsed ack.
  ...(r.status === 'unreadable' ? { status: 'unreadable' as const, reason: (r.reason ?? 'decryption_failed') as RejectReason } : { status: 'delivered' as const }),
});

/**
 * The database holds who talks to whom and the queued ciphertext: owner-only (0600) whatever the data
 * folder's mode or the umask. SQLite gives the -wal and -shm files the database file's permissions
 * when it creates them, so creating the database 0600 first covers all three; files left by an older
 * server (created 0644) are tightened here too.
 */
function createPrivateFiles(dbPath: string): void {
  closeSync(openSync(dbPath, 'a', 0o600));
  for (const path of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
    if (existsSync(path)) chmodSync(path, 0o600);
  }
}

export class SqliteServerStore implements ServerStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly writes: GroupCommit;
  private readonly walSync: WalSync;
  private readonly sql;
  private readonly preKeys: SqlitePreKeyTables;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.path = join(dataDir, SQLITE_FILE_NAME);
    createPrivateFiles(this.path);
    this.db = new Database(this.path);
    // Wait for another process's lock rather than failing at once (two terminals, one user).
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    // NORMAL: commits do not fsync on the event loop; WalSync fsyncs the WAL off-thread before any write
    // is acknowledged, so an acknowledged write survives power loss, not only a process crash.
    this.db.pragma('synchronous = NORMAL');
    this.migrate();
    const db = this.db;
    this.sql = {
      selectUser: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
      insertUser: db.prepare<[UserRow]>(
        `INSERT INTO users (username, signing_key, encryption_key, signing_key_thumbprint, encryption_key_thumbprint, registered_at)
         VALUES (@username, @signing_key, @encryption_key, @signing_key_thumbprint, @encryption_key_thumbprint, @registered_at)
         ON CONFLICT (username) DO NOTHING`,
      ),
      selectAccepted: db.prepare<[string, string], { id: string; sent_at: number }>(
        'SELECT id, sent_at FROM accepted WHERE sender = ? AND client_id = ?',
      ),
      insertAccepted: db.prepare('INSERT INTO accepted (sender, client_id, id, sent_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      selectUsage: db.prepare<[string], { count: number; bytes: number }>('SELECT count, bytes FROM queue_usage WHERE recipient = ?'),
      addUsage: db.prepare(
        `INSERT INTO queue_usage (recipient, count, bytes) VALUES (?, ?, ?)
         ON CONFLICT (recipient) DO UPDATE SET count = count + excluded.count, bytes = bytes + excluded.bytes`,
      ),
      selectPairUsage: db.prepare<[string, string], { count: number; bytes: number }>(
        'SELECT count, bytes FROM pair_usage WHERE recipient = ? AND sender = ?',
      ),
      addPairUsage: db.prepare(
        `INSERT INTO pair_usage (recipient, sender, count, bytes) VALUES (?, ?, ?, ?)
         ON CONFLICT (recipient, sender) DO UPDATE SET count = count + excluded.count, bytes = bytes + excluded.bytes`,
      ),
      selectServerUsage: db.prepare<[], { count: number; bytes: number }>('SELECT count, bytes FROM server_usage WHERE id = 1'),
      addServerUsage: db.prepare('UPDATE server_usage SET count = count + ?, bytes = bytes + ? WHERE id = 1'),
      expiredPairUsage: db.prepare<[number], { recipient: string; sender: string; count: number; bytes: number }>(
        'SELECT recipient, sender, count(*) AS count, sum(size) AS bytes FROM queue WHERE expires_at <= ? GROUP BY recipient, sender',
      ),
      deleteEmptyPairUsage: db.prepare('DELETE FROM pair_usage WHERE count <= 0'),
      insertQueued: db.prepare(
        `INSERT INTO queue (id, recipient, sender, client_id, sent_at, expires_at, size, envelope)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      selectPending: db.prepare<[string, number, number, number], QueueRow>(
        `SELECT seq, id, recipient, sender, client_id, sent_at, expires_at, envelope FROM queue
         WHERE recipient = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`,
      ),
      deleteQueued: db.prepare<[string, string], { sender: string; client_id: string; size: number }>(
        'DELETE FROM queue WHERE recipient = ? AND id = ? RETURNING sender, client_id, size',
      ),
      insertReceipt: db.prepare(
        'INSERT INTO receipts (sender, id, client_id, recipient, delivered_at, expires_at, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      selectReceipts: db.prepare<[string, number, number], ReceiptRow>(
        'SELECT seq, id, client_id, sender, recipient, delivered_at, status, reason FROM receipts WHERE sender = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      deleteReceipt: db.prepare('DELETE FROM receipts WHERE sender = ? AND id = ?'),
      expiredUsage: db.prepare<[number], { recipient: string; count: number; bytes: number }>(
        'SELECT recipient, count(*) AS count, sum(size) AS bytes FROM queue WHERE expires_at <= ? GROUP BY recipient',
      ),
      deleteExpiredQueue: db.prepare('DELETE FROM queue WHERE expires_at <= ?'),
      deleteExpiredAccepted: db.prepare('DELETE FROM accepted WHERE expires_at <= ?'),
      deleteExpiredReceipts: db.prepare('DELETE FROM receipts WHERE expires_at <= ?'),
      deleteEmptyUsage: db.prepare('DELETE FROM queue_usage WHERE count <= 0'),
    };
    this.preKeys = new SqlitePreKeyTables(db);
    this.walSync = new WalSync(`${this.path}-wal`);
    this.writes = new GroupCommit(
      (run) => this.db.transaction(run)(),
      () => this.walSync.sync(),
    );
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this server understands (${SQLITE_MIGRATIONS.length})`);
    }
    // IMMEDIATE: the write lock is held from the version check to the last migration.
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < SQLITE_MIGRATIONS.length; v++) this.db.exec(SQLITE_MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${Math.max(version, SQLITE_MIGRATIONS.length)}`);
      })
      .immediate();
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = this.sql.selectUser.get(username);
    return row ? userFromRow(row) : undefined;
  }

  async createUser(record: UserRecord): Promise<{ created: boolean; record: UserRecord }> {
    return this.writes.run(() => {
      const info = this.sql.insertUser.run({
        username: record.username,
        signing_key: JSON.stringify(record.signingKey),
        encryption_key: JSON.stringify(record.encryptionKey),
        signing_key_thumbprint: record.signingKeyThumbprint,
        encryption_key_thumbprint: record.encryptionKeyThumbprint,
        registered_at: record.registeredAt,
      });
      if (info.changes === 1) return { created: true, record };
      return { created: false, record: userFromRow(this.sql.selectUser.get(record.username)!) };
    });
  }

  enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void): Promise<EnqueueResult> {
    return this.writes.run((): EnqueueResult => {
      const earlier = this.sql.selectAccepted.get(input.sender, input.clientId);
      if (earlier) return { status: 'duplicate', id: earlier.id, sentAt: earlier.sent_at };
      const size = input.envelope.length;
      // Read and written in this one transaction: no other write can slip between the check and the insert.
      const refusal = quotaRefusal(input.sender, input.recipient, size, quota, {
        recipient: this.sql.selectUsage.get(input.recipient) ?? NO_USAGE,
        pair: this.sql.selectPairUsage.get(input.recipient, input.sender) ?? NO_USAGE,
        serverBytes: this.sql.selectServerUsage.get()!.bytes,
      });
      if (refusal) return refusal;
      const info = this.sql.insertQueued.run(
        input.id, input.recipient, input.sender, input.clientId, input.sentAt, input.expiresAt, size, input.envelope,
      );
      this.sql.insertAccepted.run(input.sender, input.clientId, input.id, input.sentAt, input.expiresAt);
      this.sql.addUsage.run(input.recipient, 1, size);
      this.sql.addPairUsage.run(input.recipient, input.sender, 1, size);
      this.sql.addServerUsage.run(1, size);
      return { status: 'stored', message: { ...input, seq: Number(info.lastInsertRowid) } };
    }, committed);
  }

  async pending(recipient: string, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    return this.sql.selectPending.all(recipient, afterSeq, now, limit).map(queuedFromRow);
  }

  acknowledge(
    recipient: string,
    settled: readonly Settlement[],
    now: number,
    receiptExpiresAt: number,
    committed?: (receipts: Receipt[]) => void,
  ): Promise<Receipt[]> {
    return this.writes.run(() => {
      const receipts: Receipt[] = [];
      for (const s of settled) {
        const id = settledId(s);
        const removed = this.sql.deleteQueued.get(recipient, id);
        if (!removed) continue; // already settled (another device, or a repeated ack)
        this.sql.addUsage.run(recipient, -1, -removed.size);
        this.sql.addPairUsage.run(recipient, removed.sender, -1, -removed.size);
        this.sql.addServerUsage.run(-1, -removed.size);
        const outcome = typeof s === 'string' ? { status: 'delivered' as const } : { status: 'unreadable' as const, reason: s.reason };
        const info = this.sql.insertReceipt.run(removed.sender, id, removed.client_id, recipient, now, receiptExpiresAt, outcome.status, outcome.reason ?? null);
        receipts.push({ seq: Number(info.lastInsertRowid), id, clientId: removed.client_id, sender: removed.sender, recipient, deliveredAt: now, ...outcome });
      }
      return receipts;
    }, committed);
  }

  async pendingReceipts(sender: string, afterSeq: number, limit: number): Promise<Receipt[]> {
    return this.sql.selectReceipts.all(sender, afterSeq, limit).map(receiptFromRow);
  }

  acknowledgeReceipts(sender: string, ids: readonly string[]): Promise<void> {
    return this.writes.run(() => {
      for (const id of ids) this.sql.deleteReceipt.run(sender, id);
    });
  }

  sweepExpired(now: number): Promise<number> {
    return this.writes.run(() => {
      for (const u of this.sql.expiredUsage.all(now)) this.sql.addUsage.run(u.recipient, -u.count, -u.bytes);
      for (const u of this.sql.expiredPairUsage.all(now)) {
        this.sql.addPairUsage.run(u.recipient, u.sender, -u.count, -u.bytes);
        this.sql.addServerUsage.run(-u.count, -u.bytes);
      }
      const removed = this.sql.deleteExpiredQueue.run(now).changes;
      this.sql.deleteExpiredAccepted.run(now);
      this.sql.deleteExpiredReceipts.run(now);
      this.sql.deleteEmptyUsage.run();
      this.sql.deleteEmptyPairUsage.run();
      return removed;
    });
  }

  async queueUsage(recipient: string): Promise<{ count: number; bytes: number }> {
    return this.sql.selectUsage.get(recipient) ?? { count: 0, bytes: 0 };
  }

  async senderQueueUsage(sender: string, recipient: string): Promise<{ count: number; bytes: number }> {
    return this.sql.selectPairUsage.get(recipient, sender) ?? { count: 0, bytes: 0 };
  }

  async serverQueueBytes(): Promise<number> {
    return this.sql.selectServerUsage.get()!.bytes;
  }

  putPreKeys(username: string, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult> {
    return this.writes.run(() => this.preKeys.put(username, upload, now));
  }

  async preKeyCounts(username: string): Promise<PreKeyCountResult> {
    return this.preKeys.counts(username);
  }

  takePreKeyBundle(username: string): Promise<TakenPreKeyBundle | undefined> {
    return this.writes.run(() => this.preKeys.take(username));
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    // Writes already requested commit and reach the disk; later ones are refused.
    await this.writes.close();
    await this.walSync.close();
    if (this.db.open) this.db.close();
  }
}
