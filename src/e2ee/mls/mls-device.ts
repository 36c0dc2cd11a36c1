/**
 * One device as an MLS client: who it is (the credential's user and device), the key that signs for it
 * (its DSK, behind Ed25519SigningKey), the ciphersuite bound to that key, and the ts-mls configuration
 * whose AuthenticationService checks every credential against the device lists this client verified.
 * Every function of this folder takes one; nothing here is a global.
 */
import {
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  type CiphersuiteImpl,
  type ClientConfig,
} from 'ts-mls';
import { constantTimeEqual } from '../../crypto/bytes.js';
import type { Ed25519SigningKey } from '../../crypto/signing-key.js';
import { deviceCiphersuite } from './ciphersuite.js';
import { checkMemberIdentity, DeviceListAuthenticationService, type VerifiedDeviceLists } from './device-identity-check.js';
import { memberCredential, type MemberIdentity } from './member-credential.js';

export interface MlsDevice {
  readonly identity: MemberIdentity;
  readonly signingKey: Ed25519SigningKey;
  readonly ciphersuite: CiphersuiteImpl;
  readonly clientConfig: ClientConfig;
  readonly lists: VerifiedDeviceLists;
}

/**
 * Opens `identity` as an MLS client. Its own verified list must name it with `signingKey`: a device never
 * makes a KeyPackage or a leaf that its peers would refuse.
 */
export async function openMlsDevice(identity: MemberIdentity, signingKey: Ed25519SigningKey, lists: VerifiedDeviceLists): Promise<MlsDevice> {
  const self = await checkMemberIdentity(memberCredential(identity), signingKey.publicKey, lists);
  if (!self.ok) throw new TypeError(`this device is not in its own verified device list as given (${self.reason})`);
  // Checks credentials in this device's own commits (ts-mls applies adds and paths through it too).
  const authService = new DeviceListAuthenticationService(lists);
  const clientConfig: ClientConfig = {
    keyRetentionConfig: defaultKeyRetentionConfig,
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService,
  };
  return { identity, signingKey, ciphersuite: await deviceCiphersuite(signingKey), clientConfig, lists };
}

/** Whether a leaf's signature key is this device's key (constant time: keys are public, but cheap to do right). */
export function isOwnSignatureKey(device: MlsDevice, publicKey: Uint8Array): boolean {
  return constantTimeEqual(device.signingKey.publicKey, publicKey);
}
