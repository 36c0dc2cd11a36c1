/**
 * Creating a group and changing it: every change is one MLS commit (RFC 9420 §12.4) sent as a
 * PrivateMessage. A commit is made against the epoch the author holds and returns the state it would
 * lead to, without adopting it: the Delivery Service orders commits per group, and only when it accepts
 * this one (its epoch is still current) does the author adopt `pendingState`. When another commit won
 * the epoch, the author drops `pendingState`, processes the winner, and makes its change again on the
 * new epoch (docs/design/groups-mls.md §4.2).
 */
import { createCommit, createGroup, type ClientState, type Proposal } from 'ts-mls';
import { constantTimeEqual, randomBytes, type Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import { GROUP_CIPHERSUITE_NAME } from './ciphersuite.js';
import { checkMemberIdentity } from './device-identity-check.js';
import { groupMembers } from './group-members.js';
import { groupNameExtension } from './group-name.js';
import { createDeviceKeyPackage } from './key-package.js';
import type { MemberIdentity } from './member-credential.js';
import type { MlsDevice } from './mls-device.js';
import { decodeKeyPackageMessage, encodePrivateMessage, encodeWelcomeMessage } from './mls-wire.js';

/** Group ids are random: they name nothing and say nothing about who made the group. */
export const GROUP_ID_BYTES = 32;

export interface PendingCommit {
  /** The epoch this commit was made in: the Delivery Service accepts it only while that epoch is current. */
  readonly epoch: bigint;
  /** The commit, an MLSMessage (PrivateMessage), for every current member. */
  readonly commit: Bytes;
  /** For added devices: one MLSMessage (Welcome) carrying the ratchet tree, to go to each new device's queue. */
  readonly welcome: Bytes | undefined;
  /** The author's state after the commit, to adopt only once the Delivery Service accepted it. */
  readonly pendingState: ClientState;
}

/** A new group of this device alone; `name`, when given, goes into its GroupContext (group-name.ts). */
export async function createDeviceGroup(device: MlsDevice, groupId: Uint8Array = randomBytes(GROUP_ID_BYTES), name?: string): Promise<ClientState> {
  // The creator's own leaf comes from a KeyPackage that is never published.
  const own = await createDeviceKeyPackage(device);
  const extensions = name === undefined ? [] : [groupNameExtension(name)];
  return createGroup(groupId, own.publicPackage, own.privatePackage, extensions, device.ciphersuite, device.clientConfig);
}

async function commit(device: MlsDevice, state: ClientState, proposals: Proposal[]): Promise<PendingCommit> {
  const epoch = state.groupContext.epoch;
  // The state keeps the config of whoever made or loaded it; commits are checked under this device's.
  const result = await createCommit(
    { state: { ...state, clientConfig: device.clientConfig }, cipherSuite: device.ciphersuite },
    { extraProposals: proposals, ratchetTreeExtension: true },
  );
  if (result.commit.wireformat !== 'mls_private_message') throw new TypeError('expected the commit as a PrivateMessage');
  return {
    epoch,
    commit: encodePrivateMessage(result.commit.privateMessage),
    welcome: result.welcome === undefined ? undefined : encodeWelcomeMessage(result.welcome),
    pendingState: result.newState,
  };
}

/**
 * Adds devices by their KeyPackages (MLSMessage bytes from the directory). Each is checked against its
 * user's verified device list before anything is committed, so a forged package is refused here with a
 * reason; ts-mls checks it again through the AuthenticationService as it applies the add.
 */
export async function commitAdd(device: MlsDevice, state: ClientState, keyPackageMessages: readonly Uint8Array[]): Promise<PendingCommit> {
  if (keyPackageMessages.length === 0) throw new RangeError('"keyPackageMessages" expected at least one KeyPackage');
  const proposals: Proposal[] = [];
  for (const bytes of keyPackageMessages) {
    const keyPackage = decodeKeyPackageMessage(bytes);
    if (keyPackage.cipherSuite !== GROUP_CIPHERSUITE_NAME) throw new ChatError('group_member_refused', 'KeyPackage of another ciphersuite');
    const check = await checkMemberIdentity(keyPackage.leafNode.credential, keyPackage.leafNode.signaturePublicKey, device.lists);
    if (!check.ok) {
      const who = check.member === undefined ? 'a KeyPackage' : `${check.member.username}/${check.member.deviceId}`;
      throw new ChatError('group_member_refused', `${who} refused: ${check.reason}`);
    }
    proposals.push({ proposalType: 'add', add: { keyPackage } });
  }
  return commit(device, state, proposals);
}

function sameDevice(a: MemberIdentity, b: MemberIdentity): boolean {
  return a.username === b.username && a.deviceId === b.deviceId;
}

/** Removes the leaves of the devices named (a whole user: pass each of their devices, see groupMembers). */
export async function commitRemove(device: MlsDevice, state: ClientState, members: readonly MemberIdentity[]): Promise<PendingCommit> {
  const current = groupMembers(state);
  const proposals: Proposal[] = [];
  for (const target of members) {
    const leaf = current.find((m) => sameDevice(m, target));
    if (leaf === undefined) throw new RangeError(`${target.username}/${target.deviceId} is not a member`);
    if (constantTimeEqual(leaf.signaturePublicKey, device.signingKey.publicKey)) throw new RangeError('a device cannot remove itself by commit; it leaves by asking another member');
    proposals.push({ proposalType: 'remove', remove: { removed: leaf.leafIndex } });
  }
  return commit(device, state, proposals);
}

/**
 * An empty commit with a fresh UpdatePath: new leaf and path secrets for this device, so whatever a copy
 * of its earlier state knew opens nothing from the next epoch on (post-compromise security, RFC 9420 §16.6).
 */
export function commitSelfUpdate(device: MlsDevice, state: ClientState): Promise<PendingCommit> {
  return commit(device, state, []);
}
