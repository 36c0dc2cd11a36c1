/**
 * What a device keeps of its groups (docs/design/groups-mls.md §6), as an async interface with a memory
 * implementation (memory-group-store.ts) and a SQLite one beside the ratchet sessions
 * (node/sqlite-group-store.ts).
 *
 * One row per group: the MLS state (`0x01 || encodeGroupState`, group-state-codec.ts), what the client
 * adds around it (the last group sequence number handled, a commit waiting for the Delivery Service's
 * word, users who asked to leave), and a version. Saves are compare-and-swap on that version: a `send`
 * and a `receive` of one user may run at once, in two processes, and the loser redoes its work on the
 * newer row, never writing back a state older than the other's.
 *
 * One row per KeyPackage private half, by its KeyPackageRef (RFC 9420 §5.2): a Welcome names the ref; the
 * row is deleted once the device joined with it (a last-resort one when it is replaced).
 */
import type { Bytes } from '../../crypto/bytes.js';
import type { Address } from '../address.js';

/** A commit sent to the Delivery Service and not yet known to be accepted or refused (§4.2). */
export interface PendingCommitRow {
  /** The epoch it was made in: the Delivery Service takes it only while that epoch is current. */
  readonly epoch: number;
  readonly commit: Bytes;
  readonly welcome?: Bytes;
  readonly add: readonly Address[];
  readonly remove: readonly Address[];
  /** The author's serialised state after this commit, adopted once the commit is found in the group's order. */
  readonly state: Bytes;
}

export interface GroupRow {
  readonly groupId: Uint8Array;
  /** `0x01 || encodeGroupState(state)`; sealed at rest by the store. */
  readonly state: Bytes;
  /** The highest group sequence number handled in order (0: none yet; the log starts at 1). */
  readonly lastSeq: number;
  readonly pending?: PendingCommitRow;
  /** Users who asked to leave (group-payload.ts) and whose devices are not removed yet. */
  readonly leaving?: readonly string[];
  /** The epoch this device joined at (from a Welcome): older entries of the log were never for it. */
  readonly joinedEpoch?: number;
  /** This device is no longer a member (removed, or its user left): kept, read-only, for what it showed. */
  readonly inactive?: boolean;
  /**
   * The commit that ended this device's current epoch in the group's order, refused here: set while the
   * device is still in that epoch. The server has gone on with the commit, so no change made here can be
   * accepted any more (group-commit-loop.ts says so instead of retrying); messages still reach the members
   * that refused it too.
   */
  readonly refusedCommit?: RefusedCommitRow;
  /**
   * Texts saved with the state that encrypted them, oldest first, until the server's answer or the log
   * shows them ordered (then they are recorded as sent): a lost answer or a crash after the send never
   * leaves this device without its own text, and one that never reached the server goes again, as is.
   */
  readonly unsent?: readonly UnsentTextRow[];
}

/** A text encrypted and saved by this device, not yet seen ordered by the server. */
export interface UnsentTextRow {
  /** The MLSMessage as sent (sent again byte for byte: the secret tree has moved past its key). */
  readonly message: Bytes;
  readonly epoch: number;
  readonly text: string;
  readonly sentAt: number;
}

export interface RefusedCommitRow {
  /** This device's epoch, the one the refused commit ended. */
  readonly epoch: number;
  readonly seq: number;
  readonly from: Address;
  /** Why it was refused (the error's message). */
  readonly reason: string;
}

export interface VersionedGroupRow {
  readonly row: GroupRow;
  readonly version: number;
}

/** The part of a group row listed without opening its state: what `groups()` shows. */
export interface GroupSummary {
  readonly groupId: Uint8Array;
  readonly name: string | undefined;
  readonly inactive: boolean;
}

export interface KeyPackageRow {
  /** The public half, as the MLSMessage uploaded. */
  readonly message: Bytes;
  readonly initPrivateKey: Bytes;
  readonly hpkePrivateKey: Bytes;
  readonly lastResort: boolean;
  readonly createdAt: number;
}

export interface GroupStore {
  loadGroup(groupId: Uint8Array): Promise<VersionedGroupRow | undefined>;
  /**
   * Writes `row` (with `name` for listing) if the group's version is still `expected` (0: no row yet);
   * true when it did, and the row's version is then `expected + 1`.
   */
  saveGroup(row: GroupRow, name: string | undefined, expected: number): Promise<boolean>;
  listGroups(): Promise<GroupSummary[]>;

  putKeyPackage(ref: Uint8Array, row: KeyPackageRow): Promise<void>;
  loadKeyPackage(ref: Uint8Array): Promise<KeyPackageRow | undefined>;
  /** True when this call deleted it. */
  deleteKeyPackage(ref: Uint8Array): Promise<boolean>;
  /** The refs of the last-resort packages held (one, except while one is being replaced). */
  lastResortKeyPackages(): Promise<{ ref: Bytes; createdAt: number }[]>;
}
