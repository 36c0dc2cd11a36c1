/**
 * A device list publish, the same in every store (design §5.7, §9.3): what is checked before anything
 * changes, and in what order a removed device's data goes. The caller has verified the list and its
 * history (§4.4); the checks here hold the store's own invariants, so a caller that got them wrong fails
 * loudly instead of leaving a removed device's queue behind.
 */
import { type AddedDevice, type DeviceListInput, PRIMARY_DEVICE, type PublishContext, type PublishResult, type Receipt } from './server-store.js';

/**
 * Undefined when the publish may go ahead against the stored version and device ids (device ids
 * undefined for a user without a list, who is served as {1}); `outdated` when another list landed since
 * the caller read `context.replaces`. Throws when the arguments contradict each other.
 */
export function checkPublication(
  list: DeviceListInput,
  added: AddedDevice | undefined,
  removed: readonly number[],
  context: PublishContext,
  stored: { version: number; devices: readonly number[] } | undefined,
): Extract<PublishResult, { status: 'outdated' }> | undefined {
  const current = stored?.version ?? null;
  if (current !== context.replaces) return { status: 'outdated', current };
  if (list.version <= (current ?? 0)) throw new Error(`publishDeviceList: version ${list.version} does not follow ${current ?? 'no list'}`);
  const listed = new Set(list.devices.map((d) => d.device));
  if (!listed.has(1)) throw new Error('publishDeviceList: device 1 is never removed, and every list names it');
  const before = stored?.devices ?? [1];
  const gone = before.filter((d) => !listed.has(d)).sort((a, b) => a - b);
  const named = [...new Set(removed)].sort((a, b) => a - b);
  if (gone.join() !== named.join()) {
    throw new Error(`publishDeviceList: the list removes devices [${gone.join(', ')}], the caller named [${named.join(', ')}]`);
  }
  if (added && (!listed.has(added.device) || before.includes(added.device))) {
    throw new Error(`publishDeviceList: device ${added.device} is not one this list adds`);
  }
  return undefined;
}

/** What a store does to take one removed device's data away, inside the publish transaction. */
export interface DeviceRemoval {
  /** Deletes the device's queue (a `removed` receipt per copy, returned) and the envelopes it sent. */
  queues(device: number): Receipt[];
  preKeys(device: number): void;
  /** Deletes the receipts owed to the device; returns their ids. */
  receiptsOwedTo(device: number): Set<string>;
}

/**
 * Removes each device's data (design §9.3) and returns the `removed` receipts left for senders. Receipts
 * owed to removed devices go last, once every queue is gone, so a copy between two devices removed
 * together leaves nothing behind.
 */
export function removeDevices(username: string, removed: readonly number[], steps: DeviceRemoval): Receipt[] {
  let receipts: Receipt[] = [];
  for (const device of removed) {
    receipts.push(...steps.queues(device));
    steps.preKeys(device);
  }
  for (const device of removed) {
    const dropped = steps.receiptsOwedTo(device);
    receipts = receipts.filter((r) => !(r.sender === username && r.senderDevice === device && dropped.has(r.id)));
  }
  return receipts;
}

/**
 * Device 1 is the one device whose identity key a list may change (design §4.5 rule 5, a primary that
 * lost its ratchet store). Its stored prekeys are bound to the old key, so every client would refuse
 * the bundle as a lie: they go in the publish, and the server answers `no_prekeys` until the primary
 * uploads under its new key.
 */
export function dropPrimaryPreKeysOfOldIdentity(
  list: DeviceListInput,
  preKeys: { identityOf(username: string, device: number): string | null; remove(username: string, device: number): void },
): void {
  const listed = list.devices.find((d) => d.device === PRIMARY_DEVICE)?.dhKey;
  const stored = preKeys.identityOf(list.username, PRIMARY_DEVICE);
  if (stored !== null && stored !== listed) preKeys.remove(list.username, PRIMARY_DEVICE);
}
