/**
 * A group operation refused because a leaf's credential is not vouched for by the device lists this
 * client holds (device-identity-check.ts), with each refusal's reason and the member it names. Toward
 * the network it is `group_member_refused`; inside, the caller reads `refusals` to tell "fetch the newer
 * list of this user, then try again" (no_verified_list, device_not_listed: a list held here may simply be
 * older than the one the committer checked) from a forgery that a newer list will not change.
 */
import { ChatError } from '../../protocol/errors.js';
import type { IdentityRefusal } from './device-identity-check.js';
import type { MemberIdentity } from './member-credential.js';

export interface MemberRefusal {
  readonly reason: IdentityRefusal;
  readonly member?: MemberIdentity;
}

export class GroupMemberRefusedError extends ChatError {
  readonly refusals: readonly MemberRefusal[];
  constructor(message: string, refusals: readonly MemberRefusal[], options?: { cause?: unknown }) {
    super('group_member_refused', message, options);
    this.name = 'GroupMemberRefusedError';
    this.refusals = refusals;
  }

  /** Users whose newer verified list might vouch for what was refused (a list held here may be older). */
  get usersToRefresh(): string[] {
    const users = this.refusals.filter((r) => r.member !== undefined && (r.reason === 'no_verified_list' || r.reason === 'device_not_listed' || r.reason === 'signature_key_mismatch'));
    return [...new Set(users.map((r) => r.member!.username))].sort();
  }
}
