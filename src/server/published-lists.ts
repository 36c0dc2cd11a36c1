/**
 * Opening a device list a user publishes, in `register` (protocol 2) or `devices.publish` (design §4.4
 * steps 1–3, PROTOCOL.md §17.4, §19.6): its shape and keys (`bad_request`), then its signature under the
 * registered account key (`bad_signature`). Whether it may follow the stored list is the caller's next
 * step (device-list-history.ts).
 */
import { base64urlDecode, base64urlEncode, constantTimeEqual } from '../crypto/bytes.js';
import { decodeDeviceListPayload, type DeviceList } from '../protocol/device-list-payload.js';
import { openDeviceList } from '../protocol/device-list-signature.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import { ChatError } from '../protocol/errors.js';
import type { UserKeys } from '../protocol/events.js';
import type { DeviceListInput } from './store/server-store.js';

/** Whose list it must be: the name and the registered keys (the payload's own, in a registration). */
export type ListOwner = Pick<UserKeys, 'username' | 'signingKey' | 'encryptionKey'>;

const malformed = (message: string) => new ChatError('bad_request', `deviceList: ${message}`);

/**
 * The decoded list, or a refusal. Shape first: the §17.2 layout with its key rules, the owner's name and
 * account key, device 1 first with the account key, and device 1's RSA key the registered one (device 1's
 * keys are the account's, design §2.4; a list giving it another RSA key would make peers encrypt hybrid
 * messages to a key the registration never vouched for); for a registration's `first` list, version 1
 * with device 1 alone (§5.2). Then the signature.
 */
export function openPublishedList(wire: DeviceListWire, owner: ListOwner, options: { first?: boolean } = {}): DeviceList {
  let list: DeviceList;
  try {
    list = decodeDeviceListPayload(base64urlDecode(wire.list));
  } catch (err) {
    throw malformed(err instanceof ChatError ? err.message : 'list is not base64url');
  }
  const accountKey = base64urlDecode(owner.signingKey.x);
  if (list.username !== owner.username) throw malformed(`the list is for "${list.username}", not "${owner.username}"`);
  if (!constantTimeEqual(list.accountKey, accountKey)) throw malformed('the list names another account key than the registered one');
  if (!constantTimeEqual(list.devices[0]!.rsaModulus, base64urlDecode(owner.encryptionKey.n))) {
    throw malformed("device 1's RSA key is not the registered encryption key");
  }
  if (options.first && (list.version !== 1 || list.devices.length !== 1)) throw malformed('a first device list is version 1 and lists device 1 alone');
  const opened = openDeviceList(wire, { username: owner.username, accountKey });
  if (!opened.ok) throw opened.failure === 'malformed' ? malformed(opened.message) : new ChatError('bad_signature', opened.message);
  return opened.list;
}

/** The list as the store keeps it: the payload byte for byte, the signature, and each device's keys. */
export function deviceListInput(list: DeviceList, wire: DeviceListWire): DeviceListInput {
  return {
    username: list.username,
    version: list.version,
    maxDeviceId: list.maxDeviceId,
    list: base64urlEncode(list.payload),
    signature: wire.signature,
    devices: list.devices.map((d) => ({
      device: d.deviceId,
      signingKey: base64urlEncode(d.signingKey),
      dhKey: base64urlEncode(d.identityKey),
      encryptionKeyN: base64urlEncode(d.rsaModulus),
      name: d.name,
      addedAt: d.addedAt,
    })),
  };
}
