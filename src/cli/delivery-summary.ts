/**
 * An outgoing message's delivery to one peer in words, once it went to several of their devices
 * (docs/design/devices-v2.md §8.3): `delivered to bob (1 of 2 devices); bob's device 2 could not read it
 * (decryption failed)`. Pure: the callers (send, receive, chat, history) print what it returns.
 *
 * Counting: only copies to `peer` count. Copies to the sender's own other devices ("synced") are another
 * matter and not shown here, and a copy whose device was removed leaves the count (it will never arrive,
 * and the peer no longer has that device). Unreadable copies count: the device got the message and could
 * not open it, which the text says after the count.
 *
 * Number: the noun agrees with the total, as in plain English: "1 of 1 device", "1 of 2 devices",
 * "2 of 2 devices". (The design's table writes "1 of 1 devices"; this is the one rule used instead.)
 *
 * Nothing delivered yet: no text (undefined), and the caller says what it said before devices (sent,
 * queued, could not be read). A delivery summary only makes sense once a device has the message.
 *
 * Where the callers use it (recordDeliverySummary, deliveredText): only for a message that went to more
 * than one device of the peer. A single copy's own state already says everything, so a peer with one
 * device (every peer before devices, and most after) sees the words of before: `delivered`, `delivered to
 * bob's device`. "1 of 1 device" therefore appears only when another copy's device was removed.
 */
import type { ChatClientEvents } from '../client/chat-client-types.js';
import { copiesOf } from '../client/delivery-copies.js';
import type { CopyState, HistoryRecord } from '../client/stores.js';
import type { DeliveredLine } from './output.js';
import { unreadableBySender } from './reasons.js';
import { printable } from './terminal-text.js';

/** How many of `peer`'s devices have the message (`delivered`) out of those it went to (`of`). */
export interface DeliveryCounts {
  delivered: number;
  of: number;
}

/** The copies that count for `peer`: theirs, and not to a device since removed. */
function countedCopies(peer: string, copies: readonly CopyState[]): CopyState[] {
  return copies.filter((c) => c.to === peer && c.status !== 'removed');
}

/** Whether the message went to more than one device of `peer` (removed ones included: the count changed). */
function severalDevices(peer: string, copies: readonly CopyState[]): boolean {
  return copies.filter((c) => c.to === peer).length > 1;
}

export function deliveryCounts(peer: string, copies: readonly CopyState[]): DeliveryCounts {
  const counted = countedCopies(peer, copies);
  return { delivered: counted.filter((c) => c.status === 'delivered').length, of: counted.length };
}

/**
 * The text for an outgoing message's delivery to `peer`, or undefined while none of their devices has it.
 * `me` is the sender: the reason for a key change names the command that fixes it (`trust <me>`).
 */
export function deliverySummary(peer: string, copies: readonly CopyState[], me: string): string | undefined {
  const { delivered, of } = deliveryCounts(peer, copies);
  if (delivered === 0) return undefined;
  const name = printable(peer);
  const unreadable = countedCopies(peer, copies)
    .filter((c) => c.status === 'unreadable')
    .sort((a, b) => a.device - b.device)
    .map((c) => `; ${name}'s device ${c.device} could not read it (${unreadableBySender(c.reason, name, printable(me))})`);
  return `delivered to ${name} (${delivered} of ${of} ${of === 1 ? 'device' : 'devices'})${unreadable.join('')}`;
}

/**
 * The delivery summary of a stored outgoing record, for `history` and the chat screen, or undefined when
 * the record's own state says it better: one copy only, nothing delivered yet, or read (the peer's word
 * that they saw it outranks which devices stored it).
 */
export function recordDeliverySummary(record: HistoryRecord, me: string): string | undefined {
  if (record.direction !== 'out' || record.status === 'read') return undefined;
  const copies = copiesOf(record);
  return severalDevices(record.peer, copies) ? deliverySummary(record.peer, copies, me) : undefined;
}

/**
 * What the client's 'delivered' event says. The library always names the device and the copies; read as
 * optional here, so a receipt without them (a record from before devices) still reads as it did.
 */
type DeliveredEvent = Omit<ChatClientEvents['delivered'], 'device' | 'copies'> & Partial<Pick<ChatClientEvents['delivered'], 'device' | 'copies'>>;

/** The `--json` line for a delivery receipt: the device and the counts once the event carries copies. */
export function deliveredJson(d: DeliveredEvent): DeliveredLine {
  const line: DeliveredLine = { type: 'delivered', id: d.id, to: d.to, deliveredAt: d.deliveredAt };
  if (!d.copies) return line;
  return { ...line, device: d.device ?? null, ...deliveryCounts(d.to, d.copies) };
}

/** A delivery receipt's summary, or undefined for a receipt without copies or of a message to one device only. */
export function deliveredSummary(d: DeliveredEvent, me: string): string | undefined {
  return d.copies && severalDevices(d.to, d.copies) ? deliverySummary(d.to, d.copies, me) : undefined;
}

/** A delivery receipt in words for send and receive: the summary, else what they said before devices. */
export function deliveredText(d: DeliveredEvent, me: string): string {
  return deliveredSummary(d, me) ?? `delivered to ${printable(d.to)}'s device`;
}
