/**
 * The receiving side of history on link (docs/PROTOCOL.md §21.3.1): the primary of this user sends the
 * device it just linked its recent messages, as `history` payloads. Each item becomes a history record,
 * displayed (it is the past, not news: nothing is announced) and only where no record of its id and
 * direction exists, so a second delivery, or an item this device already had as a live copy, records
 * nothing twice.
 *
 * Who may send it is settled before: the route check admits a history payload only when it names this
 * user at both ends (payloadMatchesRoute), and the sending device must be in this user's verified list
 * like any sender (inbound.ts). Only this user's own devices can write as this user.
 */
import type { HistoryItem, HistoryPayload } from '../e2ee/message-payload.js';
import type { HistoryRecord, MessageStore } from './stores.js';

/** A history message as handled: how many items it carried and how many of them were new here. */
export interface HistoryReceived {
  /** The history message's own id (one per message, as sent). */
  id: string;
  /** The device of this user that sent it (the primary). */
  fromDevice: number;
  items: number;
  recorded: number;
}

/**
 * The record of one item: received from `peer` or sent to it. An outgoing one says `sent`, as the copy
 * of a message sent from another device does: this device never learns the peer's receipts for it.
 */
export function historyRecordOf(item: HistoryItem): HistoryRecord {
  const { id, direction, peer, body, sentAt } = item;
  return { id, direction, peer, body, sentAt, status: direction === 'in' ? 'received' : 'sent' };
}

/** Records the items of a history message (each once, ever) and says what it did. */
export async function recordHistoryItems(messages: MessageStore, payload: HistoryPayload): Promise<HistoryReceived> {
  const recorded = await messages.recordHistory(payload.items.map(historyRecordOf));
  return { id: payload.id, fromDevice: payload.fromDevice, items: payload.items.length, recorded };
}
