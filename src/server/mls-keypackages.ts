/**
 * The KeyPackage directory (docs/design/groups-mls.md §4.1): each device uploads its MLS KeyPackages,
 * one-time ones and one last-resort one, and anyone logged in claims one per device of a user. The
 * server checks sizes (the schema) and counts only: it imports no MLS code, and every check that matters
 * (credential, signature key against the verified device list) is the committer's and every member's.
 * A claim names the list version the claimer verified, so it adds exactly the devices of that list; a
 * different current version is `devices_changed`, as for sends. Claims spend the same per-requester and
 * per-target tokens as prekey bundle fetches: both hand out something a device has a limited stock of.
 */
import { ChatError } from '../protocol/errors.js';
import type { KeyPackagesLowEvent } from '../protocol/group-schemas.js';
import { KEY_PACKAGE_LOW_THRESHOLD, MAX_STORED_KEY_PACKAGES } from '../protocol/limits.js';
import type { HandlerTableV2 } from './connection.js';
import { currentDevices, listWire } from './device-sets.js';
import { fetchTarget, signedInAddress } from './prekeys.js';
import { RefusalWithDetails } from './refusal.js';
import type { ServerStore } from './store/server-store.js';

export interface KeyPackageServiceDeps {
  store: ServerStore;
  /** One token per package from the requester's and each target address's buckets, all or none. */
  allowClaim(requester: string, targets: readonly string[]): boolean | Promise<boolean>;
  /** Tell an address's connections that its one-time KeyPackages are running low. */
  notifyLow(username: string, device: number, event: KeyPackagesLowEvent): void;
}

export type KeyPackageEventName = 'mls.keypackages.upload' | 'mls.keypackages.count' | 'mls.keypackages.claim';

export function keyPackageHandlers(deps: KeyPackageServiceDeps): Pick<HandlerTableV2, KeyPackageEventName> {
  const { store } = deps;
  return {
    'mls.keypackages.upload': {
      run: async (conn, p) => {
        const { username, device } = signedInAddress(conn);
        const result = await store.putKeyPackages(username, device, p.packages, p.lastResort, MAX_STORED_KEY_PACKAGES);
        if (result.status === 'limit') {
          throw new ChatError('key_package_limit', `this device holds ${result.oneTime} one-time KeyPackages; the server keeps at most ${MAX_STORED_KEY_PACKAGES}`);
        }
        return { stored: result.stored, oneTime: result.oneTime };
      },
    },
    'mls.keypackages.count': {
      run: (conn) => {
        const { username, device } = signedInAddress(conn);
        return store.keyPackageCounts(username, device);
      },
    },
    'mls.keypackages.claim': {
      run: async (conn, p) => {
        const { username: requester, device: me } = signedInAddress(conn);
        if (!(await store.getUser(p.user))) throw new ChatError('unknown_user', `no user named "${p.user}"`);
        const list = await store.getDeviceList(p.user);
        const version = list?.version ?? null;
        if (version !== p.listVersion) {
          throw new RefusalWithDetails('devices_changed', `${p.user}'s device list is at version ${version ?? 'none'}, not ${p.listVersion ?? 'none'}`, {
            users: [{ username: p.user, missing: currentDevices(list), stale: [], deviceList: listWire(list) }],
          });
        }
        // The caller's own device never adds itself: it is in the group already, or creates it.
        const devices = currentDevices(list).filter((d) => p.user !== requester || d !== me);
        if (!(await deps.allowClaim(requester, devices.map((d) => fetchTarget(p.user, d))))) {
          throw new ChatError('rate_limited', `too many KeyPackage claims (by you, or of ${p.user}); try again later`);
        }
        const claimed = await store.claimKeyPackages(p.user, devices);
        if (claimed.length === 0) throw new ChatError('no_key_packages', `no device of ${p.user} has published a KeyPackage`);
        for (const c of claimed) if (c.remaining < KEY_PACKAGE_LOW_THRESHOLD) deps.notifyLow(p.user, c.device, { oneTime: c.remaining });
        return { listVersion: version, packages: claimed.map(({ device, keyPackage, lastResort }) => ({ device, keyPackage, lastResort })) };
      },
    },
  };
}
