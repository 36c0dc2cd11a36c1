/**
 * The user's own devices as a person wants to see them (issue 10: `e2ee-chat devices`): which devices
 * the verified list names, what each is called, when it was added, when the server last saw it, and
 * which one is this device. The list is the signed one (docs/PROTOCOL.md §17, checked by DeviceDirectory
 * before it gets here); `lastSeen` is the server's unsigned word from its `devices.list` answer (§19.5),
 * so it only ever annotates a device the list names and never adds one.
 */
import type { DeviceList } from '../protocol/device-list-payload.js';
import type { DeviceLastSeen } from '../protocol/events-v2.js';
import { PRIMARY_DEVICE } from './address.js';

export interface OwnDevice {
  /** The device's id in the user's list (1: the primary). */
  readonly device: number;
  /** Chosen by the user when the device was added; public, and any text: escape it before printing. */
  readonly name: string;
  /** When the primary added it (ms since the epoch, as signed in the list); null for a user without a list. */
  readonly addedAt: number | null;
  /** When the server says it last saw the device log in or acknowledge (ms); null if it never did. Unsigned. */
  readonly lastSeenAt: number | null;
  /** This is the device asking. */
  readonly current: boolean;
}

/** What a user without a list (device 1 alone, §19.1) calls its only device. */
export const UNLISTED_PRIMARY_NAME = 'primary';

/**
 * The devices of `list` in its order (device 1 first), each with the server's last-seen time for it.
 * `list` null: the user has no list on the server, so device 1 alone, with no signed name or date.
 * A `lastSeen` entry for a device the list does not name is the server's word about nothing: dropped.
 */
export function ownDevices(list: DeviceList | null, lastSeen: readonly DeviceLastSeen[], thisDevice: number): OwnDevice[] {
  const seen = new Map(lastSeen.map((s) => [s.device, s.at]));
  const entries = list
    ? list.devices.map((d) => ({ device: d.deviceId, name: d.name, addedAt: d.addedAt as number | null }))
    : [{ device: PRIMARY_DEVICE, name: UNLISTED_PRIMARY_NAME, addedAt: null }];
  return entries.map((e) => ({ ...e, lastSeenAt: seen.get(e.device) ?? null, current: e.device === thisDevice }));
}
