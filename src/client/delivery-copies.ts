/**
 * Per-device facts of a history record, read the same way whichever version wrote it. Records from before
 * devices name no device: an incoming one came from the sender's device 1, and an outgoing one had one
 * copy, to device 1 of its peer, whose state is the record's status (docs/design/devices-v2.md §10, §11.2).
 */
import { PRIMARY_DEVICE } from './address.js';
import type { CopyState, HistoryRecord } from './stores.js';

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
