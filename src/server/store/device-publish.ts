/**
 * What every store checks of a device list publish before changing anything (design §5.7, §9.3). The
 * caller has verified the list and its history (§4.4); these checks hold the store's own invariants,
 * so a caller that got them wrong fails loudly instead of leaving a removed device's queue behind.
 */
import type { AddedDevice, DeviceListInput, PublishContext, PublishResult } from './server-store.js';

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
