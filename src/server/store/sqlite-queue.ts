/**
 * The queue, idempotency and receipt tables of the SQLite store (migrations 2, 4, 5, 6, 7), kept per
 * address; the queue's usage figures are in memory (usage-counters.ts). Statements only: the caller runs each write method inside its write transaction, so a
 * send's quota checks and inserts, or an ack's deletions and receipts, commit together.
 */
import type Database from 'better-sqlite3';
import { QUEUE_COLUMNS, queuedFromRow, RECEIPT_COLUMNS, receiptForRemoved, receiptFromRow, REMOVED_COLUMNS, type QueueRow, type ReceiptRow, type RemovedRow } from './sql-rows.js';
import { isGroupRefClientId } from './group-deliveries.js';
import { assertDistinctCopies, envelopeSize, QuotaCheck, type Usage } from './quota.js';
import type { UsageCounters } from './usage-counters.js';
import { settledId, type AcceptedCopy, type CopyAddress, type EnqueueInput, type EnqueueManyResult, type EnqueuedCopy, type QueueQuota, type QueuedEnvelope, type Receipt, type Settlement } from './server-store.js';


export class SqliteQueueTables {
  private readonly sql;
  /**
   * Whether v0.1's idempotency table still holds records. Nothing writes it any more (its rows only
   * expire), so once the sweep finds it empty a device-1 send skips that second lookup for good.
   */
  private acceptedV1Left: boolean;

  constructor(
    db: Database.Database,
    /** Queue usage, kept in memory (usage-counters.ts); this class changes it with every row it adds or removes. */
    private readonly usage: UsageCounters,
  ) {
    this.sql = {
      selectAccepted: db.prepare<[string, number, string, string, number], { id: string; sent_at: number }>(
        `SELECT id, sent_at FROM accepted2
         WHERE sender = ? AND sender_device = ? AND client_id = ? AND recipient = ? AND recipient_device = ?`,
      ),
      // v0.1's records (migration 2) hold no recipient: read only, for (sender, 1) → (*, 1), until they expire.
      selectAcceptedV1: db.prepare<[string, string], { id: string; sent_at: number }>('SELECT id, sent_at FROM accepted WHERE sender = ? AND client_id = ?'),
      insertAccepted: db.prepare(
        `INSERT INTO accepted2 (sender, sender_device, client_id, recipient, recipient_device, id, sent_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertQueued: db.prepare(
        `INSERT INTO queue (id, recipient, recipient_device, sender, sender_device, client_id, sent_at, expires_at, size, envelope)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      selectPending: db.prepare<[string, number, number, number, number], QueueRow>(
        `SELECT ${QUEUE_COLUMNS} FROM queue
         WHERE recipient = ? AND recipient_device = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`,
      ),
      deleteQueued: db.prepare<[string, number, string], RemovedRow>(
        `DELETE FROM queue WHERE recipient = ? AND recipient_device = ? AND id = ? RETURNING ${REMOVED_COLUMNS}`,
      ),
      deleteQueuedFor: db.prepare<[string, number], RemovedRow>(`DELETE FROM queue WHERE recipient = ? AND recipient_device = ? RETURNING ${REMOVED_COLUMNS}`),
      deleteQueuedFromTo: db.prepare<[string, number, string, number], RemovedRow>(
        `DELETE FROM queue WHERE recipient = ? AND recipient_device = ? AND sender = ? AND sender_device = ? RETURNING ${REMOVED_COLUMNS}`,
      ),
      insertReceipt: db.prepare(
        `INSERT INTO receipts (sender, sender_device, id, client_id, recipient, recipient_device, delivered_at, expires_at, status, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      selectReceipts: db.prepare<[string, number, number, number], ReceiptRow>(
        `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE sender = ? AND sender_device = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      deleteReceipt: db.prepare('DELETE FROM receipts WHERE sender = ? AND sender_device = ? AND id = ?'),
      deleteReceiptsOwedTo: db.prepare<[string, number], { id: string }>('DELETE FROM receipts WHERE sender = ? AND sender_device = ? RETURNING id'),
      anyAcceptedV1: db.prepare<[], { one: number }>('SELECT 1 AS one FROM accepted LIMIT 1'),
      expiredUsage: db.prepare<[number], { recipient: string; recipient_device: number; sender: string; count: number; bytes: number }>(
        `SELECT recipient, recipient_device, sender, count(*) AS count, sum(size) AS bytes FROM queue
         WHERE expires_at <= ? GROUP BY recipient, recipient_device, sender`,
      ),
      deleteExpiredQueue: db.prepare('DELETE FROM queue WHERE expires_at <= ?'),
      deleteExpiredAccepted: db.prepare('DELETE FROM accepted2 WHERE expires_at <= ?'),
      deleteExpiredAcceptedV1: db.prepare('DELETE FROM accepted WHERE expires_at <= ?'),
      deleteExpiredReceipts: db.prepare('DELETE FROM receipts WHERE expires_at <= ?'),
    };
    this.acceptedV1Left = this.sql.anyAcceptedV1.get() !== undefined;
  }

  acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Array<AcceptedCopy | undefined> {
    return recipients.map((r) => {
      const record = this.accepted({ sender, senderDevice, clientId, ...r });
      return record && { id: record.id, sentAt: record.sent_at };
    });
  }

  private accepted(i: Pick<EnqueueInput, 'sender' | 'senderDevice' | 'clientId' | 'recipient' | 'recipientDevice'>): { id: string; sent_at: number } | undefined {
    const record = this.sql.selectAccepted.get(i.sender, i.senderDevice, i.clientId, i.recipient, i.recipientDevice);
    if (record || !this.acceptedV1Left || i.senderDevice !== 1 || i.recipientDevice !== 1) return record;
    return this.sql.selectAcceptedV1.get(i.sender, i.clientId);
  }

  /** Call inside a write transaction. Checks every new copy before inserting any: a refusal stores nothing. */
  enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota): EnqueueManyResult {
    assertDistinctCopies(inputs);
    const earlier = inputs.map((i) => this.accepted(i));
    const check = new QuotaCheck(quota, this.usage);
    for (let k = 0; k < inputs.length; k++) {
      const refusal = earlier[k] ? undefined : check.admit(inputs[k]!);
      if (refusal) return refusal;
    }
    const copies = inputs.map((i, k): EnqueuedCopy => {
      const e = earlier[k];
      return e ? { status: 'duplicate', id: e.id, sentAt: e.sent_at } : { status: 'stored', message: this.insert(i) };
    });
    return { status: 'accepted', copies };
  }

  private insert(i: EnqueueInput): QueuedEnvelope {
    const size = envelopeSize(i);
    const info = this.sql.insertQueued.run(i.id, i.recipient, i.recipientDevice, i.sender, i.senderDevice, i.clientId, i.sentAt, i.expiresAt, size, i.envelope);
    this.sql.insertAccepted.run(i.sender, i.senderDevice, i.clientId, i.recipient, i.recipientDevice, i.id, i.sentAt, i.expiresAt);
    this.addUsage(i.recipient, i.recipientDevice, i.sender, 1, size);
    return { ...i, seq: Number(info.lastInsertRowid) };
  }

  private addUsage(recipient: string, device: number, sender: string, count: number, bytes: number): void {
    this.usage.add(recipient, device, sender, count, bytes);
  }

  /** Frees what removed rows used, one update per (recipient device, sender): a removed device's queue may be long. */
  private release(rows: readonly RemovedRow[]): void {
    const groups = new Map<string, { row: RemovedRow; count: number; bytes: number }>();
    for (const r of rows) {
      const key = `${r.recipient}\n${r.recipient_device}\n${r.sender}`;
      const g = groups.get(key) ?? { row: r, count: 0, bytes: 0 };
      g.count++;
      g.bytes += r.size;
      groups.set(key, g);
    }
    for (const { row, count, bytes } of groups.values()) this.addUsage(row.recipient, row.recipient_device, row.sender, -count, -bytes);
  }

  pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): QueuedEnvelope[] {
    return this.sql.selectPending.all(recipient, device, afterSeq, now, limit).map(queuedFromRow);
  }

  private owe(r: RemovedRow, now: number, expiresAt: number, outcome: Pick<Receipt, 'status' | 'reason'>): Receipt {
    const info = this.sql.insertReceipt.run(r.sender, r.sender_device, r.id, r.client_id, r.recipient, r.recipient_device, now, expiresAt, outcome.status, outcome.reason ?? null);
    return receiptForRemoved(r, Number(info.lastInsertRowid), now, outcome);
  }

  /** Call inside a write transaction. */
  acknowledge(recipient: string, device: number, settled: readonly Settlement[], now: number, receiptExpiresAt: number): Receipt[] {
    const receipts: Receipt[] = [];
    for (const s of settled) {
      const removed = this.sql.deleteQueued.get(recipient, device, settledId(s));
      if (!removed) continue; // already settled (a repeated ack), or not this device's copy
      this.release([removed]);
      if (isGroupRefClientId(removed.client_id)) continue; // a group reference owes no receipt (group-deliveries.ts)
      receipts.push(this.owe(removed, now, receiptExpiresAt, typeof s === 'string' ? { status: 'delivered' } : { status: 'unreadable', reason: s.reason }));
    }
    return receipts;
  }

  pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number): Receipt[] {
    return this.sql.selectReceipts.all(sender, senderDevice, afterSeq, limit).map(receiptFromRow);
  }

  /** Call inside a write transaction. */
  acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]): void {
    for (const id of ids) this.sql.deleteReceipt.run(sender, senderDevice, id);
  }

  /**
   * Call inside a write transaction. A removed device's queue leaves, each copy owing its sender a
   * `removed` receipt; so do the undelivered envelopes it sent (no receipt: their sender is gone).
   * Returns the receipts written.
   */
  removeDeviceQueues(username: string, device: number, now: number, receiptExpiresAt: number): Receipt[] {
    // RETURNING gives rows in no promised order: receipts are owed in the order the copies were queued.
    const waiting = this.sql.deleteQueuedFor.all(username, device).sort((a, b) => a.seq - b.seq);
    this.release(waiting);
    const receipts = waiting.filter((r) => !isGroupRefClientId(r.client_id)).map((r) => this.owe(r, now, receiptExpiresAt, { status: 'removed' }));
    for (const to of this.usage.pairsFrom(username)) {
      this.release(this.sql.deleteQueuedFromTo.all(to.recipient, to.device, username, device));
    }
    return receipts;
  }

  /** Call inside a write transaction. Returns the ids of the receipts that were owed. */
  removeReceiptsOwedTo(username: string, device: number): Set<string> {
    return new Set(this.sql.deleteReceiptsOwedTo.all(username, device).map((r) => r.id));
  }

  /** Call inside a write transaction. */
  sweepExpired(now: number): number {
    for (const u of this.sql.expiredUsage.all(now)) this.addUsage(u.recipient, u.recipient_device, u.sender, -u.count, -u.bytes);
    const removed = this.sql.deleteExpiredQueue.run(now).changes;
    this.sql.deleteExpiredAccepted.run(now);
    if (this.acceptedV1Left) {
      this.sql.deleteExpiredAcceptedV1.run(now);
      // Read after the deletion, inside the transaction; a rollback leaves the flag true (harmless: one lookup more).
      this.acceptedV1Left = this.sql.anyAcceptedV1.get() !== undefined;
    }
    this.sql.deleteExpiredReceipts.run(now);
    return removed;
  }

  userUsage(recipient: string): Usage {
    return this.usage.user(recipient);
  }

  deviceUsage(recipient: string, device: number): Usage {
    return this.usage.device(recipient, device);
  }

  pairUsage(sender: string, recipient: string, device: number): Usage {
    return this.usage.pair(recipient, device, sender);
  }

  serverBytes(): number {
    return this.usage.serverBytes();
  }
}
