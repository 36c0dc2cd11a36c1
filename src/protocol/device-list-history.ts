/**
 * Which device list may follow which (docs/PROTOCOL.md §17.4, §17.5): the server's check before it stores
 * a published list, and a client's decision on every list a server hands it. Pure functions over
 * decoded lists; the caller stores, answers and drops sessions.
 *
 * Both sides hold the same invariants: versions only grow, device ids are never reused (`maxDeviceId`
 * never falls and a new device's id is above the old `maxDeviceId`), and a listed device keeps its keys
 * for as long as it is listed, except that the primary may replace its X25519 identity key `IK_1` (it
 * cannot take a new id after losing its ratchet store). Device 1 is in every list that decodes, so no
 * successor can remove it.
 */
import { constantTimeEqual } from '../crypto/bytes.js';
import type { DeviceEntry, DeviceList } from './device-list-payload.js';
import { type DeviceListWire, openDeviceList } from './device-list-signature.js';

/** Everything compared here is public; the shared helper is simply the one byte comparison we keep. */
const sameBytes = constantTimeEqual;

interface Change {
  readonly added: readonly number[];
  readonly removed: readonly number[];
}

const ids = (devices: readonly DeviceEntry[]): readonly number[] => devices.map((d) => d.deviceId);

function change(old: readonly number[], next: readonly number[]): Change {
  return { added: next.filter((id) => !old.includes(id)), removed: old.filter((id) => !next.includes(id)) };
}

/** The id-reuse and kept-keys rules shared by server and client; undefined when `next` may follow `old`. */
function successionProblem(old: DeviceList, next: DeviceList, added: readonly number[]): string | undefined {
  if (next.maxDeviceId < old.maxDeviceId) return `maxDeviceId went down from ${old.maxDeviceId} to ${next.maxDeviceId}`;
  const reused = added.filter((id) => id <= old.maxDeviceId);
  if (reused.length > 0) return `device id ${reused[0]} is not above the previous maxDeviceId ${old.maxDeviceId} (ids are never reused)`;
  for (const before of old.devices) {
    const after = next.devices.find((d) => d.deviceId === before.deviceId);
    if (!after) continue;
    const changed = [
      !sameBytes(before.signingKey, after.signingKey) && 'signing key',
      !sameBytes(before.rsaModulus, after.rsaModulus) && 'RSA key',
      before.addedAt !== after.addedAt && 'addedAt',
      before.deviceId !== 1 && !sameBytes(before.identityKey, after.identityKey) && 'identity key',
    ].filter((what): what is string => what !== false);
    if (changed.length > 0) return `device ${before.deviceId} changed its ${changed.join(', ')}`;
  }
  return undefined;
}

export type PublishHistoryCheck =
  /** `added`: the one device this version adds, if any (it must come with its first prekeys). */
  | { readonly ok: true; readonly added: number | undefined; readonly removed: readonly number[] }
  | { readonly ok: false; readonly message: string };

/**
 * The server's history rule for `devices.publish` (§17.4 step 4), run after the list opened under the
 * registered key: a strictly greater version, no id reuse, kept devices keep their keys, and at most one
 * added device per version (linking adds one at a time). Failure is `device_list_outdated`.
 *
 * `stored` is null for a user without a list, served as the implicit `{1}` (device 1 with its registered
 * keys): then only the one-added-device rule applies, against device 1.
 */
export function checkPublishHistory(stored: DeviceList | null, next: DeviceList): PublishHistoryCheck {
  const { added, removed } = change(stored ? ids(stored.devices) : [1], ids(next.devices));
  if (stored) {
    if (next.version <= stored.version) return { ok: false, message: `version ${next.version} is not above the stored version ${stored.version}` };
    const problem = successionProblem(stored, next, added);
    if (problem) return { ok: false, message: problem };
  }
  if (added.length > 1) return { ok: false, message: `a version may add one device, not ${added.length}` };
  return { ok: true, added: added[0], removed };
}

export type DeviceListAcceptance =
  /**
   * Store `wire` as the newest list of this user; delete the sessions of `removedDevices`, and those of
   * device 1 when `identityKey1Changed`. With no list held before, nothing is removed or changed.
   */
  | {
      readonly outcome: 'accept';
      readonly list: DeviceList;
      readonly wire: DeviceListWire;
      readonly removedDevices: readonly number[];
      readonly identityKey1Changed: boolean;
    }
  /** The list held already (same bytes), or no list where none was ever seen: nothing to do. */
  | { readonly outcome: 'unchanged' }
  /** Nothing changes; the operation that fetched the list fails with `code`. */
  | { readonly outcome: 'refuse'; readonly code: 'device_list_invalid' | 'device_list_rollback'; readonly message: string };

/**
 * A client's checks on a list a server sent for `username` (§17.5), in order: it opens under the pinned
 * account key; a lower version is a rollback; the same version with other bytes is equivocation; ids are
 * never reused and kept devices keep their keys. `received` null means the server has no list: fine
 * while none was ever seen (the user is `{1}`), a rollback once one was.
 */
export function acceptDeviceList(p: {
  readonly username: string;
  readonly pin: Uint8Array;
  readonly stored: DeviceList | null;
  readonly received: DeviceListWire | null;
}): DeviceListAcceptance {
  const { stored, received } = p;
  const invalid = (message: string) => ({ outcome: 'refuse', code: 'device_list_invalid', message }) as const;
  if (received === null) {
    if (stored === null) return { outcome: 'unchanged' };
    return { outcome: 'refuse', code: 'device_list_rollback', message: `the server has no device list for ${p.username}, but version ${stored.version} was seen` };
  }
  const opened = openDeviceList(received, { username: p.username, accountKey: p.pin });
  if (!opened.ok) return invalid(opened.message);
  const next = opened.list;
  if (stored === null) return { outcome: 'accept', list: next, wire: received, removedDevices: [], identityKey1Changed: false };
  if (next.version < stored.version) {
    return { outcome: 'refuse', code: 'device_list_rollback', message: `device list version ${next.version} for ${p.username} is older than version ${stored.version}` };
  }
  if (next.version === stored.version) {
    return sameBytes(next.payload, stored.payload) ? { outcome: 'unchanged' } : invalid(`two different device lists for ${p.username} claim version ${next.version}`);
  }
  const { added, removed } = change(ids(stored.devices), ids(next.devices));
  const problem = successionProblem(stored, next, added);
  if (problem) return invalid(`device list for ${p.username}: ${problem}`);
  const identityKey1Changed = !sameBytes(stored.devices[0]!.identityKey, next.devices[0]!.identityKey);
  return { outcome: 'accept', list: next, wire: received, removedDevices: removed, identityKey1Changed };
}
