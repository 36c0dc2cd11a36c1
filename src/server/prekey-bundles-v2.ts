/**
 * Protocol 2's `prekeys.bundle` (design §5.10, PROTOCOL.md §19.9): bundles of named devices of one user,
 * in the order asked, each carrying that device's own signing key. Checks in order: `unknown_user`; a
 * device not in the user's current set, `devices_changed` with the user's list (nothing taken, no token
 * spent: the request was for devices that do not exist, and the client asks again with the right ones);
 * the rate limits, one token per device bundle (`rate_limited`); a device without a bundle (`no_prekeys`).
 */
import { ChatError } from '../protocol/errors.js';
import type { HandlerTableV2 } from './connection.js';
import { keysOfDevice } from './device-keys.js';
import { currentDevices, listWire } from './device-sets.js';
import { fetchTarget, notifyIfLow, signedInAddress, type PreKeyServiceDeps } from './prekeys.js';
import { RefusalWithDetails } from './refusal.js';

export function preKeyBundleHandlerV2(deps: PreKeyServiceDeps): Pick<HandlerTableV2, 'prekeys.bundle'> {
  const { store, allowFetch } = deps;
  return {
    'prekeys.bundle': {
      run: async (conn, p) => {
        const { username: requester } = signedInAddress(conn);
        const user = await store.getUser(p.username);
        if (!user) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        const list = await store.getDeviceList(p.username);
        const current = currentDevices(list);
        const stale = p.devices.filter((d) => !current.includes(d));
        if (stale.length > 0) {
          throw new RefusalWithDetails('devices_changed', `${p.username} has no device ${stale.join(', ')}`, {
            users: [{ username: p.username, missing: [], stale, deviceList: listWire(list) }],
          });
        }
        if (!(await allowFetch(requester, p.devices.map((d) => fetchTarget(p.username, d))))) {
          throw new ChatError('rate_limited', `too many prekey bundle fetches (by you, or of ${p.username}'s devices); try again later`);
        }
        const answer = await store.takePreKeyBundles(p.username, p.devices);
        if (answer.status === 'missing') {
          throw new ChatError('no_prekeys', `${p.username}'s device ${answer.devices.join(', ')} has published no prekeys`);
        }
        for (const taken of answer.bundles) notifyIfLow(deps, p.username, taken);
        return {
          username: p.username,
          bundles: answer.bundles.map((b) => ({
            device: b.device,
            // Every device asked is in `current`, so it has keys.
            identity: { signingKey: keysOfDevice(user, list, b.device)!.signingKey, dhKey: b.identity.dhKey, binding: b.identity.binding },
            signedPreKey: b.signedPreKey,
            kemPreKey: b.kemPreKey,
            ...(b.oneTimePreKey && { oneTimePreKey: b.oneTimePreKey }),
          })),
        };
      },
    },
  };
}
