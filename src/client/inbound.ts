/**
 * The receiving side of the client: opens each envelope (hybrid or ratchet), records it exactly once,
 * and acknowledges it only when that is settled: stored, or judged unreadable for good.
 *
 * Two kinds of failure, told apart by where they come from, never by guessing:
 *  - permanent: the envelope itself is at fault (it does not decrypt, decrypts to something that is not
 *    a valid message for us, is a replay, names other parties, is of an unknown type or version, or its
 *    sender's keys differ from the pinned ones). It is acknowledged with `ack.rejected` and a reason, so it
 *    leaves the server's queue and the sender's receipt says "unreadable"; it is recorded in the history as
 *    an unreadable incoming record that the user is shown once. Envelopes refused for a key change are also
 *    kept sealed (MessageStore.hold) and opened, in order, once the user trusts the new keys (openHeld).
 *  - passing: this device could not do its part (the local store busy, the directory not answering, the
 *    connection gone). Retried in place a bounded number of times; after that, left unacknowledged.
 *
 * Why "left unacknowledged, and move on" after the bound, rather than holding the chain or rejecting:
 *  - exactly once: the server keeps the envelope and delivers it again at the next login; the message
 *    store (by message id) and the session's list of decrypted server ids recognise anything that was in
 *    fact recorded, so a redelivery is never shown twice;
 *  - order: later envelopes are handled meanwhile, so this one may be shown after them. The ratchet keeps
 *    the skipped message key, so it still opens when it comes back; display order is the only cost;
 *  - the window: it holds one of the connection's DELIVERY_WINDOW slots until the connection ends, and
 *    the chain is held only for its bounded retries (INBOUND_ATTEMPTS, well under a second): no single
 *    envelope can stop the ones behind it. Rejecting it instead would lose a message that is fine, for a
 *    fault of this device. Only a local fault that outlasts the retries for hundreds of envelopes in one
 *    connection can fill the window, and then nothing could be stored anyway.
 */
import type { AttachmentPointer } from '../e2ee/attachment-pointer.js';
import { openHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import { READ_RECEIPT, type ReceiptPayload } from '../e2ee/read-receipt.js';
import { ChatError, DecryptionFailedError, type ErrorCode } from '../protocol/errors.js';
import type { RejectReason, UserKeys } from '../protocol/events.js';
import type { IncomingMessageV2, ReceiptEventV2 } from '../protocol/events-v2.js';
import { envelopeSchema, type HybridEnvelope, type RatchetEnvelope } from '../protocol/schemas.js';
import { base64urlEncode, constantTimeEqual } from '../crypto/bytes.js';
import { payloadDevice, UnsupportedPayloadError, type HistoryPayload, type MessagePayload, type Payload } from '../e2ee/message-payload.js';
import type { AckBatcher } from './ack-batcher.js';
import { PRIMARY_DEVICE, type Address } from './address.js';
import { copiesOf } from './delivery-copies.js';
import type { DeviceKeys } from './device-directory.js';
import { recordHistoryItems, type HistoryReceived } from './history-inbound.js';
import { PeerKeyChangedError, samePeerKeys, toPinned } from './peer-keys.js';
import type { SessionManager } from './session-manager.js';
import { unreadableRecordId, type CopyState, type HeldEnvelope, type HistoryRecord, type MessageStore, type PeerKeyStore, type PinnedPeer } from './stores.js';

export interface ReceivedMessage {
  /** The sender's own id for the message (signed), or `<sender>/<id>` when another sender used that id first: the record's key. */
  id: string;
  /** The server's id for this delivery. */
  serverId: string;
  from: string;
  to: string;
  /** The sender's clock, as signed. */
  sentAt: number;
  /** The server's clock when it accepted the message. */
  receivedAt: number;
  body: string;
  /** A file the message carries, not yet downloaded (ChatClient.downloadAttachment); `body` is its caption or fallback. */
  attachment?: AttachmentPointer;
  /** The sender's device. */
  fromDevice: number;
  /**
   * Set when this user wrote it, on another of their devices (a copy for this one, §21.3): recorded as an
   * outgoing message to `to`, shown as sent by the user.
   */
  outgoing?: true;
}

/** The history record of a received message, as the store keeps it and as screens show it. */
export function receivedRecord(message: ReceivedMessage): HistoryRecord {
  // A copy of what the user sent from another device is their outgoing message to `to` (§21.3).
  if (message.outgoing) {
    return {
      id: message.id,
      direction: 'out',
      peer: message.to,
      body: message.body,
      sentAt: message.sentAt,
      serverTime: message.receivedAt,
      status: 'sent',
      ...(message.attachment && { attachment: message.attachment }),
    };
  }
  return {
    id: message.id,
    direction: 'in',
    peer: message.from,
    body: message.body,
    sentAt: message.sentAt,
    serverId: message.serverId,
    serverTime: message.receivedAt,
    status: 'received',
    ...(message.fromDevice !== PRIMARY_DEVICE && { fromDevice: message.fromDevice }),
    ...(message.attachment && { attachment: message.attachment }),
  };
}

/** A message opened from an envelope: a chat message, or a receipt when `receipt` is set. */
type Opened = ReceivedMessage & { receipt?: ReceiptPayload };

/**
 * A peer's read receipt for messages this user sent them, end to end authenticated: history already says
 * `read` for `ids` (only those that went to `by`, and were not read before).
 */
export interface ReadReceipt {
  by: string;
  ids: string[];
  /** The reader's clock when their client sent the receipt (as signed). */
  readAt: number;
}

/** An incoming envelope this device could not read, as recorded in the history (once per envelope). */
export interface RejectedMessage {
  serverId: string;
  from: string;
  /** The history record's id (unreadableRecordId(serverId)), for MessageStore.markDisplayed. */
  recordId: string;
  /** The server's clock when it accepted the envelope. */
  receivedAt: number;
  reason: RejectReason;
  /** For peer_key_changed: kept sealed, and opened after `trust`; false beyond the hold's limits (HeldLimits). */
  held: boolean;
  error: ChatError;
}

/** A receipt said the recipient's device could not read an outgoing message. */
export interface UnreadableReceipt {
  id: string;
  to: string;
  /** The recipient's device that could not read its copy. */
  device: number;
  reason: RejectReason;
  at: number;
}

/** A device of the recipient stored its copy of an outgoing message (a delivery receipt). */
export interface DeliveredReceipt {
  id: string;
  to: string;
  /** The device whose copy this receipt is for. */
  device: number;
  deliveredAt: number;
  /** Every copy's state now (copies to the user's own devices included), for "delivered to bob (1 of 2 devices)". */
  copies: CopyState[];
}

export interface InboundDeps {
  username: string;
  /** This device's id. */
  device: number;
  messages: MessageStore;
  peers: PeerKeyStore;
  sessions: SessionManager | null;
  acks: AckBatcher;
  /** The peer's keys checked against the pin (pinning on first use). */
  peerKeys(username: string): Promise<PinnedPeer>;
  /**
   * The keys of a sending device from its user's verified list, asking the server once more when the
   * held list lacks it (DeviceDirectory.deviceKeys); undefined: not a device of that user.
   */
  deviceKeys(address: Address): Promise<DeviceKeys | undefined>;
  /** The same, from a list asked for now (DeviceDirectory.refresh), whatever list is held. */
  refreshDeviceKeys(address: Address): Promise<DeviceKeys | undefined>;
  /** The directory's current keys, unchecked. */
  fetchKeys(username: string): Promise<UserKeys>;
  decryptionKey(): Promise<CryptoKey>;
  onMessage(m: ReceivedMessage): void;
  onRejected(r: RejectedMessage): void;
  onDelivered(d: DeliveredReceipt): void;
  onUnreadable(u: UnreadableReceipt): void;
  onRead(r: ReadReceipt): void;
  /** A history message from this user's primary was recorded (history-inbound.ts): never a `message`. */
  onHistory(h: HistoryReceived): void;
  onDebug(message: string, cause?: unknown): void;
  /** Base delay between in-place retries (tests shorten it). */
  retryDelayMs?: number;
}

/** Failures that may pass: the envelope is kept (unacknowledged) rather than judged. */
const PASSING: ReadonlySet<ErrorCode> = new Set(['timeout', 'not_connected', 'rate_limited', 'internal', 'bad_response']);

const isPassing = (err: unknown): boolean => !(err instanceof ChatError) || PASSING.has(err.code);

/** Tries per envelope (for passing failures) before leaving it to the next login's redelivery. */
export const INBOUND_ATTEMPTS = 3;
/** Doubling from here between tries: long enough for a lock held by the user's other process to clear. */
const RETRY_DELAY_MS = 200;

/** Envelope types and versions this client reads; anything else is refused as `unsupported`. */
const SUPPORTED: Readonly<Record<string, readonly unknown[]>> = { hybrid: [1], ratchet: [1] };

/** A well-formed delivery of something this client cannot read: another type or version, or a note to self. */
class UnsupportedEnvelopeError extends ChatError {
  constructor(what: string) {
    super('bad_request', `unsupported envelope: ${what}`);
    this.name = 'UnsupportedEnvelopeError';
  }
}

/** The reason a permanent failure is reported with; undefined for a passing one. */
function rejectReasonOf(err: unknown): RejectReason | undefined {
  if (isPassing(err)) return undefined;
  if (err instanceof UnsupportedEnvelopeError || err instanceof UnsupportedPayloadError) return 'unsupported';
  if (err instanceof ChatError && err.code === 'peer_key_changed') return 'peer_key_changed';
  return 'decryption_failed';
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What to tell listeners once an envelope is settled (collected while settling, told after). */
type Notice =
  | { kind: 'message'; message: ReceivedMessage }
  | { kind: 'rejected'; rejected: RejectedMessage }
  | { kind: 'read'; read: ReadReceipt }
  | { kind: 'history'; history: HistoryReceived };

/** Receipts remembered per process as already told: beyond it the oldest may be told once more. */
const MAX_TOLD_RECEIPTS = 10_000;

export class Inbound {
  /** Message ids whose receipt this process has told its listeners, oldest first. */
  private readonly told = new Set<string>();

  constructor(private readonly deps: InboundDeps) {}

  private rememberTold(id: string): boolean {
    if (this.told.has(id)) return false;
    this.told.add(id);
    if (this.told.size > MAX_TOLD_RECEIPTS) this.told.delete(this.told.values().next().value!);
    return true;
  }

  /** Handles one routed envelope: acknowledges it as stored, or as rejected with its reason, or leaves it. */
  async message(m: IncomingMessageV2): Promise<void> {
    const notices: Notice[] = [];
    const verdict = await this.settle(m, false, notices);
    if (verdict === 'accepted') this.deps.acks.add('ids', m.id);
    else if (verdict !== 'left') this.deps.acks.reject(m.id, verdict);
    this.announce(notices);
  }

  /** Tells listeners, after the commit; a failing one is reported and never stops the others or the chain. */
  private announce(notices: readonly Notice[]): void {
    for (const n of notices) {
      try {
        if (n.kind === 'message') this.deps.onMessage(n.message);
        else if (n.kind === 'rejected') this.deps.onRejected(n.rejected);
        else if (n.kind === 'history') this.deps.onHistory(n.history);
        else this.deps.onRead(n.read);
      } catch (cause) {
        this.deps.onDebug(`a listener failed on ${noticeName(n)}`, cause);
      }
    }
  }

  /**
   * Opens the envelopes held from `peer` (refused earlier because their keys changed), oldest first,
   * after the user trusted the new keys. Each leaves the hold once it is recorded (as a message, or as
   * unreadable for another reason); one refused again for a key change stops the pass, keeping order.
   * Exactly once: a crash between recording and releasing makes the next pass find it a duplicate.
   */
  async openHeld(peer: string): Promise<number> {
    let opened = 0;
    for (const h of await this.deps.messages.held(peer)) {
      const notices: Notice[] = [];
      const verdict = await this.settle(heldAsIncoming(h, this.deps.device), true, notices);
      const keep = verdict === 'left' || verdict === 'peer_key_changed';
      if (!keep) await this.deps.messages.release(h.serverId);
      this.announce(notices);
      if (keep) break;
      if (verdict === 'accepted') opened++;
    }
    return opened;
  }

  /**
   * Opens and records `m`, or records why it cannot be read. Passing failures are retried in place,
   * INBOUND_ATTEMPTS times in all, then 'left' (see the file comment for why).
   */
  private async settle(m: IncomingMessageV2, fromHold: boolean, notices: Notice[]): Promise<'accepted' | 'left' | RejectReason> {
    for (let attempt = 1; ; attempt++) {
      try {
        const failure = await this.open(m, notices).then(
          () => undefined,
          (err: unknown) => {
            const reason = rejectReasonOf(err);
            if (!reason) throw err;
            return { reason, error: err as ChatError };
          },
        );
        if (!failure) return 'accepted';
        await this.recordUnreadable(m, failure.reason, failure.error, fromHold, notices);
        return failure.reason;
      } catch (err) {
        if (attempt >= INBOUND_ATTEMPTS) {
          this.deps.onDebug(`envelope ${m.id} left for redelivery after ${attempt} failed attempts`, err);
          return 'left';
        }
        this.deps.onDebug(`envelope ${m.id}: passing failure, retrying`, err);
        await delay((this.deps.retryDelayMs ?? RETRY_DELAY_MS) * 2 ** (attempt - 1));
      }
    }
  }

  private async open(m: IncomingMessageV2, notices: Notice[]): Promise<void> {
    if (m.to !== this.deps.username) throw new DecryptionFailedError({ cause: new Error(`routed for "${m.to}"`) });
    const type = (m.envelope as { type?: unknown } | null)?.type;
    const version = (m.envelope as { v?: unknown } | null)?.v;
    if (typeof type !== 'string' || !Object.hasOwn(SUPPORTED, type) || !SUPPORTED[type]!.includes(version)) {
      throw new UnsupportedEnvelopeError(`type ${JSON.stringify(type)} version ${JSON.stringify(version)}`);
    }
    // This device never writes to itself: a copy of its own would be opened with the session it sends with.
    if (m.from === this.deps.username && m.fromDevice === this.deps.device) throw new UnsupportedEnvelopeError('a message from this very device');
    if (m.toDevice !== this.deps.device) throw new DecryptionFailedError({ cause: new Error(`routed for device ${m.toDevice}`) });
    const parsed = envelopeSchema.safeParse(m.envelope);
    if (!parsed.success) throw new DecryptionFailedError({ cause: parsed.error });
    // The sending device must be in its user's verified list (asked once more if the held one lacks it):
    // a device the list does not name is no device of that user, whatever the server says (§21.6).
    const sender = await this.deps.deviceKeys({ user: m.from, device: m.fromDevice });
    if (!sender) throw new DecryptionFailedError({ cause: new Error(`${m.from}/${m.fromDevice} is not in the verified device list of ${m.from}`) });
    if (parsed.data.type === 'ratchet') await this.openRatchet(m, parsed.data, sender, notices);
    else await this.acceptPayload(m, await this.openHybrid(m, parsed.data, sender), notices);
  }

  /** Records (once) that `m` could not be read, and keeps it sealed when its sender's keys changed. */
  private async recordUnreadable(m: IncomingMessageV2, reason: RejectReason, error: ChatError, fromHold: boolean, notices: Notice[]): Promise<void> {
    if (error.cause !== undefined) this.deps.onDebug(`envelope ${m.id} from ${m.from} rejected`, error.cause);
    let held = reason === 'peer_key_changed';
    if (held && !fromHold) {
      const kept = await this.deps.messages.hold({ serverId: m.id, from: m.from, fromDevice: m.fromDevice, to: m.to, sentAt: m.sentAt, envelope: m.envelope });
      if (kept === 'full') {
        // The hold is bounded (HeldLimits: the directory that decides what is held is the server's): this
        // one is recorded and shown, but trusting the keys later will not open it.
        this.deps.onDebug(`envelope ${m.id} from ${m.from} not kept sealed: the held envelopes are at their limit`);
        held = false;
      }
    }
    const recordId = unreadableRecordId(m.id);
    let outcome = await this.deps.messages.recordIncoming({
      id: recordId,
      direction: 'in',
      peer: m.from,
      body: '',
      sentAt: m.sentAt,
      serverId: m.id,
      serverTime: m.sentAt,
      status: 'unreadable',
      reason,
      ...(reason === 'peer_key_changed' && !held && { held: false as const }),
    });
    // A held envelope was recorded (peer_key_changed) when it was first refused; failing now for another
    // reason is news: the record takes the new reason and the user is told, once.
    if (outcome === 'duplicate' && fromHold && (await this.deps.messages.rejudgeUnreadable(recordId, reason))) outcome = 'new';
    if (outcome === 'new') notices.push({ kind: 'rejected', rejected: { serverId: m.id, from: m.from, recordId, receivedAt: m.sentAt, reason, held, error } });
  }

  /**
   * The server's receipt for one device's copy of a message this device sent (§21.8): recorded on that
   * copy, and told once per copy. Copies to the user's own other devices are recorded, never told: they
   * are synced, not delivered.
   */
  async receipt(r: ReceiptEventV2): Promise<void> {
    const record = await this.deps.messages.get(r.clientId, 'out');
    // Our read receipts get the server's receipts like any message: settled, never announced (a user
    // who sent no message must not be told one was delivered).
    if (record?.kind === 'receipt') {
      this.deps.acks.add('receipts', r.id);
      return;
    }
    const ownCopy = r.to === this.deps.username;
    // Bound to its question: a receipt for our message to bob must come from bob's side (or our own
    // devices'). Receipts are not end-to-end (the server can always claim one), but it cannot move one
    // message's state onto another peer.
    if (record && record.peer !== r.to && !ownCopy) {
      this.deps.onDebug(`receipt ${r.id} names ${r.to}, but message ${r.clientId} went to ${record.peer}; ignored`);
      this.deps.acks.add('receipts', r.id);
      return;
    }
    const copy = { to: r.to, device: r.toDevice };
    const reason = r.status === 'unreadable' ? (r.reason ?? 'decryption_failed') : undefined;
    const now = record ? await this.deps.messages.markCopy(r.clientId, copy, { status: r.status, ...(reason && { reason }) }) : undefined;
    // Each process of the user tells its own listeners once per copy, whatever the shared store says: the
    // user's other process (a `receive` beside a `send`) may have recorded the same receipt first, and
    // `send` would then wait for a receipt it never announces (and `receive --json` miss one).
    const firstHere = !ownCopy && this.rememberTold(`${r.clientId} ${r.to}/${r.toDevice}`);
    if (firstHere && r.status === 'unreadable') {
      // Told even without a local record (sent by another client of this user): it is news either way.
      this.deps.onUnreadable({ id: r.clientId, to: r.to, device: r.toDevice, reason: reason!, at: r.deliveredAt });
    } else if (firstHere && r.status === 'delivered' && record) {
      // Unchanged by this receipt: another process of the user recorded it first; the stored record says where things stand.
      const current = now ?? (await this.deps.messages.get(r.clientId, 'out')) ?? record;
      this.deps.onDelivered({ id: r.clientId, to: r.to, device: r.toDevice, deliveredAt: r.deliveredAt, copies: copiesOf(current) });
    } else if (r.status === 'removed') {
      this.deps.onDebug(`${r.to}/${r.toDevice} was removed before it received message ${r.clientId}; it leaves the count`);
    }
    this.deps.acks.add('receipts', r.id);
  }

  /** A checked payload: history (history-inbound.ts), or a message to record once. */
  private acceptPayload(m: IncomingMessageV2, p: Payload, notices: Notice[]): Promise<void> {
    if (p.v === 2 && p.kind === 'history') return this.acceptHistory(p, notices);
    return this.accept(m, this.opened(m, p), notices);
  }

  /**
   * History from this user's primary (§21.3.1): its items recorded, each once, never announced as
   * messages. The route check let it through only as this user's own (from = to = this user); checked
   * again here, since recording it is what the check protects.
   */
  private async acceptHistory(p: HistoryPayload, notices: Notice[]): Promise<void> {
    if (p.from !== this.deps.username || p.to !== this.deps.username) throw new DecryptionFailedError({ cause: new Error(`history from ${p.from}, not this user`) });
    notices.push({ kind: 'history', history: await recordHistoryItems(this.deps.messages, p) });
  }

  /** Records an opened message once; a second sighting is a redelivery (same envelope) or a replay. */
  /**
   * Where a message from `from` with the sender's id `id` is recorded. Ids are chosen by senders and the
   * server sees them (`send.id`), so they are unique per sender only: a lying server could have an account
   * of its own send a message under an id it saw, first, to make the true one look like a replay. A
   * message whose id another sender already used is recorded under `<sender>/<id>` ('/' occurs in neither
   * usernames nor ids), which every later sighting of it finds again.
   */
  private async recordIdFor(from: string, id: string): Promise<string> {
    const earlier = await this.deps.messages.get(id, 'in');
    return earlier && earlier.peer !== from ? `${from}/${id}` : id;
  }

  private async accept(m: IncomingMessageV2, opened: Opened, notices: Notice[]): Promise<void> {
    const { receipt, ...message } = opened;
    if (message.outgoing) return this.acceptOwnCopy(m, opened, notices);
    const kind = receipt ? 'receipt' : undefined;
    // The plain id first: a new message (the common case) costs one write and no read.
    let recorded: ReceivedMessage = message;
    let outcome = await this.record(recorded, kind);
    if (outcome === 'duplicate') {
      const recordId = await this.recordIdFor(message.from, message.id);
      if (recordId !== message.id) {
        recorded = { ...message, id: recordId };
        outcome = await this.record(recorded, kind);
      }
    }
    if (outcome !== 'new') return this.checkRedelivery(m, recorded.id);
    if (receipt) await this.applyReceipt(message, receipt, notices);
    else notices.push({ kind: 'message', message: recorded });
  }

  /**
   * A receipt from `from` (recorded once, like a message): marks read what it names among the messages
   * this user sent to `from`. Ids of messages sent to someone else, received ones, receipts or unknown
   * ones are ignored: a peer can only speak of what it was sent. Kinds this client does not know are
   * ignored too (a newer client's).
   */
  private async applyReceipt(from: Pick<ReceivedMessage, 'from' | 'sentAt' | 'id'>, receipt: ReceiptPayload, notices: Notice[]): Promise<void> {
    if (receipt.type !== READ_RECEIPT) {
      this.deps.onDebug(`receipt ${from.id} from ${from.from} is of a kind this client does not know ("${receipt.type}"); ignored`);
      return;
    }
    const ids = await this.deps.messages.markRead(from.from, [...new Set(receipt.ids)]);
    if (ids.length < receipt.ids.length) this.deps.onDebug(`receipt ${from.id} from ${from.from} names ${receipt.ids.length - ids.length} id(s) not sent to them or already read; ignored`);
    if (ids.length > 0) notices.push({ kind: 'read', read: { by: from.from, ids, readAt: from.sentAt } });
  }

  /**
   * A copy of what this user sent from another of their devices: recorded once as outgoing to `to`, with
   * the status `sent` (this device does not learn the peer's receipts, §14.4 of the design). A read
   * receipt the user sent elsewhere changes nothing here.
   */
  private async acceptOwnCopy(m: IncomingMessageV2, opened: Opened, notices: Notice[]): Promise<void> {
    if (opened.receipt) return;
    const { receipt: _receipt, ...message } = opened;
    const outcome = await this.deps.messages.recordOutgoingCopy(receivedRecord(message));
    if (outcome === 'new') notices.push({ kind: 'message', message: opened });
    else this.deps.onDebug(`copy ${m.id} of a message sent from ${m.from}/${m.fromDevice} seen before; ignored`);
  }

  private record(message: ReceivedMessage, kind: 'receipt' | undefined): Promise<'new' | 'duplicate'> {
    return this.deps.messages.recordIncoming({ ...receivedRecord(message), ...(kind && { kind }) });
  }

  /** Same id again: a redelivery of the same server envelope is expected after a lost ack; the same message inside a different envelope is a replay. */
  private async checkRedelivery(m: IncomingMessageV2, messageId: string): Promise<void> {
    const earlier = await this.deps.messages.get(messageId, 'in');
    if (earlier?.serverId !== m.id) throw new DecryptionFailedError({ cause: new Error(`replayed message id ${messageId}`) });
    this.deps.onDebug(`redelivery of ${m.id} ignored`);
  }

  /**
   * The message a payload carries, once it agrees with its route (the session or signature checked
   * `from`, `fromDevice` and `to`; a version-1 payload names no device and is device 1's, §21.3).
   */
  private opened(m: IncomingMessageV2, p: MessagePayload): Opened {
    return {
      id: p.id,
      serverId: m.id,
      from: p.from,
      fromDevice: payloadDevice(p),
      to: p.to,
      sentAt: p.sentAt,
      receivedAt: m.sentAt,
      body: p.body,
      ...(p.from === this.deps.username && { outgoing: true as const }),
      ...(p.receipt && { receipt: p.receipt }),
      ...(p.attachment && { attachment: p.attachment }),
    };
  }

  private async openRatchet(m: IncomingMessageV2, envelope: RatchetEnvelope, sender: DeviceKeys, notices: Notice[]): Promise<void> {
    const sessions = this.deps.sessions;
    if (!sessions) throw new DecryptionFailedError({ cause: new Error('ratchet envelope, but this client keeps no sessions') });
    const pinned = m.from === this.deps.username ? undefined : await this.deps.peers.get(m.from);
    const attempt = (keys: DeviceKeys) =>
      sessions.open(keys.address, this.deps.username, m.id, envelope, keys.signingKey, (p) => this.acceptPayload(m, p, notices), keys.identityKey);
    let outcome: Awaited<ReturnType<typeof attempt>>;
    try {
      outcome = await attempt(sender);
    } catch (err) {
      // It opened and authenticated: only its kind is new to this client, and no key is in question.
      if (err instanceof UnsupportedPayloadError) throw err;
      // A device that remade its prekey identity starts new sessions under an IK the held list does not
      // name yet; its user's newer list does (§21.6). Asked once per such envelope; nothing newer: judged as is.
      const newer = err instanceof DecryptionFailedError ? await this.deps.refreshDeviceKeys(sender.address) : undefined;
      if (!newer || sameDeviceKeys(newer, sender)) return this.explainFailure(m, pinned, err);
      outcome = await attempt(newer).catch((again: unknown) => this.explainFailure(m, pinned, again));
    }
    if (outcome.status === 'duplicate') {
      // A copy from one of our own devices is recorded as outgoing: its redelivery has nothing more to check.
      if (m.from === this.deps.username) return;
      await this.checkRedelivery(m, await this.recordIdFor(m.from, outcome.messageId));
    }
  }

  private async openHybrid(m: IncomingMessageV2, envelope: HybridEnvelope, sender: DeviceKeys): Promise<Payload> {
    const pinned = m.from === this.deps.username ? undefined : await this.deps.peers.get(m.from);
    const payload = await openHybridEnvelope({
      envelope,
      from: m.from,
      fromDevice: m.fromDevice,
      me: this.deps.username,
      recipientDecryptionKey: await this.deps.decryptionKey(),
      senderVerificationKey: { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(sender.signingKey) },
    }).catch((err: unknown) => (err instanceof UnsupportedPayloadError ? Promise.reject(err) : this.explainFailure(m, pinned, err)));
    return payload;
  }

  /** A failure with a pinned key may mean the sender re-keyed: say so rather than "decryption failed". */
  private async explainFailure(m: IncomingMessageV2, pinned: PinnedPeer | undefined, err: unknown): Promise<never> {
    // The directory not answering is a passing failure: judged again on the retry, not called garbage now.
    const current = await this.deps
      .fetchKeys(m.from)
      .then((keys) => toPinned(keys, Date.now()))
      .catch((e: unknown) => {
        if (isPassing(e)) throw e;
        return undefined;
      });
    if (pinned && current && !samePeerKeys(pinned, current)) throw new PeerKeyChangedError(pinned, current);
    throw err;
  }
}

/** Whether two sets of a device's keys are the same keys. */
function sameDeviceKeys(a: DeviceKeys, b: DeviceKeys): boolean {
  const same = (x: Uint8Array | null, y: Uint8Array | null) => (x === null || y === null ? x === y : constantTimeEqual(x, y));
  return same(a.signingKey, b.signingKey) && same(a.identityKey, b.identityKey);
}

function noticeName(n: Notice): string {
  if (n.kind === 'message') return `message ${n.message.id}`;
  if (n.kind === 'rejected') return `unreadable envelope ${n.rejected.serverId}`;
  if (n.kind === 'history') return `history ${n.history.id}`;
  return `read receipt from ${n.read.by}`;
}

/** A held envelope as it was delivered (held before devices: from device 1, to this device). */
function heldAsIncoming(h: HeldEnvelope, me: number): IncomingMessageV2 {
  return { id: h.serverId, from: h.from, fromDevice: h.fromDevice ?? PRIMARY_DEVICE, to: h.to, toDevice: me, sentAt: h.sentAt, envelope: h.envelope };
}
