/**
 * This device's KeyPackages (docs/design/groups-mls.md §4.1), kept published as prekeys are
 * (prekey-publisher.ts): after every login, and when the server pushes `mls.keypackages.low`, the
 * one-time stock is refilled to KEY_PACKAGE_TARGET when it fell below KEY_PACKAGE_REFILL_THRESHOLD, and the
 * last-resort package is made when the server has none or replaced after LAST_RESORT_ROTATION_MS.
 *
 * Each private half is saved (one sealed row per KeyPackageRef) before its public half is uploaded: a
 * package the server hands out must always have its secrets here. A Welcome names the ref it is for.
 *
 * The stock is counted before anything is made, and packages come from `make`: this module imports no
 * MLS code, so a login whose stock is full loads none (lazy-group-manager.ts).
 */
import type { Bytes } from '../../crypto/bytes.js';
import type { DeviceKeyPackage } from '../../e2ee/mls/key-package.js';
import type { GroupDelivery } from './group-delivery.js';
import type { GroupStore, KeyPackageRow } from './group-store.js';

/** Refill below this many one-time packages on the server. */
export const KEY_PACKAGE_REFILL_THRESHOLD = 5;
/**
 * One-time packages held on the server after a refill: each is 2,689 bytes (X-Wing keys), so 20 is a
 * 54 KB upload, and covers 20 groups joined between two logins before the last-resort one is used.
 */
export const KEY_PACKAGE_TARGET = 20;
/** The last-resort package is replaced this often, as a signed prekey is (prekey-publisher.ts). */
export const LAST_RESORT_ROTATION_MS = 7 * 24 * 60 * 60 * 1000;
/** A replaced last-resort package's secrets are kept this long: a Welcome made with it may still be queued. */
export const LAST_RESORT_GRACE_MS = 30 * 24 * 60 * 60 * 1000;

/** A KeyPackage as a stored private row (the signing secret is never in it: ciphersuite.ts); group-inbound.ts reads it back. */
export function keyPackageRow(kp: DeviceKeyPackage, lastResort: boolean, createdAt: number): KeyPackageRow {
  return { message: kp.message, initPrivateKey: kp.privatePackage.initPrivateKey as Bytes, hpkePrivateKey: kp.privatePackage.hpkePrivateKey as Bytes, lastResort, createdAt };
}

export class KeyPackagePublisher {
  #running: Promise<{ oneTime: number; lastResort: boolean }> | undefined;

  /** `make`: a new KeyPackage of this device, called only when the server's stock needs one. */
  constructor(
    private readonly make: () => Promise<DeviceKeyPackage>,
    private readonly store: GroupStore,
    private readonly delivery: Pick<GroupDelivery, 'countKeyPackages' | 'uploadKeyPackages'>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Brings the server's stock up to date; a call while a run is going joins it (a flood of `low` pushes costs one run). */
  maintain(): Promise<{ oneTime: number; lastResort: boolean }> {
    this.#running ??= this.run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  private async run(): Promise<{ oneTime: number; lastResort: boolean }> {
    const now = this.clock();
    const counts = await this.delivery.countKeyPackages();
    const held = await this.store.lastResortKeyPackages();
    const newest = held.reduce((a, b) => Math.max(a, b.createdAt), -Infinity);
    const rotate = !counts.lastResort || held.length === 0 || now - newest > LAST_RESORT_ROTATION_MS;
    const want = counts.oneTime < KEY_PACKAGE_REFILL_THRESHOLD ? KEY_PACKAGE_TARGET - counts.oneTime : 0;
    if (want === 0 && !rotate) return counts;

    const oneTime: Bytes[] = [];
    for (let i = 0; i < want; i++) {
      const kp = await this.make();
      await this.store.putKeyPackage(kp.ref, keyPackageRow(kp, false, now));
      oneTime.push(kp.message);
    }
    let lastResort: Bytes | undefined;
    if (rotate) {
      const kp = await this.make();
      await this.store.putKeyPackage(kp.ref, keyPackageRow(kp, true, now));
      lastResort = kp.message;
    }
    const answer = await this.delivery.uploadKeyPackages(oneTime, lastResort);
    // Replaced last-resort packages go once no Welcome made with them can still be on its way.
    for (const old of held) if (now - old.createdAt > LAST_RESORT_ROTATION_MS + LAST_RESORT_GRACE_MS) await this.store.deleteKeyPackage(old.ref);
    return { oneTime: answer.oneTime, lastResort: true };
  }
}
