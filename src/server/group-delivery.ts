/**
 * Delivery of group log entries through the device queues (docs/design/groups-mls.md §4.3, §4.4). A
 * member device's queue holds a reference row per entry (store/group-deliveries.ts); this module turns
 * references into what the device receives:
 *   - `GroupDeliveryReader` is the store as a delivery pump reads it: `pending` swaps each reference
 *     for the push it names, reading the stored entry (stored once for the whole group);
 *   - `groupPushEnvelope` builds the same push for the live path (the entry is at hand after a write);
 *   - `emitDelivery` sends a pushed copy as `group.message` or `group.welcome`, and everything else as
 *     `message`. Either way the copy is settled with `ack` by its queue id, so the pump's window and
 *     the queue treat group deliveries exactly as envelopes.
 * A push travels through the pump as the `envelope` of its queued copy, marked `groupPush`: no client
 * envelope can carry that member (every envelope schema is strict).
 */
import type { GroupLogEntry, GroupMessageEvent, GroupWelcomeEvent } from '../protocol/group-schemas.js';
import type { IncomingMessageV2 } from '../protocol/events-v2.js';
import type { Envelope } from '../protocol/schemas.js';
import type { ChatSocket } from './connection.js';
import { groupRefOf, type GroupDeliveryKind, type GroupRef } from './store/group-deliveries.js';
import type { GroupLogRow } from './store/group-records.js';
import type { QueuedEnvelope, ServerStore } from './store/server-store.js';

export type GroupPushEnvelope =
  | { groupPush: 'group.message'; body: Omit<GroupMessageEvent, 'id'> }
  | { groupPush: 'group.welcome'; body: Omit<GroupWelcomeEvent, 'id'> };

/** A log entry as `group.sync` returns it. */
export function logEntryWire(row: GroupLogRow): GroupLogEntry {
  return { groupId: row.groupId, seq: row.seq, epoch: row.epoch, kind: row.kind, message: row.message, from: { user: row.sender, device: row.senderDevice }, sentAt: row.sentAt };
}

export function groupPushEnvelope(row: GroupLogRow, kind: GroupDeliveryKind): GroupPushEnvelope {
  if (kind === 'message') return { groupPush: 'group.message', body: logEntryWire(row) };
  return {
    groupPush: 'group.welcome',
    body: { groupId: row.groupId, seq: row.seq, welcome: row.welcome ?? '', from: { user: row.sender, device: row.senderDevice }, sentAt: row.sentAt },
  };
}

/** The queued reference with the push in place of the reference, as the pump hands it on. */
export function withPush(q: QueuedEnvelope, push: GroupPushEnvelope): QueuedEnvelope {
  return { ...q, envelope: JSON.stringify(push) };
}

/** The push as the `envelope` a pump's `offer` takes: it is carried, never read as an envelope. */
export const asCarriedEnvelope = (push: GroupPushEnvelope): Envelope => push as unknown as Envelope;

const refKey = (r: Pick<GroupRef, 'groupId' | 'seq'>) => `${r.groupId}\n${r.seq}`;

/** What a delivery pump reads: the store's queue, with every group reference resolved. */
export class GroupDeliveryReader implements Pick<ServerStore, 'pending'> {
  constructor(private readonly store: ServerStore) {}

  async pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    const rows = await this.store.pending(recipient, device, afterSeq, limit, now);
    const refs = rows.map(groupRefOf);
    if (refs.every((r) => r === undefined)) return rows;
    const wanted = new Map<string, GroupRef>();
    for (const r of refs) if (r) wanted.set(refKey(r), r);
    const entries = new Map((await this.store.groupLogEntries([...wanted.values()])).map((e) => [refKey(e), e]));
    // An entry swept between the two reads left with its references' expiry: the reference is dropped too.
    return rows.flatMap((row, k) => {
      const ref = refs[k];
      if (!ref) return [row];
      const entry = entries.get(refKey(ref));
      return entry ? [withPush(row, groupPushEnvelope(entry, ref.kind))] : [];
    });
  }
}

function isGroupPush(envelope: unknown): envelope is GroupPushEnvelope {
  return typeof envelope === 'object' && envelope !== null && 'groupPush' in envelope;
}

/** One pushed copy leaves as the event it is: a group push under its own name with its queue id, else `message`. */
export function emitDelivery(socket: ChatSocket, m: IncomingMessageV2, emitMessage: (m: IncomingMessageV2) => void): void {
  const carried: unknown = m.envelope;
  if (!isGroupPush(carried)) {
    emitMessage(m);
    return;
  }
  if (carried.groupPush === 'group.message') socket.emit('group.message', { ...carried.body, id: m.id });
  else socket.emit('group.welcome', { ...carried.body, id: m.id });
}
