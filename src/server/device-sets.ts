/**
 * The device set of a user as the server serves it (design §3.4, §5.5.4): the ids of the stored list,
 * or device 1 alone for a user who never published one; and the rule a `send` must follow with it.
 */
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import type { DeviceSetChange } from '../protocol/events-v2.js';
import { ChatError } from '../protocol/errors.js';
import type { CheckedLists, QueueQuota, StoredDeviceList } from './store/server-store.js';
import { PRIMARY_DEVICE } from './store/server-store.js';
import type { ServerConfig } from './config.js';

/** `cur(u)`: the device ids of `u`'s stored list, in id order; `{1}` without a list. */
export function currentDevices(list: StoredDeviceList | undefined): number[] {
  return list ? list.devices.map((d) => d.device) : [PRIMARY_DEVICE];
}

/** True when `cur(u) = {1}`: the world of protocol 1, where a protocol-1 connection may write (§5.9). */
export function isSingleDevice(list: StoredDeviceList | undefined): boolean {
  const devices = currentDevices(list);
  return devices.length === 1 && devices[0] === PRIMARY_DEVICE;
}

/** The signed list as it travels, or null for a user without one. */
export function listWire(list: StoredDeviceList | undefined): DeviceListWire | null {
  return list ? { list: list.list, signature: list.signature } : null;
}

/** The queue caps of design §9.4, from the server's configuration. */
export function queueQuota(config: ServerConfig): QueueQuota {
  return {
    maxCount: config.queueMaxCount,
    maxBytes: config.queueMaxBytes,
    userMaxBytes: config.userQueueMaxBytes,
    senderMaxCount: config.senderQueueMaxCount,
    senderMaxBytes: config.senderQueueMaxBytes,
    serverMaxBytes: config.serverQueueMaxBytes,
  };
}

/** The addressed copies of a send, as the device-set rule reads them. */
export interface NamedCopy {
  to: string;
  device: number;
}

function difference(a: readonly number[], b: readonly number[]): number[] {
  return a.filter((x) => !b.includes(x));
}

/**
 * The device-set rule of design §5.5.4: for a recipient `R` other than the sender, the copies for `R`
 * name exactly `cur(R)` and those for the sender exactly `cur(sender) − {me}`; for `R` = the sender, any
 * non-empty subset of `cur(sender) − {me}`. Returns each user of the send with the devices it misses and
 * names in vain (recipient first, then the sender) when any is, else undefined.
 */
export function deviceSetChanges(p: {
  sender: string;
  me: number;
  recipient: string;
  copies: readonly NamedCopy[];
  recipientList: StoredDeviceList | undefined;
  senderList: StoredDeviceList | undefined;
}): DeviceSetChange[] | undefined {
  const named = (user: string) => p.copies.filter((c) => c.to === user).map((c) => c.device);
  const others = currentDevices(p.senderList).filter((d) => d !== p.me);
  const own: DeviceSetChange = {
    username: p.sender,
    missing: p.recipient === p.sender ? [] : difference(others, named(p.sender)),
    stale: difference(named(p.sender), others),
    deviceList: listWire(p.senderList),
  };
  const users = [own];
  if (p.recipient !== p.sender) {
    const current = currentDevices(p.recipientList);
    const theirs = named(p.recipient);
    users.unshift({ username: p.recipient, missing: difference(current, theirs), stale: difference(theirs, current), deviceList: listWire(p.recipientList) });
  }
  return users.some((u) => u.missing.length + u.stale.length > 0) ? users : undefined;
}

/** The refusal's text: "bob has devices you did not write to (3); you wrote to devices bob does not have (2)". */
export function describeChanges(users: readonly DeviceSetChange[]): string {
  return users
    .flatMap((u) => [
      ...(u.missing.length > 0 ? [`${u.username} has devices you did not write to (${u.missing.join(', ')})`] : []),
      ...(u.stale.length > 0 ? [`you wrote to devices ${u.username} does not have (${u.stale.join(', ')})`] : []),
    ])
    .join('; ');
}

/**
 * Sends checked against lists that a publish then replaced are checked again (the store refuses them
 * with `lists_changed`, storing nothing); a user who keeps publishing faster than their own send commits
 * gets this after a few rounds rather than a loop.
 */
export const LISTS_CHANGED_ATTEMPTS = 3;

export function listsKeptChanging(): ChatError {
  return new ChatError('internal', 'the device lists of this conversation kept changing while the send was stored; nothing was stored, send again');
}

/** The versions a device-set check read, for the store to compare inside the send's transaction. */
export function checkedLists(...users: Array<[string, StoredDeviceList | undefined]>): CheckedLists {
  return users.map(([username, list]) => ({ username, version: list?.version ?? null }));
}
