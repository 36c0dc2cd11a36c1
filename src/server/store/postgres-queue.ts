/**
 * The queue, idempotency and receipt tables of the PostgreSQL store, per address: the reads, and the
 * writes other than sends (postgres-send-batch.ts writes those). Each write method takes the client of
 * a transaction the caller opened (postgres-pool.ts), so an ack's deletions and receipts commit together.
 */
import type pg from 'pg';
import { QUEUE_COLUMNS, queuedFromRow, RECEIPT_COLUMNS, receiptForRemoved, receiptFromRow, REMOVED_COLUMNS, type Outcome, type QueueRow, type ReceiptRow, type RemovedRow } from './sql-rows.js';
import { isGroupRefClientId } from './group-deliveries.js';
import { applyUsage, type UsageDelta } from './postgres-usage.js';
import {
  type AcceptedCopy,
  type CopyAddress,
  type QueuedEnvelope,
  type Receipt,
  type Settlement,
  settledId,
} from './server-store.js';

const freed = (rows: readonly RemovedRow[]): UsageDelta[] =>
  rows.map((r) => ({ recipient: r.recipient, device: r.recipient_device, sender: r.sender, count: -1, bytes: -r.size }));

const bySeq = (a: { seq: number }, b: { seq: number }) => a.seq - b.seq;

type Db = pg.Pool | pg.PoolClient;

export async function acceptedCopies(db: Db, sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Promise<Array<AcceptedCopy | undefined>> {
  const { rows } = await db.query<{ recipient: string; recipient_device: number; id: string; sent_at: number }>(
    `SELECT recipient, recipient_device, id, sent_at FROM accepted
     WHERE sender = $1 AND sender_device = $2 AND client_id = $3 AND recipient = ANY($4::text[])`,
    [sender, senderDevice, clientId, [...new Set(recipients.map((r) => r.recipient))]],
  );
  return recipients.map((r) => {
    const row = rows.find((x) => x.recipient === r.recipient && x.recipient_device === r.recipientDevice);
    return row && { id: row.id, sentAt: row.sent_at };
  });
}

export async function pending(db: Db, recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
  const { rows } = await db.query<QueueRow>(
    `SELECT ${QUEUE_COLUMNS} FROM queue
     WHERE recipient = $1 AND recipient_device = $2 AND seq > $3 AND expires_at > $4 ORDER BY seq LIMIT $5`,
    [recipient, device, afterSeq, now, limit],
  );
  return rows.map(queuedFromRow);
}

/** Inserts one receipt per row, in the order given (their seqs follow it). */
async function owe(client: pg.PoolClient, rows: readonly RemovedRow[], outcomes: readonly Outcome[], now: number, expiresAt: number): Promise<Receipt[]> {
  const receipts: Receipt[] = [];
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k]!;
    const outcome = outcomes[k]!;
    const { rows: inserted } = await client.query<{ seq: number }>(
      `INSERT INTO receipts (sender, sender_device, id, client_id, recipient, recipient_device, delivered_at, expires_at, status, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq`,
      [r.sender, r.sender_device, r.id, r.client_id, r.recipient, r.recipient_device, now, expiresAt, outcome.status, outcome.reason ?? null],
    );
    receipts.push(receiptForRemoved(r, inserted[0]!.seq, now, outcome));
  }
  return receipts;
}

/**
 * Call inside a transaction. Each settled copy is deleted by its own statement: two nodes settling the
 * same copy (a repeated ack) wait on the row, and only the one whose DELETE returns it owes a receipt.
 */
export async function acknowledge(client: pg.PoolClient, recipient: string, device: number, settled: readonly Settlement[], now: number, receiptExpiresAt: number): Promise<Receipt[]> {
  const removed: RemovedRow[] = [];
  const outcomes: Outcome[] = [];
  for (const s of settled) {
    const { rows } = await client.query<RemovedRow>(
      `DELETE FROM queue WHERE recipient = $1 AND recipient_device = $2 AND id = $3 RETURNING ${REMOVED_COLUMNS}`,
      [recipient, device, settledId(s)],
    );
    if (rows.length === 0) continue; // already settled (a repeated ack), or not this device's copy
    removed.push(rows[0]!);
    outcomes.push(typeof s === 'string' ? { status: 'delivered' } : { status: 'unreadable', reason: s.reason });
  }
  // All row locks first, then the usage rows in their global order (postgres-usage.ts).
  await applyUsage(client, freed(removed));
  // A group reference owes no receipt (group-deliveries.ts).
  const owing = removed.flatMap((r, k) => (isGroupRefClientId(r.client_id) ? [] : [k]));
  return owe(client, owing.map((k) => removed[k]!), owing.map((k) => outcomes[k]!), now, receiptExpiresAt);
}

export async function pendingReceipts(db: Db, sender: string, senderDevice: number, afterSeq: number, limit: number): Promise<Receipt[]> {
  const { rows } = await db.query<ReceiptRow>(
    `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE sender = $1 AND sender_device = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
    [sender, senderDevice, afterSeq, limit],
  );
  return rows.map(receiptFromRow);
}

/** One statement: autocommit makes it its own transaction. */
export async function acknowledgeReceipts(db: Db, sender: string, senderDevice: number, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query('DELETE FROM receipts WHERE sender = $1 AND sender_device = $2 AND id = ANY($3::text[])', [sender, senderDevice, ids]);
}

/**
 * Call inside a transaction. A removed device's queue leaves, each copy owing its sender a `removed`
 * receipt; so do the undelivered envelopes it sent (no receipt: their sender is gone). Both deletions
 * run before any usage row is touched (the lock order). Returns the receipts written.
 */
export async function removeDeviceQueues(client: pg.PoolClient, username: string, device: number, now: number, receiptExpiresAt: number): Promise<Receipt[]> {
  const waiting = (await client.query<RemovedRow>(`DELETE FROM queue WHERE recipient = $1 AND recipient_device = $2 RETURNING ${REMOVED_COLUMNS}`, [username, device])).rows;
  // RETURNING gives rows in no promised order: receipts are owed in the order the copies were queued.
  waiting.sort(bySeq);
  const sent = (await client.query<RemovedRow>(`DELETE FROM queue WHERE sender = $1 AND sender_device = $2 RETURNING ${REMOVED_COLUMNS}`, [username, device])).rows;
  await applyUsage(client, freed([...waiting, ...sent]));
  const owing = waiting.filter((r) => !isGroupRefClientId(r.client_id));
  return owe(client, owing, owing.map(() => ({ status: 'removed' })), now, receiptExpiresAt);
}

/** Call inside a transaction. Returns the ids of the receipts that were owed. */
export async function removeReceiptsOwedTo(client: pg.PoolClient, username: string, device: number): Promise<Set<string>> {
  const { rows } = await client.query<{ id: string }>('DELETE FROM receipts WHERE sender = $1 AND sender_device = $2 RETURNING id', [username, device]);
  return new Set(rows.map((r) => r.id));
}

/** Call inside a transaction. */
export async function sweepExpired(client: pg.PoolClient, now: number): Promise<number> {
  const gone = (await client.query<RemovedRow>(`DELETE FROM queue WHERE expires_at <= $1 RETURNING ${REMOVED_COLUMNS}`, [now])).rows;
  await applyUsage(client, freed(gone));
  await client.query('DELETE FROM accepted WHERE expires_at <= $1', [now]);
  await client.query('DELETE FROM receipts WHERE expires_at <= $1', [now]);
  // Rows at zero are dropped (a send recreates them); a row another transaction has locked is left for
  // the next sweep rather than waited for.
  for (const table of ['device_usage', 'user_usage', 'pair_usage']) {
    await client.query(`DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE count <= 0 FOR UPDATE SKIP LOCKED)`);
  }
  return gone.length;
}
