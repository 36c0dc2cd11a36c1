/**
 * One-time prekey hygiene on the per-record store (issue 9): keys the server handed out and no one used
 * are deleted ONE_TIME_PREKEY_GRACE_MS after this client first noticed, and each kind's local stock is
 * capped (MAX_LOCAL_*). Both read only the ids and handed-out marks (never a secret), and change single
 * records, so another process of this user consuming or adding keys meanwhile loses nothing: a mark on a
 * key it just deleted changes nothing, and its new keys have ids above every listed one.
 */
import { MAX_STORED_ONE_TIME_PREKEYS } from '../protocol/limits.js';
import { MAX_LOCAL_KEM_ONE_TIME_PREKEYS, MAX_LOCAL_ONE_TIME_PREKEYS, ONE_TIME_PREKEY_GRACE_MS } from './local-prekeys.js';
import type { RatchetStore } from './ratchet-store.js';

/** What the server says it still stores (`prekeys.count` / `prekeys.upload` answers from 0.2 on). */
export interface ServerOneTimeIds {
  readonly oneTimeIds?: unknown;
  readonly kemOneTimeIds?: unknown;
}

/** A list we can act on: integers, no more than the server may store. Anything else counts as absent. */
function idList(value: unknown): Set<number> | undefined {
  if (!Array.isArray(value) || value.length > MAX_STORED_ONE_TIME_PREKEYS || !value.every((id) => Number.isInteger(id))) return undefined;
  return new Set(value as number[]);
}

/**
 * Applies what the server says it still stores, per kind: a local key it does not list is handed out
 * from now on (unless already marked), a listed one is not (the mark was a race with an upload), and a
 * key handed out ONE_TIME_PREKEY_GRACE_MS ago or more is deleted. A kind whose list is absent or
 * malformed (a server before 0.2) is left alone. Only keys below the highest listed id are marked: ids
 * only grow and the server hands out the lowest first, so a key above them all may simply not be
 * uploaded yet (by this run, or by another process of this user right now). Returns whether anything changed.
 */
export async function reconcileOneTimeKeys(store: RatchetStore, server: ServerOneTimeIds, now: number): Promise<boolean> {
  let changed = false;
  for (const [kind, listed] of [['oneTime', idList(server.oneTimeIds)], ['kem', idList(server.kemOneTimeIds)]] as const) {
    if (!listed) continue;
    const highest = Math.max(-1, ...listed);
    for (const { id, handedOutSince: since } of await store.listOneTimePreKeys(kind)) {
      if (listed.has(id)) {
        if (since !== undefined) (await store.setHandedOut(kind, id, undefined), (changed = true));
      } else if (since !== undefined) {
        if (now - since >= ONE_TIME_PREKEY_GRACE_MS) (await store.removePreKey(kind, id), (changed = true));
      } else if (id < highest) {
        await store.setHandedOut(kind, id, now); // above every listed id it may not be uploaded yet; a later refill's higher ids will tell
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * Caps the local one-time keys of each kind (MAX_LOCAL_*): handed-out keys go first, the earliest
 * noticed first; then, only if still over (a server without id lists), the oldest ids: a server hands
 * out the lowest ids first, and the caps exceed what it holds of ours (at most one refill target, or
 * two when processes race), so those were handed out long ago. Returns whether anything was deleted.
 */
export async function capOneTimeKeys(store: RatchetStore): Promise<boolean> {
  let changed = false;
  for (const [kind, cap] of [['oneTime', MAX_LOCAL_ONE_TIME_PREKEYS], ['kem', MAX_LOCAL_KEM_ONE_TIME_PREKEYS]] as const) {
    const entries = await store.listOneTimePreKeys(kind);
    if (entries.length <= cap) continue;
    const handed = entries.filter((x) => x.handedOutSince !== undefined).sort((a, b) => a.handedOutSince! - b.handedOutSince! || a.id - b.id);
    const rest = entries.filter((x) => x.handedOutSince === undefined); // already ascending by id
    for (const { id } of [...handed, ...rest].slice(0, entries.length - cap)) await store.removePreKey(kind, id);
    changed = true;
  }
  return changed;
}
