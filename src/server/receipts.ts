/**
 * Receipts on the wire (design §8): each copy settled by its device, or dropped because the device was
 * removed, is owed to the address that sent it and pushed to that address's room. Protocol-2
 * connections get protocol 2's receipt (`toDevice`, `removed`); protocol-1 connections, which are always
 * device 1, get protocol 1's receipt exactly as before, and never a `removed` one: their schema has no
 * such status, and it is owed only for a copy to a device other than 1 (§8.2), which protocol 1 never
 * writes to (§5.9).
 */
import type { ReceiptEvent } from '../protocol/events.js';
import type { ReceiptEventV2 } from '../protocol/events-v2.js';
import { DELIVERY_BATCH } from '../protocol/limits.js';
import type { ChatIO, ConnectionState } from './connection.js';
import { addressRoom, PROTOCOL_1_ROOM, PROTOCOL_2_ROOM } from './rooms.js';
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

/** Pushes committed receipts to the sending addresses' rooms, on whatever node they are connected. */
export function pushReceipts(io: ChatIO, receipts: readonly Receipt[]): void {
  for (const r of receipts) {
    const room = addressRoom(r.sender, r.senderDevice);
    io.to(room).except(PROTOCOL_1_ROOM).emit('receipt', receiptEventV2(r));
    const v1 = r.senderDevice === PRIMARY_DEVICE ? receiptEventV1(r) : undefined;
    if (v1) io.to(room).except(PROTOCOL_2_ROOM).emit('receipt', v1);
  }
}

/** Hands a connection that just logged in every receipt its address is owed, oldest first. */
export async function sendOwedReceipts(store: ServerStore, conn: ConnectionState): Promise<void> {
  const username = conn.username!;
  const device = conn.device!;
  let after = 0;
  for (;;) {
    const batch = await store.pendingReceipts(username, device, after, DELIVERY_BATCH);
    for (const r of batch) {
      const event = conn.protocol === 1 ? receiptEventV1(r) : receiptEventV2(r);
      if (event) conn.socket.emit('receipt', event);
    }
    if (batch.length < DELIVERY_BATCH || !conn.socket.connected) return;
    after = batch[batch.length - 1]!.seq;
  }
}
