/**
 * What a group tells its listeners: a message read and checked, a membership change, a refusal. Its own
 * module so that the history (group-history.ts), which turns these into entries, and the runtime that
 * emits them (group-runtime.ts) need not import each other.
 */
import type { ChatError } from '../../protocol/errors.js';
import type { Address } from '../address.js';

/** A message of a group, read and checked: its sender is a member whose user's verified list names it. */
export interface GroupMessageEvent {
  readonly groupId: string;
  readonly name: string | undefined;
  readonly from: Address;
  readonly text: string;
  /** The sender's clock (its own word, inside the encryption). */
  readonly sentAt: number;
  readonly seq: number;
}

/** A group's membership changed, as MLS says (a commit applied, a join, this device leaving or removed). */
export interface GroupMembershipEvent {
  readonly groupId: string;
  readonly name: string | undefined;
  readonly epoch: number;
  readonly added: readonly Address[];
  readonly removed: readonly Address[];
  /** This device joined the group (from a Welcome). */
  readonly joined?: true;
  /** This device is no longer a member (removed by a commit, or its user left). */
  readonly left?: true;
}

/** A group message this device refused (forged handshake, a sender no longer listed, a failed decryption, a replay). */
export interface GroupRefusalEvent {
  readonly groupId: string;
  readonly seq: number;
  readonly from: Address;
  readonly error: ChatError;
}
