/**
 * The Delivery Service as the group code sees it (docs/design/groups-mls.md §4, §5): one method per
 * event of the design's table, with bytes as bytes and epochs as numbers. The real one speaks through
 * ServerConnection (wire-group-delivery.ts); tests use an in-memory one with the same semantics
 * (test/helpers/fake-group-delivery.ts), hostile when they need it to be.
 *
 * Nothing here is trusted: every answer is checked by the manager against what MLS says (an epoch, a
 * member, a KeyPackage's credential), and everything pushed is processed by MLS before it counts.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import type { Address } from '../address.js';

/** One entry of a group's log: what `group.message` pushes and `group.sync` returns. */
export interface GroupLogEntry {
  readonly groupId: Bytes;
  readonly seq: number;
  readonly epoch: number;
  readonly kind: 'commit' | 'application';
  readonly message: Bytes;
  readonly from: Address;
}

export interface GroupWelcomeDelivery {
  readonly groupId: Bytes;
  /** The place of the commit that added this device: the log after it is this device's to read. */
  readonly seq: number;
  readonly welcome: Bytes;
  readonly from: Address;
}

export interface GroupCommitRequest {
  readonly groupId: Uint8Array;
  readonly epoch: number;
  readonly commit: Bytes;
  readonly welcome?: Bytes;
  readonly add: readonly Address[];
  readonly remove: readonly Address[];
}

export interface ClaimedKeyPackage {
  readonly device: number;
  readonly keyPackage: Bytes;
  readonly lastResort: boolean;
}

export interface GroupDelivery {
  createGroup(groupId: Uint8Array): Promise<{ epoch: number }>;
  /** Rejects with GroupEpochStaleError when another commit took `epoch` first. */
  commit(request: GroupCommitRequest): Promise<{ epoch: number; seq: number }>;
  send(groupId: Uint8Array, epoch: number, message: Bytes): Promise<{ seq: number }>;
  /**
   * The group's log after `afterSeq` (0: from the start; sequence numbers start at 1), oldest first, at
   * most GROUP_SYNC_BATCH entries (a full batch may have more after it), and the server's current epoch.
   */
  sync(groupId: Uint8Array, afterSeq: number): Promise<{ messages: readonly GroupLogEntry[]; epoch: number }>;
  info(groupId: Uint8Array): Promise<{ epoch: number; members: readonly Address[] }>;
  /** One package per device of the list that has one; rejects with `no_key_packages` when none has. */
  claimKeyPackages(user: string, listVersion: number): Promise<{ listVersion: number; packages: readonly ClaimedKeyPackage[] }>;
  uploadKeyPackages(packages: readonly Bytes[], lastResort?: Bytes): Promise<{ stored: number; oneTime: number }>;
  countKeyPackages(): Promise<{ oneTime: number; lastResort: boolean }>;
}

/** The Delivery Service refused a commit: its epoch is no longer current (§4.2). */
export class GroupEpochStaleError extends ChatError {
  /** The server's current epoch, as it says: a hint, never trusted beyond "sync". */
  readonly epoch: number | undefined;
  constructor(message: string, epoch: number | undefined, options?: { cause?: unknown }) {
    super('group_epoch_stale', message, options);
    this.name = 'GroupEpochStaleError';
    this.epoch = epoch;
  }
}

export function isEpochStale(error: unknown): boolean {
  return error instanceof ChatError && error.code === 'group_epoch_stale';
}
