/**
 * Receipts on the wire (design §8): each copy settled by its device, or dropped because the device was
 * removed, is owed to the address that sent it and pushed to that address's connections. Protocol-2
 * connections get protocol 2's receipt (`toDevice`, `removed`); protocol-1 connections, which are always
 * device 1, get protocol 1's receipt exactly as before, and never a `removed` one: their schema has no
 * such status, and it is owed only for a copy to a device other than 1 (§8.2), which protocol 1 never
 * writes to (§5.9). A connection that asked for batches (docs/PROTOCOL.md §7.12) gets the receipts of one
 * acknowledgement in one `receipts` event.
 */
import type { ReceiptEvent } from '../protocol/events.js';
import type { ReceiptEventV2 } from '../protocol/events-v2.js';
import { DELIVERY_BATCH } from '../protocol/limits.js';
import { MAX_RECEIPTS_PER_EVENT } from '../protocol/receipt-batches.js';
import type { ChatIO, ConnectionState } from './connection.js';
import { receiptRoom } from './rooms.js';
import { PRIMARY_DEVICE, type Receipt, type ServerStore } from './store/server-store.js';

export function receiptEventV2(r: Receipt): ReceiptEventV2 {
  return {
    id: r.id,
    clientId: r.clientId,
    to: r.recipient,
    toDevice: r.recipientDevice,
    deliveredAt: r.deliveredAt,
    status: r.status,
    ...(r.status === 'unreadable' && r.reason && { reason: r.reason }),
  };
}

/** Protocol 1's receipt, or undefined for one it has no words for (`removed`). */
export function receiptEventV1(r: Receipt): ReceiptEvent | undefined {
  if (r.status === 'removed') return undefined;
  return {
    id: r.id,
    clientId: r.clientId,
    to: r.recipient,
    deliveredAt: r.deliveredAt,
    status: r.status,
    ...(r.status === 'unreadable' && r.reason && { reason: r.reason }),
  };
}

/** The receipts owed to one sending address, in the order they were written. */
function bySendingAddress(receipts: readonly Receipt[]): Map<string, Receipt[]> {
  const groups = new Map<string, Receipt[]>();
  for (const r of receipts) {
    const key = `${r.senderDevice}/${r.sender}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  return groups;
}

function* chunks<T>(items: readonly T[], size: number): Iterable<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * Pushes committed receipts to the sending addresses' connections, on whatever node they are connected:
 * per address, one event per receipt to the connections that take them singly, and one `receipts`
 * event per MAX_RECEIPTS_PER_EVENT to those that asked for batches. An empty room costs a map lookup.
 */
export function pushReceipts(io: ChatIO, receipts: readonly Receipt[]): void {
  for (const group of bySendingAddress(receipts).values()) {
    const { sender, senderDevice } = group[0]!;
    const v2 = group.map(receiptEventV2);
    for (const r of v2) io.to(receiptRoom(sender, senderDevice, 2, false)).emit('receipt', r);
    for (const batch of chunks(v2, MAX_RECEIPTS_PER_EVENT)) io.to(receiptRoom(sender, senderDevice, 2, true)).emit('receipts', { receipts: batch });
    if (senderDevice !== PRIMARY_DEVICE) continue;
    const v1 = group.map(receiptEventV1).filter((r): r is ReceiptEvent => r !== undefined);
    if (v1.length === 0) continue;
    for (const r of v1) io.to(receiptRoom(sender, senderDevice, 1, false)).emit('receipt', r);
    for (const batch of chunks(v1, MAX_RECEIPTS_PER_EVENT)) io.to(receiptRoom(sender, senderDevice, 1, true)).emit('receipts', { receipts: batch });
  }
}

/** Hands a connection that just logged in every receipt its address is owed, oldest first. */
export async function sendOwedReceipts(store: ServerStore, conn: ConnectionState): Promise<void> {
  const username = conn.username!;
  const device = conn.device!;
  let after = 0;
  for (;;) {
    const batch = await store.pendingReceipts(username, device, after, DELIVERY_BATCH);
    const events: { receipts: ReceiptEvent[] } | { receipts: ReceiptEventV2[] } =
      conn.protocol === 1
        ? { receipts: batch.map(receiptEventV1).filter((e): e is ReceiptEvent => e !== undefined) }
        : { receipts: batch.map(receiptEventV2) };
    if (conn.receiptBatches) {
      // DELIVERY_BATCH is under MAX_RECEIPTS_PER_EVENT: one event per batch read.
      if (events.receipts.length > 0) conn.socket.emit('receipts', events);
    } else {
      for (const event of events.receipts) conn.socket.emit('receipt', event);
    }
    if (batch.length < DELIVERY_BATCH || !conn.socket.connected) return;
    after = batch[batch.length - 1]!.seq;
  }
}
