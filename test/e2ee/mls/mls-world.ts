/**
 * In-process MLS participants for the glue's tests: users with several devices, each device's verified
 * device list (built with encodeDeviceListPayload: verifying lists is the device-list layer's job, tested
 * there), an MlsDevice per device, and a Delivery Service reduced to what these tests need: per group, a
 * total order of commits that accepts one commit per epoch.
 */
import type { ClientState } from 'ts-mls';
import { randomBytes, type Bytes } from '../../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../../src/crypto/ed25519-keygen.js';
import { ed25519SigningKeyFromSeed, type Ed25519SigningKey } from '../../../src/crypto/signing-key.js';
import { X25519KeyPair } from '../../../src/crypto/x25519.js';
import { encodeDeviceListPayload, type DeviceEntry, type DeviceList } from '../../../src/protocol/device-list-payload.js';
import type { VerifiedDeviceLists } from '../../../src/e2ee/mls/device-identity-check.js';
import { createDeviceKeyPackage, type DeviceKeyPackage } from '../../../src/e2ee/mls/key-package.js';
import type { MemberIdentity } from '../../../src/e2ee/mls/member-credential.js';
import { openMlsDevice, type MlsDevice } from '../../../src/e2ee/mls/mls-device.js';
import type { PendingCommit } from '../../../src/e2ee/mls/group-commits.js';
import { TEST_RSA_MODULI } from '../../protocol/device-list-fixtures.js';

export interface TestMlsDevice {
  readonly identity: MemberIdentity;
  readonly seed: Bytes;
  readonly signingKey: Ed25519SigningKey;
  mls: MlsDevice;
  /** This device's group state, once it created or joined the group. */
  state?: ClientState;
}

export async function deviceEntry(deviceId: number, signingKey: Bytes): Promise<DeviceEntry> {
  return {
    deviceId,
    signingKey,
    identityKey: (await X25519KeyPair.fromSecretKey(randomBytes(32))).publicKey,
    rsaModulus: TEST_RSA_MODULI[deviceId % TEST_RSA_MODULI.length]!,
    addedAt: 1_795_000_000_000 + deviceId,
    name: `device ${deviceId}`,
  };
}

/** A device list as a client holds it after verifying it (PROTOCOL.md §17.5). */
export async function verifiedList(username: string, devices: readonly { deviceId: number; signingKey: Bytes }[]): Promise<DeviceList> {
  const entries = await Promise.all(devices.map((d) => deviceEntry(d.deviceId, d.signingKey)));
  const maxDeviceId = Math.max(...devices.map((d) => d.deviceId));
  return encodeDeviceListPayload({ username, accountKey: devices[0]!.signingKey, version: 1, issuedAt: 1_795_000_000_000, maxDeviceId, devices: entries });
}

/** Users and their devices; every device sees the same verified lists (`lists`), which tests may edit. */
export class MlsWorld {
  readonly lists = new Map<string, DeviceList>();
  readonly devices: TestMlsDevice[] = [];
  readonly lookup: VerifiedDeviceLists = (username) => this.lists.get(username);

  static async create(users: Record<string, number>): Promise<MlsWorld> {
    const world = new MlsWorld();
    for (const [username, count] of Object.entries(users)) {
      const seeds = Array.from({ length: count }, () => randomBytes(32));
      world.lists.set(username, await verifiedList(username, seeds.map((seed, i) => ({ deviceId: i + 1, signingKey: ed25519PublicKeyFromSecret(seed) }))));
      for (const [i, seed] of seeds.entries()) {
        const identity = { username, deviceId: i + 1 };
        const signingKey = ed25519SigningKeyFromSeed(seed);
        world.devices.push({ identity, seed, signingKey, mls: await openMlsDevice(identity, signingKey, world.lookup) });
      }
    }
    return world;
  }

  device(username: string, deviceId: number): TestMlsDevice {
    const found = this.devices.find((d) => d.identity.username === username && d.identity.deviceId === deviceId);
    if (!found) throw new Error(`no device ${username}/${deviceId}`);
    return found;
  }

  keyPackage(device: TestMlsDevice): Promise<DeviceKeyPackage> {
    return createDeviceKeyPackage(device.mls);
  }
}

/** The Delivery Service's ordering rule for one group: a commit is accepted only for the current epoch. */
export class CommitOrder {
  readonly accepted: Bytes[] = [];
  constructor(public epoch: bigint) {}

  submit(commit: PendingCommit): boolean {
    if (commit.epoch !== this.epoch) return false;
    this.accepted.push(commit.commit);
    this.epoch += 1n;
    return true;
  }
}
