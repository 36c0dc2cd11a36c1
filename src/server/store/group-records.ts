/**
 * What the server keeps for the MLS Delivery Service (docs/design/groups-mls.md §4): each device's
 * KeyPackages, and per group its epoch, its routing membership (the addresses the committers stated) and
 * its log of commits and application messages, each stored once. The bytes are opaque: the server checks
 * sizes, counts, membership and epochs, never MLS.
 *
 * Delivery to member devices goes through the existing device queues: each member device's queue gets a
 * small *reference* row (group-deliveries.ts) and the delivery pump swaps it for the stored bytes when it
 * reads the queue, so a message for 100 devices is one log row and 100 rows of ~100 bytes.
 */
import type { EnqueueInput, QueueQuota, QueuedEnvelope, QuotaRefusal } from './queue-records.js';

/** One device of one user, as the group events name it. */
export interface MemberAddress {
  user: string;
  device: number;
}

export interface GroupMember extends MemberAddress {
  /** The log seq of the commit that added it (0: the creator): it reads the log after this. */
  joinedSeq: number;
}

export interface GroupRecord {
  groupId: string;
  creator: string;
  /** 0 at creation, +1 per accepted commit. */
  epoch: number;
  /** Seq of the newest log entry (0: none yet). */
  lastSeq: number;
  /** Bytes of the log entries not yet expired (messages and Welcomes), against the group's log cap. */
  logBytes: number;
  members: GroupMember[];
}

/** One log entry: a commit (with the Welcome of the devices it added) or an application message. */
export interface GroupLogRow {
  groupId: string;
  seq: number;
  /** The epoch the message was made in. */
  epoch: number;
  kind: 'commit' | 'application';
  sender: string;
  senderDevice: number;
  message: string;
  welcome: string | null;
  sentAt: number;
  expiresAt: number;
}

/** Bytes a log entry counts for in the group's log cap. */
export const logRowBytes = (row: Pick<GroupLogRow, 'message' | 'welcome'>): number => row.message.length + (row.welcome?.length ?? 0);

export interface GroupWriteBase {
  groupId: string;
  from: MemberAddress;
  epoch: number;
  sentAt: number;
  expiresAt: number;
  /** Server ids for the queued references (ids.ts). */
  newId: () => string;
}
export interface GroupCommitInput extends GroupWriteBase {
  commit: string;
  welcome?: string;
  add: readonly MemberAddress[];
  remove: readonly MemberAddress[];
}
export interface GroupSendInput extends GroupWriteBase {
  message: string;
}

export interface GroupWriteLimits {
  /** The queue caps of the member devices' queues, as for sends. */
  quota: QueueQuota;
  maxMembers: number;
  logMaxBytes: number;
}

export type GroupRefusal =
  | { status: 'unknown_group' }
  | { status: 'not_member' }
  | { status: 'stale'; epoch: number }
  | { status: 'bad_members' | 'group_limit' | 'log_full' | 'server_full'; message: string };

/** An accepted write: the entry as stored and the references queued, one per recipient device. */
export interface GroupWriteAccepted {
  status: 'accepted';
  /** The group's epoch after the write. */
  epoch: number;
  entry: GroupLogRow;
  deliveries: QueuedEnvelope[];
}

export type GroupWriteResult = GroupWriteAccepted | GroupRefusal | QuotaRefusal;

/** What a store does once it has decided (group-plan.ts): the new group row, its log entry, the references to queue. */
export interface GroupWritePlan {
  group: GroupRecord;
  entry: GroupLogRow;
  added: readonly MemberAddress[];
  removed: readonly MemberAddress[];
  deliveries: EnqueueInput[];
}

export type CreateGroupResult = 'created' | 'exists' | 'limit';

/** One KeyPackage handed out by a claim; `remaining` one-time ones are left for its device. */
export interface ClaimedKeyPackageRecord {
  device: number;
  keyPackage: string;
  lastResort: boolean;
  remaining: number;
}

export type PutKeyPackagesResult = { status: 'stored'; stored: number; oneTime: number } | { status: 'limit'; oneTime: number };

/** The KeyPackage directory (design §4.1), per device like prekeys. */
export interface KeyPackageStore {
  /**
   * Adds one-time packages and replaces the last-resort one when given, atomically; `limit` (nothing
   * stored) when the device would hold more than `maxStored` one-time packages.
   */
  putKeyPackages(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number): Promise<PutKeyPackagesResult>;
  keyPackageCounts(username: string, device: number): Promise<{ oneTime: number; lastResort: boolean }>;
  /**
   * One package per device asked that has one, in the order asked, in one transaction: the oldest
   * one-time package, removed so no one else gets it; without one, the last-resort one (kept).
   */
  claimKeyPackages(username: string, devices: readonly number[]): Promise<ClaimedKeyPackageRecord[]>;
}

/** The groups (design §4.2–§4.4). */
export interface GroupStore {
  /** A new group at epoch 0 whose one member is the creator; `exists` and `limit` change nothing. */
  createGroup(groupId: string, creator: MemberAddress, now: number, maxGroupsPerCreator: number): Promise<CreateGroupResult>;
  getGroup(groupId: string): Promise<GroupRecord | undefined>;
  /**
   * In one transaction: the checks of group-plan.ts against the group as it is now, then the log entry,
   * the epoch, the membership and every reference (commit to the members before it, Welcome to the added
   * devices), or nothing at all.
   */
  commitGroup(input: GroupCommitInput, limits: GroupWriteLimits): Promise<GroupWriteResult>;
  /** As commitGroup for an application message: the entry and a reference for every member device but the sender. */
  sendGroupMessage(input: GroupSendInput, limits: GroupWriteLimits): Promise<GroupWriteResult>;
  /** Unexpired log entries with seq > afterSeq, oldest first. */
  groupLog(groupId: string, afterSeq: number, limit: number, now: number): Promise<GroupLogRow[]>;
  /** The entries the references name, for delivery (absent ones are expired). */
  groupLogEntries(refs: readonly { groupId: string; seq: number }[]): Promise<GroupLogRow[]>;
}
