/**
 * The prekey service (docs/PROTOCOL.md §14, §19.9): each device publishes its PQXDH keys, reads how many
 * one-time keys remain, and anyone logged in fetches bundles. Everything acts on an address: a
 * connection uploads and counts for the device it logged in as, and every signature is verified at
 * upload against that device's signing key (device 1: the registered key), so the directory never
 * serves a key its device did not sign. Each one-time key is handed to one requester only (the store
 * takes it in one transaction). Protocol 2's bundle request is prekey-bundles-v2.ts.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { ChatError } from '../protocol/errors.js';
import type { PreKeysLowEvent } from '../protocol/events.js';
import { PREKEY_LOW_THRESHOLD } from '../protocol/limits.js';
import type { ConnectionState, HandlerTable } from './connection.js';
import { keysOfDevice } from './device-keys.js';
import { refuseLowOrderKeys, verifyPreKeySignatures } from './prekey-checks.js';
import { PRIMARY_DEVICE, type ServerStore, type TakenPreKeyBundle } from './store/server-store.js';

export function signedInAddress(conn: ConnectionState): { username: string; device: number } {
  // The dispatcher lets only logged-in connections reach these handlers; this keeps the types honest.
  if (conn.username === null || conn.device === null) throw new ChatError('not_authenticated', 'log in first');
  return { username: conn.username, device: conn.device };
}

/** The key of an address in the bundle-fetch buckets: fetches are counted per target address (§19.9). */
export const fetchTarget = (username: string, device: number): string => `${username}/${device}`;

/** What the bundle service needs from the server around it. */
export interface PreKeyServiceDeps {
  store: ServerStore;
  /**
   * One token per bundle from the requesting user's bucket and one from each target address's bucket,
   * all or none: false means refuse, and nothing was taken.
   */
  allowFetch(requester: string, targets: readonly string[]): boolean | Promise<boolean>;
  /** Tell an address's connections that its one-time prekeys are running low. */
  notifyLow(username: string, device: number, counts: PreKeysLowEvent): void;
}

/** Tells the device whose bundle was just taken when its one-time keys run low, so it refills while running. */
export function notifyIfLow(deps: PreKeyServiceDeps, username: string, taken: TakenPreKeyBundle): void {
  if (taken.remaining.oneTime < PREKEY_LOW_THRESHOLD || taken.remaining.kemOneTime < PREKEY_LOW_THRESHOLD) {
    deps.notifyLow(username, taken.device, { oneTime: taken.remaining.oneTime, kemOneTime: taken.remaining.kemOneTime });
  }
}

export type PreKeyEventName = 'prekeys.upload' | 'prekeys.count' | 'prekeys.bundle';

export function preKeyHandlers(deps: PreKeyServiceDeps): Pick<HandlerTable, PreKeyEventName> {
  const { store, allowFetch } = deps;
  return {
    'prekeys.upload': {
      run: async (conn, p) => {
        const { username, device } = signedInAddress(conn);
        refuseLowOrderKeys(p);
        const user = await store.getUser(username);
        const keys = user && keysOfDevice(user, await store.getDeviceList(username), device);
        if (!keys) throw new ChatError('unknown_device', `${username} has no device ${device}`);
        // A listed device's identity key is the list's (design §5.10): its bundle must agree with it.
        // Only a user without a list keeps v1's rule, a new identity replacing everything.
        if (keys.dhKey !== null && keys.dhKey !== p.identity.dhKey) {
          throw new ChatError('bad_request', `identity.dhKey: not the identity key your device list gives device ${device}`);
        }
        const whose = device === PRIMARY_DEVICE ? 'your registered signing key' : `the signing key your device list gives device ${device}`;
        verifyPreKeySignatures(base64urlDecode(keys.signingKey), p, whose);
        return store.putPreKeys(
          username,
          device,
          {
            identity: p.identity,
            ...(p.signedPreKey && { signedPreKey: p.signedPreKey }),
            ...(p.lastResortKemPreKey && { lastResortKemPreKey: p.lastResortKemPreKey }),
            oneTimePreKeys: p.oneTimePreKeys ?? [],
            kemPreKeys: p.kemPreKeys ?? [],
          },
          Date.now(),
        );
      },
    },
    'prekeys.count': {
      run: (conn) => {
        const { username, device } = signedInAddress(conn);
        return store.preKeyCounts(username, device);
      },
    },
    // Protocol 1's request names a user: it answers device 1's bundle, the only device a protocol-1
    // client writes to (design §5.9, §5.10).
    'prekeys.bundle': {
      run: async (conn, p) => {
        const { username: requester } = signedInAddress(conn);
        const user = await store.getUser(p.username);
        if (!user) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        if (!(await allowFetch(requester, [fetchTarget(p.username, PRIMARY_DEVICE)]))) {
          throw new ChatError('rate_limited', `too many prekey bundle fetches (by you, or of ${p.username}); try again later`);
        }
        const answer = await store.takePreKeyBundles(p.username, [PRIMARY_DEVICE]);
        const taken = answer.status === 'taken' ? answer.bundles[0] : undefined;
        if (!taken) throw new ChatError('no_prekeys', `${p.username} has published no prekeys (their client has not run since ratchet sessions were added)`);
        notifyIfLow(deps, p.username, taken);
        return {
          username: p.username,
          identity: { signingKey: user.signingKey.x, dhKey: taken.identity.dhKey, binding: taken.identity.binding },
          signedPreKey: taken.signedPreKey,
          kemPreKey: taken.kemPreKey,
          ...(taken.oneTimePreKey && { oneTimePreKey: taken.oneTimePreKey }),
        };
      },
    },
  };
}
