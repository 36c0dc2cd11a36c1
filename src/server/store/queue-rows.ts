/**
 * The rows of the queue and receipt tables as both SQL stores read them (sqlite-queue.ts,
 * postgres-queue.ts: the two schemas name and type these columns alike), and their conversion to the
 * ServerStore's records.
 */
import type { RejectReason } from '../../protocol/events.js';
import type { QueuedEnvelope, Receipt } from './server-store.js';

export interface QueueRow {
  seq: number;
  id: string;
  recipient: string;
  recipient_device: number;
  sender: string;
  sender_device: number;
  client_id: string;
  sent_at: number;
  expires_at: number;
  envelope: string;
}

export interface ReceiptRow {
  seq: number;
  id: string;
  client_id: string;
  sender: string;
  sender_device: number;
  recipient: string;
  recipient_device: number;
  delivered_at: number;
  status: string;
  reason: string | null;
}

/** A row that left the queue, for the usage it frees (and the receipt it may leave). */
export interface RemovedRow {
  seq: number;
  id: string;
  recipient: string;
  recipient_device: number;
  sender: string;
  sender_device: number;
  client_id: string;
  size: number;
}

export const queuedFromRow = (r: QueueRow): QueuedEnvelope => ({
  id: r.id,
  seq: r.seq,
  sender: r.sender,
  senderDevice: r.sender_device,
  recipient: r.recipient,
  recipientDevice: r.recipient_device,
  clientId: r.client_id,
  sentAt: r.sent_at,
  expiresAt: r.expires_at,
  envelope: r.envelope,
});

/** What a receipt says of its copy. */
export type Outcome = Pick<Receipt, 'status' | 'reason'>;

// Written by the stores only: status from a parsed ack or a device removal, reason from a RejectReason.
function outcomeFromRow(r: ReceiptRow): Outcome {
  if (r.status === 'unreadable') return { status: 'unreadable', reason: (r.reason ?? 'decryption_failed') as RejectReason };
  if (r.status === 'removed') return { status: 'removed' };
  return { status: 'delivered' };
}

export const receiptFromRow = (r: ReceiptRow): Receipt => ({
  seq: r.seq,
  id: r.id,
  clientId: r.client_id,
  sender: r.sender,
  senderDevice: r.sender_device,
  recipient: r.recipient,
  recipientDevice: r.recipient_device,
  deliveredAt: r.delivered_at,
  ...outcomeFromRow(r),
});

export const QUEUE_COLUMNS = 'seq, id, recipient, recipient_device, sender, sender_device, client_id, sent_at, expires_at, envelope';
export const RECEIPT_COLUMNS = 'seq, id, client_id, sender, sender_device, recipient, recipient_device, delivered_at, status, reason';
export const REMOVED_COLUMNS = 'seq, id, recipient, recipient_device, sender, sender_device, client_id, size';
