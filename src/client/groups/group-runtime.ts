/**
 * What the group modules share (group-manager.ts, group-inbound.ts): this device, its MLS client, the
 * stores (MLS states, and the history of what was said and changed), the Delivery Service, the verified device lists, the listeners, and one lock per group so that
 * a send, a commit and a receive of one group in this process run one at a time. Across processes the
 * store's compare-and-swap saves keep them apart (group-store.ts).
 */
import { base64urlEncode, constantTimeEqual, type Bytes } from '../../crypto/bytes.js';
import type { ClientState } from 'ts-mls';
import { groupMembers } from '../../e2ee/mls/group-members.js';
import { groupNameOf } from '../../e2ee/mls/group-name.js';
import { deserializeGroupState } from '../../e2ee/mls/group-state-codec.js';
import type { MlsDevice } from '../../e2ee/mls/mls-device.js';
import type { DeviceList } from '../../protocol/device-list-payload.js';
import { ChatError } from '../../protocol/errors.js';
import { addressText, type Address } from '../address.js';
import type { GroupDelivery } from './group-delivery.js';
import type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from './group-events.js';
import type { GroupHistoryEntry, GroupHistoryStore } from './group-history.js';
import type { GroupRow, GroupStore } from './group-store.js';

/** The device lists this client verified (PROTOCOL.md §17.5): as held, and asked for afresh. */
export interface GroupDeviceLists {
  held(user: string): Promise<DeviceList | null>;
  refresh(user: string): Promise<DeviceList | null>;
}

export type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from './group-events.js';

export interface GroupEvents {
  message(event: GroupMessageEvent): void;
  membership(event: GroupMembershipEvent): void;
  refused(event: GroupRefusalEvent): void;
  debug(message: string, cause?: unknown): void;
}

export interface GroupRuntime {
  readonly self: Address;
  device(): Promise<MlsDevice>;
  readonly store: GroupStore;
  readonly history: GroupHistoryStore;
  readonly delivery: GroupDelivery;
  readonly lists: GroupDeviceLists;
  readonly events: GroupEvents;
  readonly clock: () => number;
  lock<T>(groupId: Uint8Array, work: () => Promise<T>): Promise<T>;
}

/** One group this device is a member of, as loaded: its row, the row's version, and its MLS state opened for this device. */
export interface LoadedGroup {
  readonly row: GroupRow;
  readonly version: number;
  readonly state: ClientState;
}

/**
 * What an inactive row keeps as its state: nothing. A device removed from a group (or whose user left)
 * keeps no epoch secret of it (and ts-mls's state after a removal has no leaf of ours to open it by).
 */
export const NO_STATE = new Uint8Array(0);

/** The group, if this device holds it and is still a member of it. */
export async function loadActiveGroup(rt: GroupRuntime, groupId: Uint8Array): Promise<LoadedGroup | undefined> {
  const found = await rt.store.loadGroup(groupId);
  if (!found || found.row.inactive) return undefined;
  return { ...found, state: deserializeGroupState(await rt.device(), found.row.state) };
}

/** The group this device is a member of; `unknown_group` or `not_group_member` otherwise. */
export async function requireGroup(rt: GroupRuntime, groupId: Uint8Array): Promise<LoadedGroup> {
  const found = await rt.store.loadGroup(groupId);
  if (!found) throw new ChatError('unknown_group', `no group ${base64urlEncode(groupId)} on this device`);
  if (found.row.inactive) throw new ChatError('not_group_member', 'this device is no longer a member of the group');
  return { ...found, state: deserializeGroupState(await rt.device(), found.row.state) };
}

/** Saves `row` (compare-and-swap), listed under the name in `state`, the group's state as of this row or just before it. */
export function saveGroup(rt: GroupRuntime, row: GroupRow, state: ClientState, expected: number): Promise<boolean> {
  return rt.store.saveGroup(row, groupNameOf(state), expected);
}

/**
 * Records what a change of a group's row is about to make known, before the row is saved: once saved, a
 * redelivery of the entry is a replay, ignored, and the server may be told it was handled. Incoming texts
 * and every membership change wait to be shown; this device's own texts were shown as they were sent.
 */
export async function recordHistory(rt: GroupRuntime, entries: readonly GroupHistoryEntry[]): Promise<void> {
  for (const entry of entries) await rt.history.record(entry, { displayed: entry.kind === 'message' && entry.direction === 'out' });
}

/** The row of a group this device is no longer a member of: its secrets dropped, its place in the log kept. */
export function inactiveRow(row: GroupRow): GroupRow {
  const { pending: _pending, leaving: _leaving, unsent: _unsent, ...rest } = row;
  return { ...rest, state: NO_STATE, inactive: true };
}

/** The users who asked to leave (GroupRow.leaving) and are still members in `state`: removals still owed. */
export function leaversStillIn(row: GroupRow, state: ClientState): string[] {
  return (row.leaving ?? []).filter((u) => groupMembers(state).some((m) => m.username === u));
}

export function memberAddresses(state: ClientState): Address[] {
  return groupMembers(state).map((m) => ({ user: m.username, device: m.deviceId }));
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.user === b.user && a.device === b.device;
}

/** Who entered and who left between two states of one group. */
export function membershipChange(before: ClientState, after: ClientState): { added: Address[]; removed: Address[] } {
  const was = new Set(memberAddresses(before).map(addressText));
  const now = new Set(memberAddresses(after).map(addressText));
  return {
    added: memberAddresses(after).filter((a) => !was.has(addressText(a))),
    removed: memberAddresses(before).filter((a) => !now.has(addressText(a))),
  };
}

export function sameBytes(a: Bytes | Uint8Array, b: Bytes | Uint8Array): boolean {
  return a.length === b.length && constantTimeEqual(a, b);
}

/** One promise chain per key: work on one group runs one at a time, in call order; other groups do not wait. */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const result = before.then(work, work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => this.#tails.get(key) === tail && this.#tails.delete(key));
    return result;
  }
}
