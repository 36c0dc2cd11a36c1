/**
 * The queue, idempotency and receipt tables of the PostgreSQL store, per address: the reads, and the
 * writes other than sends (postgres-send-batch.ts writes those). Each write method takes the client of
 * a transaction the caller opened (postgres-pool.ts), so an ack's deletions and receipts commit together
 * (and several acks' together: the store writes them in batches, as it writes sends).
 */
import type pg from 'pg';
import { QUEUE_COLUMNS, queuedFromRow, RECEIPT_COLUMNS, receiptForRemoved, receiptFromRow, REMOVED_COLUMNS, type Outcome, type QueueRow, type ReceiptRow, type RemovedRow } from './sql-rows.js';
import { GROUP_REF_CLIENT_ID_PREFIX, isGroupRefClientId } from './group-deliveries.js';
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

/** One `ack` event as the store takes it: one recipient device settling some of its copies. */
export interface AckRequest {
  recipient: string;
  device: number;
  settled: readonly Settlement[];
  now: number;
  receiptExpiresAt: number;
}

/** A copy an ack claims to settle, the first time the batch names it, with what its receipt would say. */
interface Claim {
  ack: number;
  recipient: string;
  device: number;
  id: string;
  outcome: Outcome;
  now: number;
  receiptExpiresAt: number;
}

const claimKey = (recipient: string, device: number, id: string) => `${recipient}\n${device}\n${id}`;

/**
 * Each copy once, for the first ack (and the first settlement in it) that names it: a repeated id, in
 * one ack or in two of a batch, settles the copy once, as the first of them, exactly as the acks run
 * one after another in their order would.
 */
function claimsOf(acks: readonly AckRequest[]): Claim[] {
  const claims = new Map<string, Claim>();
  acks.forEach((a, ack) => {
    for (const s of a.settled) {
      const key = claimKey(a.recipient, a.device, settledId(s));
      if (claims.has(key)) continue;
      const outcome: Outcome = typeof s === 'string' ? { status: 'delivered' } : { status: 'unreadable', reason: s.reason };
      claims.set(key, { ack, recipient: a.recipient, device: a.device, id: settledId(s), outcome, now: a.now, receiptExpiresAt: a.receiptExpiresAt });
    }
  });
  return [...claims.values()];
}

interface GoneRow extends RemovedRow {
  /** The seq of the receipt its deletion owes, null for a group reference (it owes none). */
  receipt_seq: number | null;
}

/**
 * Call inside a transaction. Settles the copies of several acks (each one recipient device's) and
 * returns each ack's receipts, in the order of its settlements. One statement deletes every claimed copy
 * and writes the receipts; then the usage, one statement per table.
 *
 * The copies are locked in seq order (the FOR UPDATE under ORDER BY) before any is deleted: two acks of
 * overlapping copies (a repeated ack on two nodes) take their locks in one order and never wait on each
 * other in a cycle. The later one finds the rows gone once the first commits (READ COMMITTED re-checks a
 * row it waited for, and skips one deleted meanwhile), so only the transaction whose DELETE returned a
 * copy owes its receipt. The receipts are inserted in the order of the claims (acks in arrival order,
 * each in the order of its settlements), so their seqs follow it. All queue row locks come before the
 * usage rows, which are then changed in their global order (postgres-usage.ts).
 */
export async function acknowledgeBatch(client: pg.PoolClient, acks: readonly AckRequest[]): Promise<Receipt[][]> {
  const receipts: Receipt[][] = acks.map(() => []);
  const claims = claimsOf(acks);
  if (claims.length === 0) return receipts;
  const col = <T>(f: (c: Claim) => T) => claims.map(f);
  const { rows } = await client.query<GoneRow>(
    `WITH claims AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
         WITH ORDINALITY AS c(recipient, recipient_device, id, status, reason, delivered_at, expires_at, n)),
     doomed AS (
       SELECT q.seq FROM queue q JOIN claims c USING (recipient, recipient_device, id) ORDER BY q.seq FOR UPDATE OF q),
     gone AS (
       DELETE FROM queue q USING doomed WHERE q.seq = doomed.seq RETURNING ${qualified('q', REMOVED_COLUMNS)}),
     owed AS (
       INSERT INTO receipts (sender, sender_device, id, client_id, recipient, recipient_device, delivered_at, expires_at, status, reason)
       SELECT g.sender, g.sender_device, g.id, g.client_id, g.recipient, g.recipient_device, c.delivered_at, c.expires_at, c.status, c.reason
       FROM gone g JOIN claims c USING (recipient, recipient_device, id)
       WHERE NOT starts_with(g.client_id, $8)
       ORDER BY c.n RETURNING id, seq)
     SELECT ${qualified('g', REMOVED_COLUMNS)}, o.seq AS receipt_seq FROM gone g LEFT JOIN owed o USING (id)`,
    [
      col((c) => c.recipient),
      col((c) => c.device),
      col((c) => c.id),
      col((c) => c.outcome.status),
      col((c) => c.outcome.reason ?? null),
      col((c) => c.now),
      col((c) => c.receiptExpiresAt),
      GROUP_REF_CLIENT_ID_PREFIX,
    ],
  );
  await applyUsage(client, freed(rows));
  const gone = new Map(rows.map((r) => [claimKey(r.recipient, r.recipient_device, r.id), r]));
  for (const c of claims) {
    const row = gone.get(claimKey(c.recipient, c.device, c.id));
    // Not deleted here: already settled (a repeated ack), not this device's copy, or unknown.
    if (!row || row.receipt_seq === null) continue;
    receipts[c.ack]!.push(receiptForRemoved(row, row.receipt_seq, c.now, c.outcome));
  }
  return receipts;
}

const qualified = (table: string, columns: string) => columns.split(', ').map((c) => `${table}.${c}`).join(', ');

export async function pendingReceipts(db: Db, sender: string, senderDevice: number, afterSeq: number, limit: number): Promise<Receipt[]> {
  const { rows } = await db.query<ReceiptRow>(
    `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE sender = $1 AND sender_device = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
    [sender, senderDevice, afterSeq, limit],
  );
  return rows.map(receiptFromRow);
}

/** The receipts one `ack` event says its sending address has seen (by envelope id). */
export interface SeenReceipts {
  sender: string;
  senderDevice: number;
  ids: readonly string[];
}

/**
 * One statement for the receipts several acks saw; autocommit makes it its own transaction, and a
 * statement is not retried, so the rows are locked in seq order before any is deleted: two nodes
 * forgetting overlapping receipts (a repeated ack) never deadlock. A receipt named twice goes once.
 */
export async function acknowledgeReceiptsBatch(db: Db, acks: readonly SeenReceipts[]): Promise<void> {
  const seen = acks.flatMap((a) => a.ids.map((id) => ({ sender: a.sender, device: a.senderDevice, id })));
  if (seen.length === 0) return;
  await db.query(
    `DELETE FROM receipts WHERE seq IN (
       SELECT r.seq FROM receipts r JOIN unnest($1::text[], $2::int[], $3::text[]) AS k(sender, sender_device, id) USING (sender, sender_device, id)
       ORDER BY r.seq FOR UPDATE OF r)`,
    [seen.map((s) => s.sender), seen.map((s) => s.device), seen.map((s) => s.id)],
  );
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
