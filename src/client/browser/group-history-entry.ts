/**
 * One entry of a group conversation as the person reads it back: a text (theirs or a member's) or a
 * membership change. The groups module keeps MLS states, not texts, so the app records these from the
 * client's `groupMessage` and `groupMembership` events and from its own sends. The CLI keeps the same
 * shape in its SQLite group history (branch groups-cli, src/client/node/sqlite-group-history.ts).
 *
 * Ids make an entry unique, so a second copy (a resync after a reload) is recorded once: a text is its
 * group's sequence number in the Delivery Service's order, a change its epoch and kind.
 */
import type { Address } from '../address.js';
import type { GroupMembershipEvent, GroupMessageEvent } from '../groups/group-runtime.js';

/** A text in a group: `in` from a member (the user's other devices too), `out` sent by this device. */
export interface GroupTextEntry {
  readonly kind: 'message';
  readonly id: string;
  readonly groupId: string;
  readonly name: string | undefined;
  readonly direction: 'in' | 'out';
  readonly from: Address;
  readonly text: string;
  /** The sender's clock (ms since the epoch), its own word inside the encryption. */
  readonly sentAt: number;
  readonly seq: number;
}

/** A membership change as MLS applied it on this device. */
export interface GroupChangeEntry {
  readonly kind: 'membership';
  readonly id: string;
  readonly groupId: string;
  readonly name: string | undefined;
  readonly epoch: number;
  readonly added: readonly Address[];
  readonly removed: readonly Address[];
  /** This device joined the group (a Welcome). */
  readonly joined: boolean;
  /** This device is no longer in the group. */
  readonly left: boolean;
  /** This device's clock when it applied the change. */
  readonly at: number;
}

export type GroupHistoryEntry = GroupTextEntry | GroupChangeEntry;

/** The id of a group's message: its place in the group's order. */
export const groupTextId = (groupId: string, seq: number): string => `m:${groupId}:${seq}`;

/** The id of a membership change: its epoch and whether this device joined, left, or saw others change. */
export const groupChangeId = (groupId: string, epoch: number, how: 'joined' | 'left' | 'changed'): string => `e:${groupId}:${epoch}:${how}`;

/** A received (or, with `direction` 'out', a sent) text as an entry. */
export function groupTextEntry(m: GroupMessageEvent, direction: 'in' | 'out'): GroupTextEntry {
  return { kind: 'message', id: groupTextId(m.groupId, m.seq), groupId: m.groupId, name: m.name, direction, from: m.from, text: m.text, sentAt: m.sentAt, seq: m.seq };
}

/** A membership event as an entry, applied at `at`. */
export function groupChangeEntry(m: GroupMembershipEvent, at: number): GroupChangeEntry {
  const how = m.joined ? 'joined' : m.left ? 'left' : 'changed';
  return { kind: 'membership', id: groupChangeId(m.groupId, m.epoch, how), groupId: m.groupId, name: m.name, epoch: m.epoch, added: m.added, removed: m.removed, joined: m.joined === true, left: m.left === true, at };
}

/** When the entry happened, as far as this device knows (a text: its sender's clock). */
export const entryTime = (e: GroupHistoryEntry): number => (e.kind === 'message' ? e.sentAt : e.at);
