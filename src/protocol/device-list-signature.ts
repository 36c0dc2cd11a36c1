/**
 * The signed device list as it travels (`DeviceListWire`, docs/PROTOCOL.md §17.3): the payload in
 * base64url beside the account key's Ed25519 signature over `label ‖ 0x00 ‖ payload`. The label differs
 * from every label of PROTOCOL.md §16.4 and holds no 0x00, so no signature made for one purpose verifies
 * as another. Verification is the strict RFC 8032 check of §16.4 (src/crypto/ed25519.ts).
 */
import { base64urlDecode, base64urlEncode, concatBytes, constantTimeEqual, type Bytes, utf8Encode } from '../crypto/bytes.js';
import { ed25519Verify } from '../crypto/ed25519.js';
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { ChatError } from './errors.js';
import { decodeDeviceListPayload, type DeviceList } from './device-list-payload.js';
import type { DeviceListWire } from './device-list-wire.js';

/** The 24 ASCII bytes before the 0x00 separator. */
export const DEVICE_LIST_LABEL = utf8Encode('e2ee-chat device list v2');

/** The exact bytes the account key signs. */
export function deviceListSignedMessage(payload: Uint8Array): Bytes {
  return concatBytes(DEVICE_LIST_LABEL, Uint8Array.of(0), payload);
}

// The wire object's schema lives with the other v2 wire shapes; re-exported for the list's users.
export { deviceListWireSchema, type DeviceListWire } from './device-list-wire.js';

/** Signs a list with the account key; refuses a key that is not the list's account key. */
export async function signDeviceList(list: DeviceList, accountKey: Ed25519SigningKey): Promise<DeviceListWire> {
  const message = deviceListSignedMessage(list.payload);
  const signature = await accountKey.sign(message);
  // A list signed by another key would be refused by everyone; say so here rather than after publishing.
  if (!ed25519Verify(signature, message, list.accountKey)) throw new ChatError('bad_request', "device list: the secret key is not the list's account key");
  return { list: base64urlEncode(list.payload), signature: base64urlEncode(signature) };
}

export type DeviceListOpening =
  | { readonly ok: true; readonly list: DeviceList }
  /** `malformed`: shape, field rules or the wrong user or account key; `bad_signature`: the signature. */
  | { readonly ok: false; readonly failure: 'malformed' | 'bad_signature'; readonly message: string };

/**
 * Decodes a list and verifies it for one user: the payload under every rule of §17.2, its username and
 * account key equal to the expected ones (the name asked for and the key registered or pinned, never
 * what the list says), then the signature under that key. The server answers `malformed` with
 * bad_request and `bad_signature` with bad_signature; a client refuses either as device_list_invalid.
 */
export function openDeviceList(wire: DeviceListWire, expected: { readonly username: string; readonly accountKey: Uint8Array }): DeviceListOpening {
  let list: DeviceList;
  let signature: Bytes;
  try {
    list = decodeDeviceListPayload(base64urlDecode(wire.list));
    signature = base64urlDecode(wire.signature);
  } catch (err) {
    return { ok: false, failure: 'malformed', message: err instanceof ChatError ? err.message : 'device list: not base64url' };
  }
  if (list.username !== expected.username) return { ok: false, failure: 'malformed', message: `device list: for "${list.username}", not "${expected.username}"` };
  if (!constantTimeEqual(list.accountKey, expected.accountKey)) return { ok: false, failure: 'malformed', message: 'device list: names another account key' };
  if (!ed25519Verify(signature, deviceListSignedMessage(list.payload), expected.accountKey)) {
    return { ok: false, failure: 'bad_signature', message: 'device list: the signature does not verify under the account key' };
  }
  return { ok: true, list };
}
