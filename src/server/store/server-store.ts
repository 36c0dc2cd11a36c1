/**
 * What the server persists, behind one interface so another backend (PostgreSQL) is a second file, not
 * a rewrite. Asynchronous because network-backed stores are.
 */
import type { RejectReason, UserKeys } from '../../protocol/events.js';
import type { IdentityKeyWire, KemPreKeyWire, OneTimePreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';

export interface UserRecord extends UserKeys {
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
}

/** What `send` hands the store. The envelope is opaque JSON text. */
export interface EnqueueInput {
  /** The server's id for the envelope. */
  id: string;
  sender: string;
  recipient: string;
  /** The sender's id for the message, for idempotent resends. */
  clientId: string;
  sentAt: number;
  expiresAt: number;
  envelope: string;
}

/** An envelope waiting for its recipient to acknowledge it. */
export interface QueuedEnvelope extends EnqueueInput {
  /** Store order: strictly increasing in the order envelopes were accepted. */
  seq: number;
}

/** Caps checked in the transaction that queues an envelope (store/quota.ts); an absent cap is no cap. */
export interface QueueQuota {
  /** Everything queued for one recipient. */
  maxCount: number;
  maxBytes: number;
  /** What one sender may have queued for one recipient: no single account can fill a victim's queue. */
  senderMaxCount?: number;
  senderMaxBytes?: number;
  /** Bytes of envelopes queued on the whole server. */
  serverMaxBytes?: number;
}

export type EnqueueResult =
  | { status: 'stored'; message: QueuedEnvelope }
  /** The same (sender, clientId) was accepted before: nothing stored, the first acceptance stands. */
  | { status: 'duplicate'; id: string; sentAt: number }
  | { status: 'quota_exceeded'; message: string }
  | { status: 'sender_quota_exceeded'; message: string }
  | { status: 'server_full'; message: string };

/**
 * A receipt owed to a sender: `recipient` settled the envelope `id`. delivered: a device stored the
 * message; unreadable: a device could not read it (`reason` says why), and is done with it all the same.
 */
export interface Receipt {
  seq: number;
  id: string;
  clientId: string;
  sender: string;
  recipient: string;
  deliveredAt: number;
  status: 'delivered' | 'unreadable';
  /** Only with status unreadable. */
  reason?: RejectReason;
}

/** How a device settles an envelope in `ack`: its server id (stored, delivered), or the id with the reason it could not read it. */
export type Settlement = string | { id: string; reason: RejectReason };

export const settledId = (s: Settlement): string => (typeof s === 'string' ? s : s.id);

/** A verified `prekeys.upload`, as stored: the wire strings, already checked against the user's signing key. */
export interface PreKeyUpload {
  identity: IdentityKeyWire;
  signedPreKey?: SignedPreKeyWire;
  lastResortKemPreKey?: KemPreKeyWire;
  oneTimePreKeys: readonly OneTimePreKeyWire[];
  kemPreKeys: readonly KemPreKeyWire[];
}

/** What one bundle fetch took: the one-time keys in it are gone from the store. */
export interface TakenPreKeyBundle {
  identity: IdentityKeyWire;
  signedPreKey: SignedPreKeyWire;
  kemPreKey: KemPreKeyWire;
  oneTimePreKey?: OneTimePreKeyWire;
  /** One-time keys of each kind the owner has left after this fetch (read in the same transaction). */
  remaining: { oneTime: number; kemOneTime: number };
}

export interface ServerStore {
  getUser(username: string): Promise<UserRecord | undefined>;
  /** Inserts atomically; returns the record that holds the name afterwards (ours, or an earlier one). */
  createUser(record: UserRecord): Promise<{ created: boolean; record: UserRecord }>;

  /**
   * Stores durably (resolves only once the write is on disk), or reports a duplicate or a full queue.
   * `committed` is told the outcome as soon as it is decided and visible to readers, possibly before
   * it is durable.
   */
  enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void): Promise<EnqueueResult>;
  /** Unexpired envelopes for `recipient` with seq > afterSeq, oldest first. */
  pending(recipient: string, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]>;
  /**
   * Deletes settled envelopes (ids not queued for `recipient` are skipped) and records a receipt for each
   * sender, delivered or unreadable with its reason; returns the receipts.
   */
  acknowledge(
    recipient: string,
    settled: readonly Settlement[],
    now: number,
    receiptExpiresAt: number,
    /** Told as soon as the deletion is committed (visible to readers), possibly before it is durable. */
    committed?: (receipts: Receipt[]) => void,
  ): Promise<Receipt[]>;
  /** Receipts owed to `sender` with seq > afterSeq, oldest first. */
  pendingReceipts(sender: string, afterSeq: number, limit: number): Promise<Receipt[]>;
  /** The sender has seen these receipts (by envelope id): forget them. */
  acknowledgeReceipts(sender: string, ids: readonly string[]): Promise<void>;
  /** Deletes expired envelopes, receipts and idempotency records; returns how many envelopes went. */
  sweepExpired(now: number): Promise<number>;
  /** Queued count and bytes for one recipient. */
  queueUsage(recipient: string): Promise<{ count: number; bytes: number }>;
  /** Queued count and bytes from one sender to one recipient. */
  senderQueueUsage(sender: string, recipient: string): Promise<{ count: number; bytes: number }>;
  /** Bytes of envelopes queued on the whole server. */
  serverQueueBytes(): Promise<number>;

  /**
   * Stores a verified upload atomically. A different identity key replaces everything the user had
   * published (its prekeys belong to the old identity); one-time keys with a known id are replaced.
   * Throws ChatError `prekey_limit`, storing nothing, when the user would hold more than
   * MAX_STORED_ONE_TIME_PREKEYS one-time keys of either kind. The answer lists the ids still stored.
   */
  putPreKeys(username: string, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult>;
  preKeyCounts(username: string): Promise<PreKeyCountResult>;
  /**
   * One bundle, atomically: the lowest-id one-time X25519 and one-time ML-KEM prekeys are removed and
   * returned, so no two callers ever get the same one; without one-time ML-KEM keys the last-resort key
   * serves. Undefined when the user has no signed prekey or last-resort key published.
   */
  takePreKeyBundle(username: string): Promise<TakenPreKeyBundle | undefined>;

  /** Cheap liveness probe for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
