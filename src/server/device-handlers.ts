/**
 * `devices.list` and `devices.publish` (design §5.4, §5.7; PROTOCOL.md §19.5, §19.6): a user's signed
 * device list, read by anyone logged in, and a new version of it, published by its primary (the only
 * device holding the account key that must sign it). A publish is checked in the order of §4.4, stored
 * with all its effects in one transaction (store.publishDeviceList), and announced after the commit.
 */
import type { Logger } from 'pino';
import { base64urlDecode, base64urlEncode } from '../crypto/bytes.js';
import { checkPublishHistory } from '../protocol/device-list-history.js';
import { decodeDeviceListPayload, type DeviceList } from '../protocol/device-list-payload.js';
import { ChatError } from '../protocol/errors.js';
import type { AddedDevice as AddedDevicePayload } from '../protocol/v2-schemas.js';
import type { ServerConfig } from './config.js';
import type { ChatIO, HandlerTableV2 } from './connection.js';
import { listWire } from './device-sets.js';
import { refuseLowOrderKeys, verifyPreKeySignatures } from './prekey-checks.js';
import { signedInAddress } from './prekeys.js';
import { deviceListInput, openPublishedList } from './published-lists.js';
import { pushReceipts } from './receipts.js';
import { addressRoom, PROTOCOL_1_ROOM, userRoom } from './rooms.js';
import type { AddedDevice, Receipt, ServerStore } from './store/server-store.js';

export interface DeviceServiceDeps {
  config: ServerConfig;
  store: ServerStore;
  io: ChatIO;
  logger: Logger;
}

/**
 * §4.4 step 5: `added` is present exactly when the list adds a device, and is that device's
 * (`bad_request`); its identity key is the one the list gives it and none of its X25519 keys is of low
 * order (`bad_request`); its signatures verify under the signing key the list gives it (`bad_signature`).
 */
function checkAddedDevice(list: DeviceList, addedId: number | undefined, payload: AddedDevicePayload | undefined): AddedDevice | undefined {
  if (addedId === undefined) {
    if (payload) throw new ChatError('bad_request', 'added: this device list adds no device');
    return undefined;
  }
  if (!payload) throw new ChatError('bad_request', `added: device ${addedId} is added without its first prekeys`);
  if (payload.device !== addedId) throw new ChatError('bad_request', `added.device: the list adds device ${addedId}, not ${payload.device}`);
  const entry = list.devices.find((d) => d.deviceId === addedId)!;
  if (payload.identity.dhKey !== base64urlEncode(entry.identityKey)) {
    throw new ChatError('bad_request', `added.identity.dhKey: not the identity key the list gives device ${addedId}`);
  }
  refuseLowOrderKeys(payload, 'added.');
  verifyPreKeySignatures(entry.signingKey, payload, `the signing key the list gives device ${addedId}`);
  const { identity, signedPreKey, lastResortKemPreKey } = payload;
  return { device: addedId, preKeys: { identity, signedPreKey, lastResortKemPreKey, oneTimePreKeys: [], kemPreKeys: [] } };
}

/**
 * After the commit (design §5.7): every protocol-2 connection of the user hears of the new version; each
 * connection of a removed device hears that it was removed and is closed (its queue and prekeys are gone
 * and its logins now fail with `unknown_device`); the senders of copies that waited for it get `removed`.
 */
function announce(io: ChatIO, username: string, version: number, removed: readonly number[], receipts: readonly Receipt[]): void {
  io.to(userRoom(username)).except(PROTOCOL_1_ROOM).emit('devices.changed', { username, version });
  for (const device of removed) {
    const room = addressRoom(username, device);
    io.to(room).emit('device.removed', { username, device, version });
    io.in(room).disconnectSockets(true);
  }
  pushReceipts(io, receipts);
}

export function deviceHandlers({ config, store, io, logger }: DeviceServiceDeps): Pick<HandlerTableV2, 'devices.list' | 'devices.publish'> {
  return {
    'devices.list': {
      run: async (conn, p) => {
        const { username: caller } = signedInAddress(conn);
        if (!(await store.getUser(p.username))) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        const list = await store.getDeviceList(p.username);
        // When a device was last seen is told to its own user only: peers do not learn when someone was online.
        const lastSeen = (list?.devices ?? []).flatMap((d) => (d.lastSeenAt === null ? [] : [{ device: d.device, at: d.lastSeenAt }]));
        return { username: p.username, deviceList: listWire(list), ...(p.username === caller && { lastSeen }) };
      },
    },
    'devices.publish': {
      run: async (conn, p) => {
        const { username } = signedInAddress(conn);
        const user = await store.getUser(username);
        if (!user) throw new ChatError('unknown_user', `no user named "${username}"`);
        const next = openPublishedList(p.deviceList, user); // steps 1–3: shape, keys, signature
        const stored = await store.getDeviceList(username);
        // A user without a list is served as {1} with its registered keys: its first list (a migrated
        // user's version 1, §4.7) has no history to respect beyond adding at most one device.
        const previous = stored ? decodeDeviceListPayload(base64urlDecode(stored.list)) : null;
        const history = checkPublishHistory(previous, next); // step 4
        if (!history.ok) throw new ChatError('device_list_outdated', `device list: ${history.message}`);
        const added = checkAddedDevice(next, history.added, p.added); // step 5
        const now = Date.now();
        const result = await store.publishDeviceList(
          deviceListInput(next, p.deviceList),
          added,
          history.removed,
          { replaces: stored?.version ?? null, now, receiptExpiresAt: now + config.queueTtlMs },
        );
        if (result.status === 'outdated') {
          throw new ChatError('device_list_outdated', `device list: version ${result.current} was published meanwhile; build on it`);
        }
        // Told once durable, not at commit: a removed device that hears "removed" (and its senders who
        // get `removed` receipts) must never find it listed again after a crash before the fsync.
        announce(io, username, result.version, history.removed, result.receipts);
        logger.info({ user: username, version: result.version, added: history.added, removed: history.removed }, 'device list published');
        return { version: result.version };
      },
    },
  };
}
