/**
 * What a device keeps of its group conversations as the person reads them back: the texts (theirs and
 * the members') and the membership changes. The MLS states (group-store.ts) keep no texts, so GroupInbound
 * and GroupManager record these themselves, each before the group row that makes a redelivery a replay is
 * saved (docs/design/groups-mls.md §6.1): a message the server was told was handled is in the history.
 *
 * One shape for every runtime, an async interface with a memory implementation (memory-group-history.ts),
 * a SQLite one (node/sqlite-group-history.ts) and an IndexedDB one (browser/idb-group-history.ts).
 *
 * Ids make an entry unique, so a second copy (work redone after a lost compare-and-swap, a resync, two
 * processes of one user) is recorded once: a text is its group's sequence number in the Delivery
 * Service's order, a change its epoch and kind.
 */
import type { Address } from '../address.js';
import type { GroupMembershipEvent, GroupMessageEvent } from './group-events.js';

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

export interface GroupHistoryStore {
  /**
   * Records `entry` unless one of its id is there ('duplicate'); resolves once it is durable. An incoming
   * entry is recorded `displayed: false`, waiting for the app to show it; this device's own texts `true`.
   */
  record(entry: GroupHistoryEntry, options: { displayed: boolean }): Promise<'new' | 'duplicate'>;
  /** A group's entries, oldest first (in the order recorded); with `limit`, the newest `limit` of them. */
  history(groupId: string, limit?: number): Promise<GroupHistoryEntry[]>;
  /** Entries recorded and not shown yet, of every group, oldest first. */
  undisplayed(): Promise<GroupHistoryEntry[]>;
  /** The entries of these ids count as shown. */
  markDisplayed(ids: readonly string[]): Promise<void>;
}

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
  const how = m.left ? 'left' : m.joined ? 'joined' : 'changed';
  return { kind: 'membership', id: groupChangeId(m.groupId, m.epoch, how), groupId: m.groupId, name: m.name, epoch: m.epoch, added: m.added, removed: m.removed, joined: m.joined === true, left: m.left === true, at };
}

/** When the entry happened, as far as this device knows (a text: its sender's clock). */
export const entryTime = (e: GroupHistoryEntry): number => (e.kind === 'message' ? e.sentAt : e.at);
