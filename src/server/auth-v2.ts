/**
 * Protocol 2's proofs (design §5.2, §5.3; PROTOCOL.md §19.3, §19.4). A registration is v1's (same signed
 * text: device 1's keys are the account keys) and brings the user's first device list, stored with the
 * user in one transaction. A login names a device and is signed by that device's own key, as the user's
 * stored list gives it.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { ed25519Verify } from '../crypto/ed25519.js';
import { jwkThumbprint } from '../crypto/keys.js';
import { loginMessageV2, registerMessage } from '../protocol/auth-message.js';
import { ChatError } from '../protocol/errors.js';
import type { LoginV2Payload, RegisterV2Payload } from '../protocol/v2-schemas.js';
import { keysOfDevice } from './device-keys.js';
import { deviceListInput, openPublishedList } from './published-lists.js';
import type { ServerStore, UserRecord } from './store/server-store.js';

/** False for any malformed input too: never throws. */
function verify(signature: string, message: Uint8Array, publicKeyX: string): boolean {
  try {
    return ed25519Verify(base64urlDecode(signature), message, base64urlDecode(publicKeyX));
  } catch {
    return false;
  }
}

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
  const signingKeyThumbprint = await jwkThumbprint(p.signingKey);
  const encryptionKeyThumbprint = await jwkThumbprint(p.encryptionKey);
  const message = registerMessage({ challenge, username: p.username, signingKeyThumbprint, encryptionKeyThumbprint });
  if (!verify(p.signature, message, p.signingKey.x)) {
    throw new ChatError('bad_signature', 'signature does not verify for this challenge and these keys');
  }
  const list = openPublishedList(p.deviceList, p, { first: true });
  const result = await store.createUser(
    {
      username: p.username,
      signingKey: { kty: 'OKP', crv: 'Ed25519', x: p.signingKey.x },
      encryptionKey: { kty: 'RSA', n: p.encryptionKey.n, e: p.encryptionKey.e },
      signingKeyThumbprint,
      encryptionKeyThumbprint,
      registeredAt: now,
    },
    deviceListInput(list, p.deviceList),
  );
  if (
    !result.created &&
    (result.record.signingKeyThumbprint !== signingKeyThumbprint || result.record.encryptionKeyThumbprint !== encryptionKeyThumbprint)
  ) {
    throw new ChatError('username_taken', `the name "${p.username}" is registered with other keys`);
  }
  return result;
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
