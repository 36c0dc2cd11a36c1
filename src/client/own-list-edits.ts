/**
 * The next version of the user's own device list (docs/PROTOCOL.md §17): a device added, a device
 * removed, or device 1's identity key replaced. Only the primary holds the account key that signs it
 * (design §2.3). Each edit keeps what the list rules require (§17.4): the version goes up by one, ids are
 * never reused (`maxDeviceId` only grows), kept devices keep their keys.
 */
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { encodeDeviceListPayload, type DeviceEntry, type DeviceList } from '../protocol/device-list-payload.js';
import { signDeviceList, type DeviceListWire } from '../protocol/device-list-signature.js';
import { ChatError } from '../protocol/errors.js';
import { MAX_DEVICE_ID, MAX_DEVICES_PER_USER } from '../protocol/limits.js';
import { PRIMARY_DEVICE } from './address.js';

function signNext(list: DeviceList, devices: DeviceEntry[], maxDeviceId: number, signingKey: Ed25519SigningKey, now: number): Promise<DeviceListWire> {
  const next = encodeDeviceListPayload({
    username: list.username,
    accountKey: list.accountKey,
    version: list.version + 1,
    // A clock behind the last list's must not make the new one look older than it is.
    issuedAt: Math.max(now, list.issuedAt),
    maxDeviceId,
    devices,
  });
  return signDeviceList(next, signingKey);
}

/** The new device's entry, without its id: the list gives it the next one. */
export type NewDeviceEntry = Omit<DeviceEntry, 'deviceId'>;

/** `list` with `entry` added as device `maxDeviceId + 1`; returns the signed list and the new id. */
export async function withDeviceAdded(
  list: DeviceList,
  entry: NewDeviceEntry,
  signingKey: Ed25519SigningKey,
  now: number,
): Promise<{ deviceList: DeviceListWire; device: number }> {
  if (list.devices.length >= MAX_DEVICES_PER_USER) {
    throw new ChatError('bad_request', `${list.username} has ${list.devices.length} devices, the most a list can name; remove one first (e2ee-chat devices remove <id>)`);
  }
  const device = list.maxDeviceId + 1;
  if (device > MAX_DEVICE_ID) throw new ChatError('bad_request', `${list.username} has used every device id; no more devices can be linked to this account`);
  return { deviceList: await signNext(list, [...list.devices, { ...entry, deviceId: device }], device, signingKey, now), device };
}

/** `list` without device `device` (never device 1: the primary holds the account key). */
export function withDeviceRemoved(list: DeviceList, device: number, signingKey: Ed25519SigningKey, now: number): Promise<DeviceListWire> {
  if (device === PRIMARY_DEVICE) throw new ChatError('bad_request', 'device 1 is the primary, which holds the account key; it cannot be removed');
  if (!list.devices.some((d) => d.deviceId === device)) throw new ChatError('unknown_device', `${list.username} has no device ${device} (list version ${list.version})`);
  return signNext(
    list,
    list.devices.filter((d) => d.deviceId !== device),
    list.maxDeviceId,
    signingKey,
    now,
  );
}

/**
 * `list` with device 1's IK replaced: the primary lost its prekey identity (its ratchet store was
 * remade) and made a new one, which its list must name before the server takes prekeys for it or peers
 * accept sessions with it (§21.1).
 */
export function withPrimaryIdentityKey(list: DeviceList, identityKey: Uint8Array, signingKey: Ed25519SigningKey, now: number): Promise<DeviceListWire> {
  const devices = list.devices.map((d) => (d.deviceId === PRIMARY_DEVICE ? { ...d, identityKey: Uint8Array.from(identityKey) } : d));
  return signNext(list, devices, list.maxDeviceId, signingKey, now);
}
