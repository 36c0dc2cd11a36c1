/**
 * History on link, the primary's side (docs/PROTOCOL.md §21.3.1, design §6.8): after `devices approve
 * <code> --history N`, the last N messages of every conversation go to the new device, oldest first, as
 * `history` messages sealed for that device alone and sent through the outbox like any message
 * (durable, acknowledged, retried, stored once per device by the server's idempotency).
 *
 * The records are read BEFORE the link runs, and exactly what was read is sent. So the count the
 * provisioning announces (`history.count`) is the number of items that follow, and no item can meet a
 * live copy of the same message at the new device: everything read was received or sent while the list
 * did not name the new device yet, so no copy of it ever went there. (A message that arrives during the
 * link's second or two, before the new list is published, reaches neither way.)
 *
 * Items are packed into as few messages as fit under the server's envelope cap (payload-budget.ts). A
 * record that does not fit in a message of its own is left out (its text alone is nearly the cap), as is
 * one the item schema refuses: the receiver would refuse the whole message for it.
 */
import { historyItemSchema, type HistoryItem } from '../e2ee/message-payload.js';
import { ChatError } from '../protocol/errors.js';
import { MAX_HISTORY_ON_LINK } from '../protocol/limits.js';
import type { ApprovedDevice } from './device-approval.js';
import type { MessageSealer } from './message-sealer.js';
import type { HistoryRecord, MessageStore } from './stores.js';

/** A linked device, with what was queued of the history asked for. */
export interface LinkedDevice extends ApprovedDevice {
  /** Records queued for the new device as history, oldest first; 0 without `history`. */
  readonly historySent: number;
  /** The outbox ids of the history messages, in sending order (each carries many records). */
  readonly historyMessages: readonly string[];
  /** Why the rest of the history was not queued; the device is linked all the same. */
  readonly historyError?: unknown;
}

export interface HistoryTransferDeps {
  readonly username: string;
  /** This device's id (the primary's): the payload's `fromDevice`. */
  readonly device: number;
  readonly messages: MessageStore;
  readonly sealer: Pick<MessageSealer, 'sealHistory' | 'maxPayloadBytes'>;
  /** Starts the outbox on what was queued. */
  readonly flush: () => void;
  readonly debug: (message: string, cause?: unknown) => void;
}

/** What one record says as a history item: its id, direction, peer, text and time (no attachment pointer). */
export const historyItemOf = (r: HistoryRecord): HistoryItem => ({ id: r.id, direction: r.direction, peer: r.peer, body: r.body, sentAt: r.sentAt });

const utf8Bytes = (text: string): number => new TextEncoder().encode(text).length;

/**
 * Packs items, in order, into as few groups as fit `maxPayloadBytes` once wrapped in a history payload
 * of `emptyPayloadBytes` (its JSON with no items). An item too large for a group of its own is left out.
 */
export function packHistory(items: readonly HistoryItem[], emptyPayloadBytes: number, maxPayloadBytes: number): { batches: HistoryItem[][]; leftOut: number } {
  const batches: HistoryItem[][] = [];
  let batch: HistoryItem[] = [];
  let bytes = emptyPayloadBytes;
  let leftOut = 0;
  for (const item of items) {
    const size = utf8Bytes(JSON.stringify(item));
    if (emptyPayloadBytes + size > maxPayloadBytes) {
      leftOut++;
      continue;
    }
    // Every item after the first costs a comma.
    if (batch.length > 0 && bytes + 1 + size > maxPayloadBytes) {
      batches.push(batch);
      batch = [];
      bytes = emptyPayloadBytes;
    }
    bytes += (batch.length > 0 ? 1 : 0) + size;
    batch.push(item);
  }
  if (batch.length > 0) batches.push(batch);
  return { batches, leftOut };
}

/**
 * The largest a history payload is with no items: the longest id (64 characters) and a sentAt of the
 * most digits a safe integer has, so that the real one is never longer.
 */
function emptyHistoryPayloadBytes(username: string, device: number): number {
  const widest = { v: 2, kind: 'history', from: username, fromDevice: device, to: username, id: 'x'.repeat(64), sentAt: Number.MAX_SAFE_INTEGER, items: [] };
  return utf8Bytes(JSON.stringify(widest));
}

/**
 * Approves a device (`approve`, told how many records follow) with the last `requested` records as
 * history: read and packed first, queued in order for the new device once it is linked, the outbox
 * started. A failure to queue them is reported in the result (and as debug), not thrown: the device is
 * linked by then, and what was queued still goes.
 */
export async function approveWithHistory(deps: HistoryTransferDeps, requested: number | undefined, approve: (count: number) => Promise<ApprovedDevice>): Promise<LinkedDevice> {
  const wanted = requested ?? 0;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > MAX_HISTORY_ON_LINK) {
    throw new ChatError('bad_request', `history must be a whole number from 0 to ${MAX_HISTORY_ON_LINK}`);
  }
  const records = (await deps.messages.recent(wanted)).map(historyItemOf);
  const items = records.filter((item) => historyItemSchema.safeParse(item).success);
  const packed = packHistory(items, emptyHistoryPayloadBytes(deps.username, deps.device), deps.sealer.maxPayloadBytes());
  const { batches } = packed;
  const leftOut = packed.leftOut + records.length - items.length;
  if (leftOut > 0) deps.debug(`${leftOut} record(s) that cannot go as history (too large, or not a valid item) were left out`);
  const approved = await approve(batches.reduce((n, b) => n + b.length, 0));
  const historyMessages: string[] = [];
  let historySent = 0;
  try {
    for (const batch of batches) {
      historyMessages.push(await deps.sealer.sealHistory(approved.device, batch));
      historySent += batch.length;
    }
  } catch (historyError) {
    deps.debug(`the history for device ${approved.device} was queued in part (${historySent} records)`, historyError);
    return { ...approved, historySent, historyMessages, historyError };
  } finally {
    if (historyMessages.length > 0) deps.flush();
  }
  return { ...approved, historySent, historyMessages };
}
