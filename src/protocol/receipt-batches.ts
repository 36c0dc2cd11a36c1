/**
 * Receipts in batches (docs/PROTOCOL.md §7.12). A client that says so when it connects gets the receipts
 * of one acknowledgement (and those owed at login) in one `receipts` event instead of one `receipt`
 * event each: one frame where a busy conversation would cost one per message. It is asked for in the
 * Socket.IO handshake, not in `login`, so a client can ask any server: an older server ignores the
 * handshake's data and keeps sending single `receipt` events, which such a client must still accept.
 */
/** The member of the Socket.IO handshake's `auth` object that asks for batches; its value must be `true`. */
export const RECEIPT_BATCHES_HANDSHAKE = 'receiptBatches';

/**
 * Most receipts in one `receipts` event. An `ack` settles at most 2,000 envelopes (`ids` and `rejected`,
 * 1,000 each), so a batch is one ack's receipts for one sending address, split at this size.
 */
export const MAX_RECEIPTS_PER_EVENT = 1000;

/** Whether a connection's handshake data asked for batches (anything but `true` does not). */
export function asksForReceiptBatches(auth: unknown): boolean {
  return typeof auth === 'object' && auth !== null && (auth as Record<string, unknown>)[RECEIPT_BATCHES_HANDSHAKE] === true;
}
