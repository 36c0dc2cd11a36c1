/**
 * KeyPackages for one device (RFC 9420 §10): what others use to add this device to a group. Each carries
 * our credential and the device's DSK as its signature key, fresh X-Wing init and leaf keys, and the
 * default capabilities. The directory on the server holds the public halves; this device keeps the
 * private halves, found again by the KeyPackageRef a Welcome names.
 */
import { defaultCapabilities, defaultLifetime, generateKeyPackageWithKey, type KeyPackage, type PrivateKeyPackage, type Welcome } from 'ts-mls';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { constantTimeEqual, type Bytes } from '../../crypto/bytes.js';
import { SIGNING_SECRET_PLACEHOLDER } from './ciphersuite.js';
import { memberCredential } from './member-credential.js';
import type { MlsDevice } from './mls-device.js';
import { GROUP_NAME_EXTENSION_TYPE } from './group-name.js';
import { encodeKeyPackageMessage } from './mls-wire.js';

export interface DeviceKeyPackage {
  /** RFC 9420 §5.2 KeyPackageRef: the id a Welcome names and the directory may index by. */
  readonly ref: Bytes;
  /** The public half as an MLSMessage: what is uploaded. */
  readonly message: Bytes;
  readonly publicPackage: KeyPackage;
  /** Init and leaf HPKE secrets (no signing secret: the device key signs through its interface). */
  readonly privatePackage: PrivateKeyPackage;
}

/**
 * A new KeyPackage. The lifetime is ts-mls's default (unbounded): the directory hands each one-time
 * package out once, and a last-resort one is replaced by the client, so expiry adds nothing here.
 */
export async function createDeviceKeyPackage(device: MlsDevice): Promise<DeviceKeyPackage> {
  const capabilities = defaultCapabilities();
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    memberCredential(device.identity),
    // The group name is a GroupContext extension of ours (group-name.ts): a member must say it knows it.
    { ...capabilities, extensions: [GROUP_NAME_EXTENSION_TYPE, ...capabilities.extensions] },
    defaultLifetime,
    [],
    { signKey: SIGNING_SECRET_PLACEHOLDER, publicKey: device.signingKey.publicKey },
    device.ciphersuite,
  );
  const ref = (await makeKeyPackageRef(publicPackage, device.ciphersuite.hash)) as Bytes;
  return { ref, message: encodeKeyPackageMessage(publicPackage), publicPackage, privatePackage };
}

/** The KeyPackageRefs a Welcome holds secrets for: which of its own packages a device should try. */
export function welcomeKeyPackageRefs(welcome: Welcome): Bytes[] {
  return welcome.secrets.map((s) => Uint8Array.from(s.newMember));
}

export function welcomeIsFor(welcome: Welcome, keyPackage: DeviceKeyPackage): boolean {
  return welcome.secrets.some((s) => constantTimeEqual(s.newMember, keyPackage.ref));
}
