/**
 * Joining a group from a Welcome (RFC 9420 §12.4.3.1). The Welcome carries the ratchet tree (our commits
 * always include it), and ts-mls checks every leaf of that tree, and the GroupInfo's signer, through this
 * device's AuthenticationService: a device joins only a group whose every member its verified device
 * lists vouch for. When the refusal is only a list this device has not fetched yet, the error says whose,
 * so the caller can fetch and verify it and try again.
 */
import { emptyPskIndex, joinGroup, type ClientState } from 'ts-mls';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { DeviceListAuthenticationService } from './device-identity-check.js';
import { welcomeIsFor, type DeviceKeyPackage } from './key-package.js';
import type { MlsDevice } from './mls-device.js';
import { GroupMemberRefusedError } from './member-refused-error.js';
import { decodeWelcomeMessage } from './mls-wire.js';

export class MissingDeviceListsError extends ChatError {
  readonly usernames: readonly string[];
  constructor(usernames: readonly string[], options?: { cause?: unknown }) {
    super('group_member_refused', `the Welcome names users whose device lists are not verified here: ${usernames.join(', ')}`, options);
    this.name = 'MissingDeviceListsError';
    this.usernames = usernames;
  }
}

/** Which of this device's KeyPackages a Welcome is for (undefined: none; the Welcome is not for us). */
export function keyPackageForWelcome(welcomeMessage: Uint8Array, keyPackages: readonly DeviceKeyPackage[]): DeviceKeyPackage | undefined {
  const welcome = decodeWelcomeMessage(welcomeMessage);
  return keyPackages.find((kp) => welcomeIsFor(welcome, kp));
}

export async function joinFromWelcome(device: MlsDevice, welcomeMessage: Uint8Array, keyPackage: DeviceKeyPackage): Promise<ClientState> {
  const welcome = decodeWelcomeMessage(welcomeMessage);
  if (!welcomeIsFor(welcome, keyPackage)) throw new ChatError('bad_request', 'the Welcome holds no secrets for this KeyPackage');
  // One pass checks every leaf; users without a verified list here are collected instead of stopping it
  // at the first, so the caller fetches all their lists at once. Such a pass's state is never returned.
  // Refusals are recorded and acted on here, after ts-mls returns (device-identity-check.ts says why).
  const authService = new DeviceListAuthenticationService(device.lists, { acceptMissingLists: true, deferRefusals: true });
  const clientConfig = { ...device.clientConfig, authService };
  const refused = (cause?: unknown) =>
    new GroupMemberRefusedError(`the Welcome's group has a member its device list does not vouch for (${authService.refusals[0]!.reason})`, authService.refusals, cause === undefined ? undefined : { cause });
  let state: ClientState;
  try {
    state = await joinGroup(welcome, keyPackage.publicPackage, keyPackage.privatePackage, emptyPskIndex, device.ciphersuite, undefined, undefined, clientConfig);
  } catch (cause) {
    if (authService.refusals.length > 0) throw refused(cause);
    throw new DecryptionFailedError({ cause });
  }
  // The state joined past a refused member is dropped here, never returned.
  if (authService.refusals.length > 0) throw refused();
  if (authService.missingLists.size > 0) throw new MissingDeviceListsError([...authService.missingLists].sort());
  return { ...state, clientConfig: device.clientConfig };
}
