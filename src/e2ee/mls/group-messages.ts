/**
 * Application messages and incoming handshakes. Sending encrypts under the current epoch's secret tree
 * (RFC 9420 §6.3); receiving opens a PrivateMessage, applies a commit, or returns the plaintext with the
 * member who signed it.
 *
 * ts-mls returns an application message's plaintext without its sender. The sender is the leaf whose key
 * verified the message's FramedContentTBS signature (§6.1), so processing runs with a ciphersuite of its
 * own that records which key that was; signature keys are unique in a tree (§7.3), so the key names one
 * leaf, and its credential names the device.
 */
import { processPrivateMessage, emptyPskIndex, createApplicationMessage, type ClientState } from 'ts-mls';
import { concatBytes, constantTimeEqual, utf8Encode, type Bytes } from '../../crypto/bytes.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { deviceCiphersuite } from './ciphersuite.js';
import { checkMemberIdentity, DeviceListAuthenticationService } from './device-identity-check.js';
import { groupMembers, memberBySignatureKey } from './group-members.js';
import { memberCredential, type MemberIdentity } from './member-credential.js';
import { GroupMemberRefusedError } from './member-refused-error.js';
import type { MlsDevice } from './mls-device.js';
import { decodePrivateMessage, encodePrivateMessage } from './mls-wire.js';

/** SignContent's label as encoded before the content (§5.1.2): a one-byte length, then "MLS 1.0 FramedContentTBS". */
const FRAMED_CONTENT_LABEL = (() => {
  const label = utf8Encode('MLS 1.0 FramedContentTBS');
  return concatBytes(Uint8Array.of(label.length), label);
})();

export async function encryptGroupMessage(device: MlsDevice, state: ClientState, plaintext: Uint8Array): Promise<{ message: Bytes; state: ClientState }> {
  const result = await createApplicationMessage(state, plaintext, device.ciphersuite);
  return { message: encodePrivateMessage(result.privateMessage), state: result.newState };
}

export type GroupMessageResult =
  | { readonly kind: 'application'; readonly sender: MemberIdentity; readonly plaintext: Bytes; readonly state: ClientState }
  /** A commit applied: the group is at `epoch`; `removed` when it removed this device. */
  | { readonly kind: 'commit'; readonly epoch: bigint; readonly removed: boolean; readonly state: ClientState }
  /** A handshake for an epoch this device has left: the Delivery Service ordered another commit first. */
  | { readonly kind: 'stale'; readonly epoch: bigint }
  /** A message for an epoch this device has not reached: commits were withheld or reordered; sync first. */
  | { readonly kind: 'ahead'; readonly epoch: bigint };

function sameGroup(state: ClientState, groupId: Uint8Array): boolean {
  return constantTimeEqual(state.groupContext.groupId, groupId);
}

/**
 * Processes one PrivateMessage of the group. Failures throw: `group_member_refused` when a commit brings a
 * device its user's verified list does not vouch for, DecryptionFailedError for everything else (one
 * error whatever check failed, as for 1:1 envelopes).
 */
export async function processGroupMessage(device: MlsDevice, state: ClientState, messageBytes: Uint8Array): Promise<GroupMessageResult> {
  const message = decodePrivateMessage(messageBytes);
  if (!sameGroup(state, message.groupId)) throw new ChatError('bad_request', 'message for another group');
  const epoch = state.groupContext.epoch;
  if (message.contentType !== 'application' && message.epoch < epoch) return { kind: 'stale', epoch: message.epoch };
  if (message.epoch > epoch) return { kind: 'ahead', epoch: message.epoch };

  let signer: Uint8Array | undefined;
  const ciphersuite = await deviceCiphersuite(device.signingKey, (publicKey, signContent) => {
    const head = signContent.subarray(0, FRAMED_CONTENT_LABEL.length);
    if (head.length === FRAMED_CONTENT_LABEL.length && constantTimeEqual(head, FRAMED_CONTENT_LABEL)) signer = Uint8Array.from(publicKey);
  });
  // An AuthenticationService of this call's own, so a refusal it records is this message's.
  // Refusals are recorded and acted on here, after ts-mls returns (device-identity-check.ts says why).
  const authService = new DeviceListAuthenticationService(device.lists, { deferRefusals: true });
  const refused = (cause?: unknown) =>
    new GroupMemberRefusedError(`a commit brings a device its user's list does not vouch for (${authService.refusals[0]!.reason})`, authService.refusals, cause === undefined ? undefined : { cause });
  let result: Awaited<ReturnType<typeof processPrivateMessage>>;
  try {
    result = await processPrivateMessage({ ...state, clientConfig: { ...device.clientConfig, authService } }, message, emptyPskIndex, ciphersuite);
  } catch (cause) {
    if (authService.refusals.length > 0) throw refused(cause);
    throw new DecryptionFailedError({ cause });
  }
  // The state ts-mls made past a refused credential is dropped here, never returned.
  if (authService.refusals.length > 0) throw refused();

  if (result.kind === 'newState') {
    const newState = { ...result.newState, clientConfig: device.clientConfig };
    const stillMember = groupMembers(newState).some((m) => constantTimeEqual(m.signaturePublicKey, device.signingKey.publicKey));
    return { kind: 'commit', epoch: newState.groupContext.epoch, removed: !stillMember || newState.groupActiveState.kind !== 'active', state: newState };
  }
  // The sender's leaf is in the tree of the epoch the message was sent in.
  const tree = message.epoch === epoch ? state.ratchetTree : state.historicalReceiverData.get(message.epoch)?.ratchetTree;
  const sender = signer === undefined || tree === undefined ? undefined : memberBySignatureKey(tree, signer);
  if (sender === undefined) throw new DecryptionFailedError();
  // The leaf was checked when it joined; its device may have left its user's list since, before anyone
  // committed its removal. Its messages stop counting from the moment this client verified that list.
  const stillListed = await checkMemberIdentity(memberCredential(sender), signer!, device.lists);
  if (!stillListed.ok) {
    throw new GroupMemberRefusedError(`message from ${sender.username}/${sender.deviceId}, which its user's device list no longer vouches for (${stillListed.reason})`, [
      { reason: stillListed.reason, member: sender },
    ]);
  }
  return { kind: 'application', sender, plaintext: Uint8Array.from(result.message), state: { ...result.newState, clientConfig: device.clientConfig } };
}
