/**
 * What the client persists, as interfaces: the library is runtime-neutral and the Node CLI, a browser
 * or a test each supply their own implementation (see memory-stores.ts and node/file-stores.ts).
 */
import type { Ed25519PublicJwk, RsaPublicJwk } from '../crypto/keys.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import type { AttachmentPointer } from '../e2ee/attachment-pointer.js';
import type { ReceiptPayload } from '../e2ee/read-receipt.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { RejectReason } from '../protocol/events.js';
import type { Envelope } from '../protocol/schemas.js';

/** A peer's keys as first seen (trust on first use), or as last accepted by the user. */
export interface PinnedPeer {
  username: string;
  signingKey: Ed25519PublicJwk;
  encryptionKey: RsaPublicJwk;
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
  pinnedAt: number;
  /** The user compared fingerprints out of band (set by a later verification flow). */
  verified: boolean;
  /**
   * The newest device list verified under this pin's signing key, as it travelled (docs/design/devices-v2.md
   * §4.5, §10; peer-device-lists.ts). Absent: none seen yet, and the peer is served as device 1 alone.
   * It belongs to this pin: a pin replaced by trust starts without one.
   */
  deviceList?: DeviceListWire;
}

/** What PeerKeyStore.update's change returns: the pin to store (none: write nothing), and the call's result. */
export interface PinChange<T> {
  pin?: PinnedPeer;
  result: T;
}

export interface PeerKeyStore {
  get(username: string): Promise<PinnedPeer | undefined>;
  put(peer: PinnedPeer): Promise<void>;
  /**
   * Pins `peer` unless its name is pinned already, as one step, and returns what is pinned now. First
   * use goes through this: two processes of one user meeting a peer at once (a `receive` and a `send`)
   * must end with one pin, never each trusting its own answer while the file keeps the other's.
   */
  putIfAbsent(peer: PinnedPeer): Promise<PinnedPeer>;
  /**
   * Read-modify-write of one pin as one step across every process of the user: `change` gets the pin as
   * it is now and says what to store. Device-list updates and trust decisions go through it, so two
   * processes never write back a pin read before the other's change (which would roll a device list back).
   * A change that throws writes nothing.
   */
  update<T>(username: string, change: (pin: PinnedPeer | undefined) => PinChange<T> | Promise<PinChange<T>>): Promise<T>;
  /** Every pin (the primary hands them to a device it links, docs/PROTOCOL.md §18.6). */
  all(): Promise<PinnedPeer[]>;
}

export type MessageStatus =
  /** outgoing: waiting in the outbox for the server's ack */
  | 'outbox'
  /** outgoing: the server stored it and pushed it to a connected device of the recipient */
  | 'sent'
  /** outgoing: the server stored it for a recipient who is offline */
  | 'queued'
  /** outgoing: the recipient's device acknowledged it (delivery receipt) */
  | 'delivered'
  /**
   * outgoing: the recipient's client showed it to them (their end-to-end encrypted read receipt). The
   * recipient's own word, which the server cannot forge: a server receipt that comes later (delivered,
   * unreadable) or a late send answer does not undo it.
   */
  | 'read'
  /** outgoing: the server refused it for good (unknown user, quota), or it kept failing to go out */
  | 'failed'
  /** outgoing: the recipient's device could not read it (unreadable receipt; `reason` says why).
   *  incoming: an envelope this device could not read (`reason`); shown to the user once, never silently dropped. */
  | 'unreadable'
  /** incoming */
  | 'received';

/**
 * The history id of an incoming envelope that could not be read. Its sender's message id is inside the
 * ciphertext, so the server id names it; ':' is not a base64url character, so no sender can choose a
 * message id that collides with it (and so suppress the record).
 */
export const unreadableRecordId = (serverId: string): string => `unreadable:${serverId}`;

/**
 * The id the sender gave a message, from its history record id: incoming ones whose id another sender
 * used first are recorded as `<sender>/<id>` (inbound.ts), and a receipt must name the sender's own id.
 */
export const senderIdOfRecord = (recordId: string): string => recordId.slice(recordId.indexOf('/') + 1);

/** One message in the local history, in either direction. */
export interface HistoryRecord {
  /** The message's own id, chosen by its sender and signed inside the envelope. */
  id: string;
  direction: 'in' | 'out';
  peer: string;
  body: string;
  /** The sender's clock (ms since epoch). */
  sentAt: number;
  /** The server's id and clock, once known. */
  serverId?: string;
  serverTime?: number;
  status: MessageStatus;
  /** Why it could not be read (status `unreadable` only). */
  reason?: RejectReason;
  /**
   * For an unreadable record refused because the sender's keys changed: false when its envelope was not
   * kept (the hold was full, see HeldLimits), so trusting the new keys will not open it. Absent: kept.
   */
  held?: false;
  /** Incoming: the device of `peer` that sent it. Absent: device 1, as everything from before devices (delivery-copies.ts). */
  fromDevice?: number;
  /**
   * Outgoing: the state of each device's copy (docs/design/devices-v2.md §8.3). Absent: one copy, to
   * device 1 of `peer`, whose state is `status` (delivery-copies.ts).
   */
  copies?: CopyState[];
  /**
   * 'receipt': a read receipt (sent or received), kept for exactly-once handling like any message (its
   * id is a seen id) but no part of the conversation: never in `history()` or `undisplayed()`.
   * 'history': a message of history sent to a device this one linked (§21.3.1; its outbox entry's
   * record), no part of any conversation either. Absent: a message.
   */
  kind?: 'receipt' | 'history';
  /** The file this message carries (docs/PROTOCOL.md §20.5); `body` is its caption or fallback text. */
  attachment?: AttachmentPointer;
  /** An outgoing read receipt's content (kind 'receipt'): kept so it can be sealed for a device added later (§21.4). */
  receipt?: ReceiptPayload;
}

/**
 * Whether a record is part of a conversation as both sides know it, and so may go to a newly linked
 * device as history (§21.3.1): a message received, or one sent that left. Not receipts or history
 * messages (no conversation's), not envelopes that could not be read (nothing to show) or messages the
 * peer could not read, not outgoing ones that never left (failed, or still in the outbox: a pending one
 * reaches the new device as its own copy once the server's devices_changed names it, §21.5).
 */
export function sharedAsHistory(r: HistoryRecord): boolean {
  return r.kind === undefined && r.status !== 'unreadable' && r.status !== 'failed' && r.status !== 'outbox';
}

/** Where one device's copy of an outgoing message stands: the send's answer, then that device's receipt. */
export interface CopyState {
  to: string;
  device: number;
  status: 'outbox' | 'sent' | 'queued' | 'delivered' | 'unreadable' | 'removed';
  /** The server's id of this copy (each copy has its own, and its own receipt). */
  serverId?: string;
  /** Why that device could not read it (status `unreadable`). */
  reason?: RejectReason;
}

/** One device's copy as the server accepted it (a `send` answer's delivery). */
export interface CopyDelivery {
  to: string;
  device: number;
  status: 'sent' | 'queued';
  serverId: string;
  serverTime: number;
}

/** A device's receipt for its copy. */
export interface CopyReceipt {
  status: 'delivered' | 'unreadable' | 'removed';
  reason?: RejectReason;
}

/** One sealed copy of an outgoing message, for one device (docs/design/devices-v2.md §7.2 step 4). */
export interface OutboxCopy {
  /** The user whose device this copy is for. */
  to: string;
  device: number;
  envelope: Envelope;
}

/**
 * A message sealed for each device it goes to, waiting for the server to accept it. Entries from before
 * devices held one `envelope` (OutboxEntryV1); they are read as its one copy, for device 1 of `to`
 * (outbox-entry.ts).
 */
export interface OutboxEntry {
  id: string;
  /** The user the message is for: the conversation's other party. */
  to: string;
  /** One copy per device, sealed once each (a resend never seals again). Today one: device 1 of `to`. */
  messages: OutboxCopy[];
  createdAt: number;
  /** Sends started so far (persisted before each send, so a crash or dropped connection mid-send counts). */
  attempts?: number;
  /** Set when the entry was given up: it stays listed (`e2ee-chat outbox`) until the user drops it. */
  failed?: OutboxFailure;
  /** 'receipt', 'history' (HistoryRecord.kind): sent like a message, never announced as one. */
  kind?: 'receipt' | 'history';
}

/**
 * An outbox entry as e2ee-chat 0.1 stored it: one envelope, for the recipient's one device. Callers still
 * speaking protocol 1 hand entries in this shape; stores keep them as one copy for device 1 of `to`.
 */
export interface OutboxEntryV1 extends Omit<OutboxEntry, 'messages'> {
  envelope: Envelope;
}

export interface OutboxFailure {
  code: ErrorCode;
  message: string;
  at: number;
}

/**
 * An envelope refused because its sender's keys changed, kept sealed (never opened with keys the user
 * has not accepted) until the user trusts the new keys; then it is opened like a fresh delivery.
 */
export interface HeldEnvelope {
  serverId: string;
  from: string;
  /** The sending device (absent in envelopes held before devices: device 1). */
  fromDevice?: number;
  to: string;
  /** The server's clock when it accepted the envelope. */
  sentAt: number;
  envelope: Envelope;
}

/**
 * Bounds on the envelopes kept sealed (MessageStore.hold). Whether an envelope is held is decided by
 * what the directory says about its sender's keys, and the directory is the server's: one that lies
 * about a peer's keys turns every envelope from that peer into a held one. Without bounds, the server
 * could grow this local table with whatever it chooses to deliver. Beyond them an envelope is still
 * recorded (unreadable, reason peer_key_changed, `held: false`) and shown once, but not kept.
 */
export interface HeldLimits {
  /** Held envelopes from one sender. */
  perPeer: number;
  /** Held envelopes from all senders together. */
  total: number;
  /** Bytes of all held envelopes together (each measured as the store keeps it). */
  totalBytes: number;
}

/**
 * A conversation's worth: the messages one peer sends after a re-key and before the user compares
 * fingerprints and trusts the new keys (typically hours). More than that from one peer is not a
 * conversation the user is waiting to read but a flood.
 */
export const MAX_HELD_PER_PEER = 100;
/** Ten such peers re-keying at once: far beyond what happens between two trusts, still a small table. */
export const MAX_HELD_TOTAL = 1000;
/**
 * 32 MiB: 500 envelopes at the protocol's default 64 KiB cap. An incoming envelope is bounded only by the
 * envelope schema (~256 KiB), not by the cap our server announces, so counts alone would allow ~250 MiB.
 */
export const MAX_HELD_BYTES = 32 * 1024 * 1024;

export const DEFAULT_HELD_LIMITS: Readonly<HeldLimits> = { perPeer: MAX_HELD_PER_PEER, total: MAX_HELD_TOTAL, totalBytes: MAX_HELD_BYTES };

/**
 * Local history, seen ids and the outbox. The ids of incoming messages are the seen-id set: a message
 * whose id is already recorded is a duplicate (a redelivery) or a replay, and is never shown twice.
 */
export interface MessageStore {
  /** Records an incoming message unless its id is known; atomic. */
  recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'>;
  /**
   * Records a message this user sent from another of their devices (its copy for this one), as outgoing,
   * unless a record of that id exists; atomic. Never in the outbox: it was sent already.
   */
  recordOutgoingCopy(record: HistoryRecord): Promise<'new' | 'duplicate'>;
  /**
   * Records messages another device of this user had (the history it sent after linking this one,
   * §21.3.1), each unless a record of its id and direction exists, which is left as it is; all of them
   * displayed (history, not news: never in `undisplayed()`). One step; returns how many were new.
   */
  recordHistory(records: readonly HistoryRecord[]): Promise<number>;
  /** Puts a sealed message in the outbox and its plaintext in the history, in one step. A one-envelope entry is device 1's copy. */
  addOutgoing(entry: OutboxEntry | OutboxEntryV1, record: HistoryRecord): Promise<void>;
  /** Outbox entries still to send (not failed), oldest first. */
  outbox(): Promise<OutboxEntry[]>;
  /** Every outbox entry, pending and failed, oldest first (for `e2ee-chat outbox`). */
  outboxEntries(): Promise<OutboxEntry[]>;
  /** A send of this entry is about to start: counts it, persistently; returns the new count. */
  countSendAttempt(id: string): Promise<number>;
  /** The server accepted an outbox entry: remove it and record each device's copy (delivery-copies.ts applyDeliveries). */
  settleOutgoing(id: string, deliveries: readonly CopyDelivery[]): Promise<void>;
  /**
   * Replaces the copies of a pending outbox entry (the device set changed, §21.4): the copies kept are the
   * same sealed bytes, so nothing is sealed twice. False when there is no such entry.
   */
  rewriteOutgoing(id: string, messages: readonly OutboxCopy[]): Promise<boolean>;
  /** The entry will not go out: it stays in the outbox marked failed (behind ones go on); its history record says failed. */
  failOutgoing(id: string, failure: OutboxFailure): Promise<void>;
  /** Removes an outbox entry (pending or failed); a pending one's history record becomes failed. False if there was none. */
  dropOutgoing(id: string): Promise<boolean>;
  /**
   * One device's receipt for its copy of an outgoing message (delivery-copies.ts applyReceipt). Returns
   * the record as it is now when the receipt changed it; undefined when it changed nothing (a repeat) or
   * there is no such record.
   */
  markCopy(id: string, copy: { to: string; device: number }, receipt: CopyReceipt): Promise<HistoryRecord | undefined>;
  /**
   * `peer` says it showed these messages (a read receipt): each outgoing message (not a receipt) with one
   * of these ids that went to `peer` becomes `read`; any other id is left alone (a peer can only speak
   * of what was sent to it). Returns the ids that became read now, in the order given.
   */
  markRead(peer: string, ids: readonly string[]): Promise<string[]>;
  /**
   * Keeps an envelope sealed until its sender's new keys are trusted; a second hold of the same server id
   * is ignored ('held'). 'full' when keeping it would pass the store's HeldLimits: nothing is stored.
   * Atomic: concurrent holds (two processes of the user) never pass the limits together.
   */
  hold(envelope: HeldEnvelope): Promise<'held' | 'full'>;
  /**
   * An unreadable incoming record judged again for another reason (a held envelope that, opened after
   * trust, failed otherwise): records `reason` and makes the record undisplayed, so it is shown once
   * more with the new reason. False, changing nothing, when the record already says `reason` (or there
   * is no such unreadable incoming record).
   */
  rejudgeUnreadable(id: string, reason: RejectReason): Promise<boolean>;
  /** Held envelopes from `peer`, oldest first. */
  held(peer: string): Promise<HeldEnvelope[]>;
  /** Forgets a held envelope (it was opened, or judged for good). */
  release(serverId: string): Promise<void>;
  /** Incoming messages recorded but not yet shown, oldest first (never receipts). */
  undisplayed(): Promise<HistoryRecord[]>;
  markDisplayed(ids: readonly string[]): Promise<void>;
  /** The newest `limit` messages (optionally with one peer), oldest first; receipts and history messages are not messages. */
  history(options?: { peer?: string; limit?: number }): Promise<HistoryRecord[]>;
  /**
   * The newest `limit` records of every conversation that may go to a newly linked device
   * (sharedAsHistory), oldest first. Reads from the newest back and stops at `limit`: linking with
   * `--history 50` does not read a long history whole.
   */
  recent(limit: number): Promise<HistoryRecord[]>;
  get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined>;
}

/**
 * The primary's record of the link codes it tried (docs/design/devices-v2.md §6.6): each code is run at
 * most once, so a server posing as the new device gets one guess per code. Without it, a link that
 * failed and was approved again with the same code would give that server a second guess. Keyed by
 * linkCodeHash (e2ee/link/link-code.ts), never by the code itself.
 */
export interface TriedLinkCodes {
  /**
   * Records `codeHash` as tried at `now`, unless it was tried less than `ttlMs` before: then it answers
   * false and changes nothing (the caller must refuse the code). Entries that old are forgotten on the
   * way: the new device gives a code up when its slot expires, after LINK_TTL_MS, so an older code has
   * no honest run left to guard. One step across every process of the user: two approvals of one code
   * at once claim it once.
   */
  claim(codeHash: string, now: number, ttlMs: number): Promise<boolean>;
}
