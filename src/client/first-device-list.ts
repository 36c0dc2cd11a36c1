/**
 * The first signed device list of an account (docs/PROTOCOL.md §17.2, §21.1): version 1, the primary
 * alone, its keys being the account keys (Ed25519 DSK_1 = the account key, RSA_1 = the registered key)
 * and IK_1 the X25519 identity of its prekeys. Sent with `register`, or published right after the first
 * protocol-2 login of an account registered before devices (the server then holds no list for it).
 */
import { base64urlDecode } from '../crypto/bytes.js';
import type { RsaPublicJwk } from '../crypto/keys.js';
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { encodeDeviceListPayload } from '../protocol/device-list-payload.js';
import { signDeviceList, type DeviceListWire } from '../protocol/device-list-signature.js';
import { PRIMARY_DEVICE } from './address.js';

/** What the primary is called in its list until the user names it (names are public: §17.2). */
export const DEFAULT_PRIMARY_NAME = 'primary';

export function firstDeviceList(input: {
  username: string;
  signingKey: Ed25519SigningKey;
  encryptionKey: RsaPublicJwk;
  /** IK_1: the X25519 identity key this device's prekeys are bound to. */
  identityKey: Uint8Array;
  now: number;
  name?: string;
}): Promise<DeviceListWire> {
  const accountKey = input.signingKey.publicKey;
  const list = encodeDeviceListPayload({
    username: input.username,
    accountKey,
    version: 1,
    issuedAt: input.now,
    maxDeviceId: PRIMARY_DEVICE,
    devices: [
      {
        deviceId: PRIMARY_DEVICE,
        signingKey: accountKey,
        identityKey: Uint8Array.from(input.identityKey),
        rsaModulus: base64urlDecode(input.encryptionKey.n),
        addedAt: input.now,
        name: input.name ?? DEFAULT_PRIMARY_NAME,
      },
    ],
  });
  return signDeviceList(list, input.signingKey);
}
