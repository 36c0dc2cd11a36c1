/**
 * Removing one of the user's devices (docs/PROTOCOL.md §18.10): the primary publishes the next version of
 * its list without it. The server then deletes what was queued to and from the device, closes its
 * connections and refuses its logins; peers drop its sessions when they next take in the list (§21.3).
 */
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { ChatError } from '../protocol/errors.js';
import { PRIMARY_DEVICE } from './address.js';
import type { DeviceDirectory } from './device-directory.js';
import { withDeviceRemoved } from './own-list-edits.js';
import type { ServerConnection } from './server-connection.js';

export interface RemovalDeps {
  readonly connection: Pick<ServerConnection, 'call'>;
  readonly devices: DeviceDirectory;
  readonly username: string;
  readonly device: number;
  /** The account key, which only the primary holds. */
  readonly signingKey: Ed25519SigningKey;
  readonly now?: () => number;
}

/** Publishes the user's list without `device`; returns the new version. */
export async function removeOwnDevice(deps: RemovalDeps, device: number): Promise<{ device: number; name: string; version: number }> {
  const { username } = deps;
  if (deps.device !== PRIMARY_DEVICE) {
    throw new ChatError('not_primary', `only ${username}'s device 1 holds the account key and can change ${username}'s devices; this is device ${deps.device}`);
  }
  // The newest list, verified: removing from a stale one would be refused as out of date anyway.
  const current = await deps.devices.refresh(username);
  if (!current) throw new ChatError('unknown_device', `${username} has no device list on this server, so no device ${device}`);
  const removed = current.devices.find((d) => d.deviceId === device);
  const deviceList = await withDeviceRemoved(current, device, deps.signingKey, (deps.now ?? Date.now)());
  await deps.connection.call('devices.publish', { deviceList });
  const published = await deps.devices.accept(username, deviceList);
  return { device, name: removed!.name, version: published!.version };
}
