/**
 * What a device's group store says of its groups without opening any of them: their ids as text, their
 * names, whether this device is still in each. Read from the store rows alone, so this module imports no
 * MLS code: a client answers these before the group code is loaded, or without ever loading it
 * (lazy-group-manager.ts).
 */
import { base64urlEncode } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import type { GroupStore } from './group-store.js';

/** A group id as the API and the history name it (base64url of the MLS group id). */
export const groupIdText = (groupId: Uint8Array): string => base64urlEncode(groupId);

export interface ListedGroup {
  readonly groupId: string;
  readonly name: string | undefined;
  /** False once this device left or was removed: the row is kept for its name. */
  readonly active: boolean;
}

export async function listGroups(store: Pick<GroupStore, 'listGroups'>): Promise<ListedGroup[]> {
  return (await store.listGroups()).map((g) => ({ groupId: groupIdText(g.groupId), name: g.name, active: !g.inactive }));
}

/** Whether this device is in any group now: without one, a login has nothing to sync and no list to follow. */
export async function hasActiveGroup(store: Pick<GroupStore, 'listGroups'>): Promise<boolean> {
  return (await store.listGroups()).some((g) => !g.inactive);
}

/** The local name ↔ id map: the active group with this id, or the one active group of this name. */
export async function findGroupId(store: Pick<GroupStore, 'listGroups'>, nameOrId: string): Promise<string> {
  const active = (await listGroups(store)).filter((g) => g.active);
  if (active.some((g) => g.groupId === nameOrId)) return nameOrId;
  const named = active.filter((g) => g.name === nameOrId);
  if (named.length === 1) return named[0]!.groupId;
  if (named.length > 1) throw new ChatError('bad_request', `${named.length} groups are named "${nameOrId}": name one by its id`);
  throw new ChatError('unknown_group', `no group named "${nameOrId}" on this device`);
}
