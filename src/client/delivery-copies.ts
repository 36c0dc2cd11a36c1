/**
 * Per-device facts of a history record, read the same way whichever version wrote it. Records from before
 * devices name no device: an incoming one came from the sender's device 1, and an outgoing one had one
 * copy, to device 1 of its peer, whose state is the record's status (docs/design/devices-v2.md §10, §11.2).
 */
import { PRIMARY_DEVICE } from './address.js';
import type { CopyDelivery, CopyReceipt, CopyState, HistoryRecord } from './stores.js';

export type { CopyDelivery, CopyReceipt } from './stores.js';

/** The device of the peer that sent an incoming record. */
export const fromDeviceOf = (record: HistoryRecord): number => record.fromDevice ?? PRIMARY_DEVICE;

/** What one copy's state is, for a record that kept no per-device states (its status is the copy's). */
function singleCopyStatus(status: HistoryRecord['status']): CopyState['status'] {
  switch (status) {
    case 'sent':
    case 'queued':
    case 'delivered':
    case 'unreadable':
      return status;
    default:
      return 'outbox'; // not (or not yet) accepted by the server: outbox, failed
  }
}

/** The state of each device's copy of an outgoing record. */
export function copiesOf(record: HistoryRecord): CopyState[] {
  if (record.copies) return record.copies;
  const copy: CopyState = { to: record.peer, device: PRIMARY_DEVICE, status: singleCopyStatus(record.status) };
  if (record.serverId !== undefined) copy.serverId = record.serverId;
  if (record.reason !== undefined && copy.status === 'unreadable') copy.reason = record.reason;
  return [copy];
}

/**
 * The record's own status, from its copies to the peer (copies to the user's own devices are "synced",
 * not deliveries, §21.7; removed copies leave the count): delivered once any device has it, unreadable
 * only when every remaining device said so, else sent (pushed to some device) or queued. A read receipt
 * (the peer's own word) is never undone.
 */
function summarise(record: HistoryRecord): void {
  if (record.status === 'read') return;
  const counted = copiesOf(record).filter((c) => c.to === record.peer && c.status !== 'removed');
  const unreadable = counted.filter((c) => c.status === 'unreadable');
  if (counted.some((c) => c.status === 'delivered')) {
    record.status = 'delivered';
    delete record.reason;
  } else if (counted.length > 0 && unreadable.length === counted.length) {
    record.status = 'unreadable';
    record.reason = unreadable[0]!.reason ?? 'decryption_failed';
  } else if (counted.some((c) => c.status === 'sent')) record.status = 'sent';
  else if (counted.some((c) => c.status === 'queued')) record.status = 'queued';
}

/**
 * The server accepted the message: each copy's server id and status. A copy whose receipt came first
 * (another process of the user sent it, and the receipt overtook this answer) keeps its receipt's state.
 */
export function applyDeliveries(record: HistoryRecord, deliveries: readonly CopyDelivery[]): void {
  const before = new Map(copiesOf(record).map((c) => [`${c.to}/${c.device}`, c]));
  record.copies = deliveries.map((d) => {
    const earlier = before.get(`${d.to}/${d.device}`);
    const receipted = earlier && (earlier.status === 'delivered' || earlier.status === 'unreadable' || earlier.status === 'removed');
    return receipted ? { ...earlier, serverId: d.serverId } : { to: d.to, device: d.device, status: d.status, serverId: d.serverId };
  });
  const first = deliveries.find((d) => d.to === record.peer) ?? deliveries[0];
  if (first) {
    record.serverId = first.serverId;
    record.serverTime = first.serverTime;
  }
  summarise(record);
}

/**
 * A device's receipt for its copy. A receipt for a copy the record does not list (one from before this
 * client kept copies, or a send answer not yet recorded) adds it. False when nothing changed (a repeat).
 */
export function applyReceipt(record: HistoryRecord, copy: { to: string; device: number }, receipt: CopyReceipt): boolean {
  const copies = copiesOf(record).map((c) => ({ ...c }));
  let target = copies.find((c) => c.to === copy.to && c.device === copy.device);
  if (!target) {
    target = { to: copy.to, device: copy.device, status: 'outbox' };
    copies.push(target);
  }
  if (target.status === receipt.status && target.reason === receipt.reason) return false;
  // A delivered copy stays delivered: a later unreadable or removed receipt for it is a server's lie or a repeat.
  if (target.status === 'delivered') return false;
  target.status = receipt.status;
  if (receipt.status === 'unreadable') target.reason = receipt.reason ?? 'decryption_failed';
  else delete target.reason;
  record.copies = copies;
  summarise(record);
  return true;
}
