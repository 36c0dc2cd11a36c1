/**
 * What the server persists, behind one interface so another backend (PostgreSQL) is a second file, not
 * a rewrite. Asynchronous because network-backed stores are.
 *
 * Everything queued, owed or published belongs to an address, one device of one user
 * (docs/design/devices-v2.md §3.1): queues, receipts, idempotency records and prekeys are kept per
 * (username, device). Data from before devices (v0.1) is device 1's (§3.4, SQLite migration 6).
 */
import type { RejectReason, UserKeys } from '../../protocol/events.js';
import type { GroupStore, KeyPackageStore } from './group-records.js';
import type { AcceptedCopy, CopyAddress, EnqueueInput, QueuedEnvelope, QueueQuota, QuotaRefusal } from './queue-records.js';
import type { IdentityKeyWire, KemPreKeyWire, OneTimePreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';

/**
 * Device 1: the device that registered the name (design §3.2). Every v1 connection is device 1 of its
 * user, and everything stored before devices existed is device 1's (§3.4).
 */
export const PRIMARY_DEVICE = 1;

export interface UserRecord extends UserKeys {
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
}

export type { AcceptedCopy, CopyAddress, EnqueueInput, QueuedEnvelope, QueueQuota, QuotaRefusal } from './queue-records.js';

/** How one copy was taken: stored now, or accepted before under the same idempotency key (nothing stored; the first acceptance stands). */
export type EnqueuedCopy = { status: 'stored'; message: QueuedEnvelope } | { status: 'duplicate'; id: string; sentAt: number };

export type EnqueueResult = EnqueuedCopy | QuotaRefusal | ListsChanged;

/** A whole send: every copy taken (in the order given), or a refusal and nothing stored. */
export type EnqueueManyResult = { status: 'accepted'; copies: EnqueuedCopy[] } | QuotaRefusal | ListsChanged;

/**
 * The device-list versions a send's device set was checked against (null: the user had no list). The
 * check reads the lists before the send's transaction; a publish committed in between (a device added
 * or removed) must not let the send store copies for the old set, so the store compares them again
 * inside the transaction and refuses with `lists_changed`, storing nothing: the caller checks again.
 */
export type CheckedLists = readonly { username: string; version: number | null }[];
export interface ListsChanged {
  status: 'lists_changed';
}

/**
 * A receipt owed to the sending address: the recipient device settled the copy `id`. delivered: it
 * stored the message; unreadable: it could not read it (`reason` says why), and is done with it all the
 * same; removed: the device was removed from its user's list before it took the copy (design §8.2).
 */
export interface Receipt {
  seq: number;
  id: string;
  clientId: string;
  sender: string;
  senderDevice: number;
  recipient: string;
  recipientDevice: number;
  deliveredAt: number;
  status: 'delivered' | 'unreadable' | 'removed';
  /** Only with status unreadable. */
  reason?: RejectReason;
}

/** How a device settles an envelope in `ack`: its server id (stored, delivered), or the id with the reason it could not read it. */
export type Settlement = string | { id: string; reason: RejectReason };

export const settledId = (s: Settlement): string => (typeof s === 'string' ? s : s.id);

/** A verified `prekeys.upload`, as stored: the wire strings, already checked against the device's signing key. */
export interface PreKeyUpload {
  identity: IdentityKeyWire;
  signedPreKey?: SignedPreKeyWire;
  lastResortKemPreKey?: KemPreKeyWire;
  oneTimePreKeys: readonly OneTimePreKeyWire[];
  kemPreKeys: readonly KemPreKeyWire[];
}

/** What one bundle fetch took for one device: the one-time keys in it are gone from the store. */
export interface TakenPreKeyBundle {
  device: number;
  identity: IdentityKeyWire;
  signedPreKey: SignedPreKeyWire;
  kemPreKey: KemPreKeyWire;
  oneTimePreKey?: OneTimePreKeyWire;
  /** One-time keys of each kind the device has left after this fetch (read in the same transaction). */
  remaining: { oneTime: number; kemOneTime: number };
}

/** Bundles for every device asked, in the order asked; or the devices without one, and nothing taken. */
export type TakenPreKeyBundles = { status: 'taken'; bundles: TakenPreKeyBundle[] } | { status: 'missing'; devices: number[] };

/**
 * One device of a signed device list, parsed by the caller (src/protocol verifies the list; the store
 * keeps what it is given). Keys are base64url of their raw bytes, as the wire carries them elsewhere:
 * the Ed25519 key as a JWK `x`, the X25519 key as `identity.dhKey`, the RSA modulus as a JWK `n`.
 */
export interface ListedDevice {
  device: number;
  signingKey: string;
  dhKey: string;
  encryptionKeyN: string;
  name: string;
  addedAt: number;
}

export interface StoredDevice extends ListedDevice {
  /** When the device last logged in or acknowledged (the server's word, unsigned), or null if unknown. */
  lastSeenAt: number | null;
}

/** A signed device list (design §4.2) as published: the signed payload and signature, opaque here, and the fields parsed from it. */
export interface DeviceListInput {
  username: string;
  version: number;
  maxDeviceId: number;
  /** The payload, base64url, byte for byte as published. */
  list: string;
  signature: string;
  /** Every device the list names, in id order. */
  devices: readonly ListedDevice[];
}

export interface StoredDeviceList extends DeviceListInput {
  updatedAt: number;
  devices: StoredDevice[];
}

/** The device a list adds, with the first prekeys it brought (design §6.7: a listed device always has a bundle). */
export interface AddedDevice {
  device: number;
  preKeys: PreKeyUpload;
}

export interface PublishContext {
  /**
   * The stored version the caller checked the list against (§4.4), null for a user without a list. If
   * another list landed since, the publish is refused as `outdated` and nothing changes.
   */
  replaces: number | null;
  now: number;
  /** When the `removed` receipts written for a removed device's queue expire. */
  receiptExpiresAt: number;
}

export type PublishResult =
  | {
      status: 'published';
      version: number;
      /** Receipts written for copies that were waiting for a removed device, to push to their senders. */
      receipts: Receipt[];
    }
  | { status: 'outdated'; current: number | null };

/**
 * What a send needs to know before its transaction (design §5.5.1 steps 3 and 5), read at once: a
 * network store answers it in one round trip instead of one per read.
 */
export interface SendContext {
  /** The recipient is a registered user. */
  recipientExists: boolean;
  /** The recipient's newest device list (undefined: never published, served as {1}). */
  recipientList: StoredDeviceList | undefined;
  /** The sender's, likewise. */
  senderList: StoredDeviceList | undefined;
}

/** Everything the server persists; the group and KeyPackage records are group-records.ts. */
export interface ServerStore extends KeyPackageStore, GroupStore {
  getUser(username: string): Promise<UserRecord | undefined>;
  /**
   * Inserts atomically; returns the record that holds the name afterwards (ours, or an earlier one). A
   * protocol-2 registration brings the user's first device list (verified by the caller): it is stored in
   * the same transaction, and only if the name is created (design §5.2).
   */
  createUser(record: UserRecord, firstList?: DeviceListInput): Promise<{ created: boolean; record: UserRecord }>;

  /**
   * Stores one copy durably (resolves only once the write is on disk), or reports a duplicate or a
   * refusal. `committed` is told the outcome as soon as it is decided and visible to readers, possibly
   * before it is durable. The idempotency key is (sender, senderDevice, clientId, recipient,
   * recipientDevice) (design §5.5.2).
   */
  enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void, lists?: CheckedLists): Promise<EnqueueResult>;
  /**
   * A whole send in one transaction: every copy without an idempotency record is stored, the others are
   * answered as duplicates; if any new copy does not fit its quotas, nothing is stored. The inputs are the
   * copies of one send (one sender address, one client id) and name no address twice.
   */
  enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota, committed?: (result: EnqueueManyResult) => void, lists?: CheckedLists): Promise<EnqueueManyResult>;
  /**
   * The idempotency records of one send for the given recipient addresses, in their order (undefined
   * where a copy has none): a read, for answering a send whose copies were all accepted before without
   * checking anything else (design §5.5.1 step 4).
   */
  acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Promise<Array<AcceptedCopy | undefined>>;
  /** Unexpired envelopes for one recipient device with seq > afterSeq, oldest first. */
  pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]>;
  /**
   * Deletes settled envelopes (ids not queued for this recipient device are skipped) and records a
   * receipt for each sending address, delivered or unreadable with its reason; returns the receipts, in
   * the order the copies were named. A copy named twice is settled once, as its first settlement says;
   * one settled already (a repeated ack, here or on another node) owes nothing more; a group reference
   * owes no receipt.
   */
  acknowledge(
    recipient: string,
    device: number,
    settled: readonly Settlement[],
    now: number,
    receiptExpiresAt: number,
    /** Told as soon as the deletion is committed (visible to readers), possibly before it is durable. */
    committed?: (receipts: Receipt[]) => void,
  ): Promise<Receipt[]>;
  /** Receipts owed to one sending address with seq > afterSeq, oldest first. */
  pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number): Promise<Receipt[]>;
  /** The sending address has seen these receipts (by envelope id): forget them. */
  acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]): Promise<void>;
  /** Deletes expired envelopes, receipts and idempotency records; returns how many envelopes went. */
  sweepExpired(now: number): Promise<number>;
  /** Queued count and bytes for all devices of one recipient user. */
  queueUsage(recipient: string): Promise<{ count: number; bytes: number }>;
  /** Queued count and bytes for one recipient device. */
  deviceQueueUsage(recipient: string, device: number): Promise<{ count: number; bytes: number }>;
  /** Queued count and bytes from one sender (all its devices) to one recipient device. */
  senderQueueUsage(sender: string, recipient: string, device: number): Promise<{ count: number; bytes: number }>;
  /** Bytes of envelopes queued on the whole server. */
  serverQueueBytes(): Promise<number>;

  /**
   * Stores a verified upload for one device atomically. A different identity key replaces everything
   * the device had published (its prekeys belong to the old identity); one-time keys with a known id are
   * replaced. Throws ChatError `prekey_limit`, storing nothing, when the device would hold more than
   * MAX_STORED_ONE_TIME_PREKEYS one-time keys of either kind. The answer lists the ids still stored.
   */
  putPreKeys(username: string, device: number, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult>;
  preKeyCounts(username: string, device: number): Promise<PreKeyCountResult>;
  /**
   * One bundle per device asked, atomically: per device the lowest-id one-time X25519 and one-time ML-KEM
   * prekeys are removed and returned, so no two callers ever get the same one; without one-time ML-KEM
   * keys the last-resort key serves. A device without a signed prekey or last-resort key makes the answer
   * `missing`, and nothing is taken from the others.
   */
  takePreKeyBundles(username: string, devices: readonly number[]): Promise<TakenPreKeyBundles>;

  /** The user's newest device list with its devices, or undefined for a user who never published one (served as {1}). */
  getDeviceList(username: string): Promise<StoredDeviceList | undefined>;
  /** Whether the recipient exists, and both device lists: what getUser and getDeviceList would answer. */
  sendContext(sender: string, recipient: string): Promise<SendContext>;
  /**
   * Stores a verified list in one transaction with all its effects (design §5.7, §9.3): the list and its
   * devices; the added device's prekeys; for each removed device, its queue (each copy leaving a `removed`
   * receipt to its sender), the undelivered envelopes it sent, its prekeys and the receipts owed to it.
   * Idempotency records stay until they expire. `removed` never holds device 1 nor a device of the list.
   */
  publishDeviceList(
    list: DeviceListInput,
    added: AddedDevice | undefined,
    removed: readonly number[],
    context: PublishContext,
    /** Told as soon as the publish is committed, possibly before it is durable. */
    committed?: (result: PublishResult) => void,
  ): Promise<PublishResult>;
  /** Records that a listed device logged in or acknowledged; a device not in a stored list is left alone. */
  touchDevice(username: string, device: number, now: number): Promise<void>;

  /** Cheap liveness probe for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
