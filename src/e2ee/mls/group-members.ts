/**
 * Who is in a group, read from the ratchet tree: every non-blank leaf, with the device its credential
 * names. Leaves were admitted through device-identity-check.ts, so each credential decodes; one that does
 * not is reported as such rather than hidden.
 */
import type { ClientState, LeafNode, RatchetTree } from 'ts-mls';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { decodeMemberCredential, type MemberIdentity } from './member-credential.js';

export interface GroupMember extends MemberIdentity {
  readonly leafIndex: number;
  readonly signaturePublicKey: Uint8Array;
}

function* leaves(tree: RatchetTree): Generator<[number, LeafNode]> {
  // Leaves sit at the even node indices of the array-represented tree (RFC 9420 Appendix C).
  for (let node = 0; node < tree.length; node += 2) {
    const entry = tree[node];
    if (entry?.nodeType === 'leaf') yield [node / 2, entry.leaf];
  }
}

export function groupMembers(state: ClientState): GroupMember[] {
  const out: GroupMember[] = [];
  for (const [leafIndex, leaf] of leaves(state.ratchetTree)) {
    const member = decodeMemberCredential(leaf.credential);
    if (member === undefined) throw new TypeError(`leaf ${leafIndex} carries a credential that is not ours`);
    out.push({ ...member, leafIndex, signaturePublicKey: leaf.signaturePublicKey });
  }
  return out;
}

/** The member whose leaf signs with `publicKey`, in the tree given (keys are unique per tree, RFC 9420 §7.3). */
export function memberBySignatureKey(tree: RatchetTree, publicKey: Uint8Array): MemberIdentity | undefined {
  for (const [, leaf] of leaves(tree)) {
    if (constantTimeEqual(leaf.signaturePublicKey, publicKey)) return decodeMemberCredential(leaf.credential);
  }
  return undefined;
}

export function groupEpoch(state: ClientState): bigint {
  return state.groupContext.epoch;
}
