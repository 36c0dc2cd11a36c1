/**
 * What a client does when the server refuses a send because its device set is out of date
 * (`devices_changed`, docs/PROTOCOL.md §21.5): take in the current lists the refusal carries (verified
 * like any list), check that the refusal agrees with them, drop the copies of devices that are gone and
 * seal the message for the devices that are new, keeping every other copy exactly as it was sealed. No
 * message key is spent twice and no device ever gets two different envelopes of one message.
 */
import type { DevicesChangedDetails } from '../protocol/events-v2.js';
import { ChatError } from '../protocol/errors.js';
import { addressText, type Address } from './address.js';
import { DeviceDirectory } from './device-directory.js';
import type { MessageSealer } from './message-sealer.js';
import type { MessageStore, OutboxEntry } from './stores.js';

export interface DeviceSetRefreshDeps {
  /** This user: an entry to the user itself (history for a linked device) is completed differently. */
  username: string;
  devices: DeviceDirectory;
  sealer: Pick<MessageSealer, 'sealCopies'>;
  messages: MessageStore;
}

/** A refused list or a refusal that contradicts its own lists: the server's answer is not believed. */
function badResponse(message: string, cause?: unknown): ChatError {
  return new ChatError('bad_response', message, { cause });
}

/**
 * Brings `entry` up to the lists in `details` and rewrites it in the outbox; returns the entry to send
 * again. Throws bad_response (a passing failure: the attempt counts, §13) when a list is refused or the
 * refusal's missing and stale devices do not follow from its lists.
 */
export async function refreshDeviceSet(entry: OutboxEntry, details: DevicesChangedDetails, deps: DeviceSetRefreshDeps): Promise<OutboxEntry> {
  for (const change of details.users) {
    let list;
    try {
      list = await deps.devices.accept(change.username, change.deviceList);
    } catch (err) {
      if (err instanceof ChatError && (err.code === 'device_list_invalid' || err.code === 'device_list_rollback')) {
        throw badResponse(`the server refused a send of ${entry.id} with a device list for "${change.username}" that was refused: ${err.message}`, err);
      }
      throw err;
    }
    const current = new Set(DeviceDirectory.devicesOf(list));
    if (change.missing.some((d) => !current.has(d)) || change.stale.some((d) => current.has(d))) {
      throw badResponse(`the server's devices_changed for "${change.username}" names devices its own list contradicts`);
    }
  }
  if (entry.to === deps.username) return keepListedOwnCopies(entry, deps);
  const targets = await deps.devices.targets(entry.to, true);
  const key = (a: { to?: string; user?: string; device: number }) => `${a.to ?? a.user}/${a.device}`;
  const wanted = new Set(targets.map(key));
  const kept = entry.messages.filter((m) => wanted.has(key(m)));
  const have = new Set(kept.map(key));
  const missing: Address[] = targets.filter((t) => !have.has(key(t)));
  let added: OutboxEntry['messages'] = [];
  if (missing.length > 0) {
    const record = await deps.messages.get(entry.id, 'out');
    if (!record) throw new ChatError('internal', `message ${entry.id} has no history record to seal it again for ${missing.map(addressText).join(', ')}`);
    added = await deps.sealer.sealCopies(record, missing);
  }
  const messages = [...kept, ...added];
  if (!(await deps.messages.rewriteOutgoing(entry.id, messages))) throw new ChatError('internal', `message ${entry.id} left the outbox while its devices were refreshed`);
  return { ...entry, messages };
}

/**
 * An entry to the user's own devices (history for one linked device, §21.3.1) goes to the devices it
 * names, not to every one (§19.7.4): the copies of devices that left the list are dropped and nothing is
 * sealed for devices that came. With no copy left the message has nowhere to go: given up
 * (`unknown_device`, §21.5 step 2).
 */
async function keepListedOwnCopies(entry: OutboxEntry, deps: DeviceSetRefreshDeps): Promise<OutboxEntry> {
  const listed = new Set(DeviceDirectory.devicesOf(await deps.devices.list(deps.username)));
  const messages = entry.messages.filter((m) => listed.has(m.device));
  if (messages.length === 0) {
    throw new ChatError('unknown_device', `${entry.messages.map((m) => addressText({ user: m.to, device: m.device })).join(', ')} left the device list of "${deps.username}" before ${entry.id} went out`);
  }
  if (!(await deps.messages.rewriteOutgoing(entry.id, messages))) throw new ChatError('internal', `message ${entry.id} left the outbox while its devices were refreshed`);
  return { ...entry, messages };
}
