/**
 * Protocol 2's proofs (design §5.2, §5.3; PROTOCOL.md §19.3, §19.4). A registration is v1's (same signed
 * text: device 1's keys are the account keys) and brings the user's first device list, stored with the
 * user in one transaction. A login names a device and is signed by that device's own key, as the user's
 * stored list gives it.
 */
import { loginMessageV2 } from '../protocol/auth-message.js';
import { ChatError } from '../protocol/errors.js';
import type { LoginV2Payload, RegisterV2Payload } from '../protocol/v2-schemas.js';
import { authenticateRegistration, verify } from './auth.js';
import { keysOfDevice } from './device-keys.js';
import { deviceListInput, openPublishedList } from './published-lists.js';
import type { ServerStore, UserRecord } from './store/server-store.js';

/**
 * Registers the name with its first list; if the same keys already hold the name, it is a login of
 * device 1 and the list in the payload, checked like any, is not stored: the user's stored list (or its
 * absence) stands, and changes only through `devices.publish`.
 * Checks: the register signature (`bad_signature`), the list's shape and keys, version 1 with device 1
 * alone (`bad_request`), its signature (`bad_signature`), then the name (`username_taken`).
 */
export async function authenticateRegistrationV2(
  store: ServerStore,
  challenge: string,
  p: RegisterV2Payload,
  now: number,
): Promise<{ record: UserRecord; created: boolean }> {
  return authenticateRegistration(store, challenge, p, now, () => deviceListInput(openPublishedList(p.deviceList, p, { first: true }), p.deviceList));
}

/** Checks in the order `unknown_user`, `unknown_device`, `bad_signature`. */
export async function authenticateLoginV2(store: ServerStore, challenge: string, p: LoginV2Payload): Promise<UserRecord> {
  const record = await store.getUser(p.username);
  if (!record) throw new ChatError('unknown_user', `no user named "${p.username}"`);
  const keys = keysOfDevice(record, await store.getDeviceList(p.username), p.device);
  if (!keys) throw new ChatError('unknown_device', `${p.username} has no device ${p.device} (never linked, or removed)`);
  if (!verify(p.signature, loginMessageV2({ challenge, username: p.username, device: p.device }), keys.signingKey)) {
    throw new ChatError('bad_signature', "signature does not verify for this challenge under this device's key");
  }
  return record;
}
