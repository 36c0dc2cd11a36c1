/**
 * The keys the server holds for an address (design §2.4, §3.4): what a device's login, prekey uploads and
 * bundles are checked against. From the user's stored list; for a user without one, device 1 alone with
 * the registered signing key, and no identity key fixed by a list.
 */
import { PRIMARY_DEVICE, type StoredDeviceList, type UserRecord } from './store/server-store.js';

export interface DeviceKeys {
  /** DSK_d, base64url of the raw Ed25519 key: signs the device's login and prekeys. */
  signingKey: string;
  /** IK_d as the list gives it (base64url), or null for a user without a list (v1's rules apply). */
  dhKey: string | null;
}

/** Undefined for a device the user does not have (never linked, or removed). */
export function keysOfDevice(user: UserRecord, list: StoredDeviceList | undefined, device: number): DeviceKeys | undefined {
  if (!list) return device === PRIMARY_DEVICE ? { signingKey: user.signingKey.x, dhKey: null } : undefined;
  const listed = list.devices.find((d) => d.device === device);
  return listed && { signingKey: listed.signingKey, dhKey: listed.dhKey };
}
