/**
 * The sending side's first half: seals a message once for each device it goes to (every device of the
 * recipient and the user's own other devices, §21.4; a ratchet session per device, or a hybrid envelope
 * to each device's RSA key) and puts the copies, with the history record, in the persisted outbox, where
 * OutboxSender takes them.
 * Refuses what cannot be sent before anything is stored: a note to self, an envelope above the server's
 * cap, an unpinned peer while offline.
 *
 * One other message goes the same way: the history a primary sends a device it just linked (§21.3.1),
 * sealed for that one device of the user's own and nobody else (sealHistory).
 */
import { newMessageId, sealHybridPayload } from '../e2ee/hybrid-envelope.js';
import type { AttachmentPointer } from '../e2ee/attachment-pointer.js';
import type { HistoryItem, MessagePayload, Payload } from '../e2ee/message-payload.js';
import type { ReceiptPayload } from '../e2ee/read-receipt.js';
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { ChatError } from '../protocol/errors.js';
import { addressText, PRIMARY_DEVICE, type Address } from './address.js';
import type { DeviceDirectory } from './device-directory.js';
import { maxPayloadBytes } from './payload-budget.js';
import type { PeerDirectory } from './peer-directory.js';
import { checkEnvelopeSize, type SessionManager } from './session-manager.js';
import type { HistoryRecord, MessageStore, OutboxCopy } from './stores.js';

/** What a message may carry besides its text. */
export interface MessageExtras {
  /** The message is this read receipt (read-receipt.ts). */
  receipt?: ReceiptPayload | undefined;
  /** The message carries this uploaded file. */
  attachment?: AttachmentPointer | undefined;
}

export interface MessageSealerDeps {
  username: string;
  /** This device's id: version-2 payloads name it, and the user's other devices get copies. */
  device: number;
  /** Ratchet mode: seals with these sessions. Null: hybrid mode, sealed with the identity keys. */
  sessions: SessionManager | null;
  messages: MessageStore;
  directory: PeerDirectory;
  devices: DeviceDirectory;
  /** This device's signing key, for hybrid envelopes. */
  /** This device's Ed25519 key: the hybrid mode signs its JWS with it (jose takes its CryptoKey). */
  signingKey: Ed25519SigningKey;
  /** Whether the client is logged in now: only then are the directory and bundles asked. */
  online(): boolean;
  /** The server's envelope cap as last announced. */
  maxEnvelopeBytes(): number;
}

/** What every copy of one message says, whichever device it is sealed for. */
type MessageContent = Pick<HistoryRecord, 'id' | 'sentAt' | 'body' | 'attachment' | 'receipt'> & { to: string };

export class MessageSealer {
  /** Sealing is asynchronous (crypto on a thread pool): chained, so the outbox gets messages in call order. */
  private order: Promise<unknown> = Promise.resolve();
  private signing: Promise<CryptoKey> | null = null;

  constructor(private readonly deps: MessageSealerDeps) {}

  /**
   * Seals the message for every device it goes to (§21.4) and puts it in the outbox (with its history
   * record), after the ones before it; returns its id. With `receipt`, the message is that receipt (empty
   * body, recorded as kind receipt); with `attachment`, it carries that uploaded file (docs/PROTOCOL.md §20.5).
   */
  seal(to: string, body: string, extra: MessageExtras = {}): Promise<string> {
    return this.inOrder(() => this.sealIntoOutbox(to, body, extra));
  }

  /**
   * Seals a message already in the outbox for devices it was not sealed for (the device set grew while
   * it waited, §21.5), from its history record: the same payload, one new copy per device.
   */
  sealCopies(record: HistoryRecord, targets: readonly Address[]): Promise<OutboxCopy[]> {
    return this.inOrder(async () => {
      const content: MessageContent = { id: record.id, to: record.peer, sentAt: record.sentAt, body: record.body, attachment: record.attachment, receipt: record.receipt };
      const copies: OutboxCopy[] = [];
      for (const target of targets) copies.push(await this.sealCopy(target, content, true));
      return copies;
    });
  }

  /**
   * Seals a history message (§21.3.1) for `device` of this user alone and puts it in the outbox, after
   * the ones before it; returns its id. Its record is kind history: in no conversation, never announced.
   * Needs a connection when there is no session with that device yet (a device just linked has none).
   */
  sealHistory(device: number, items: readonly HistoryItem[]): Promise<string> {
    return this.inOrder(async () => {
      const { username } = this.deps;
      const id = newMessageId();
      const sentAt = Date.now();
      const payload: Payload = { v: 2, kind: 'history', from: username, fromDevice: this.deps.device, to: username, id, sentAt, items: [...items] };
      const copy = await this.sealPayload({ user: username, device }, payload, this.deps.online());
      const record: HistoryRecord = { id, direction: 'out', peer: username, body: '', sentAt, status: 'outbox', kind: 'history', copies: [{ to: username, device, status: 'outbox' }] };
      await this.deps.messages.addOutgoing({ id, to: username, messages: [copy], createdAt: sentAt, kind: 'history' }, record);
      return id;
    });
  }

  /** The most payload bytes that seal into an envelope the server takes, in this client's mode (payload-budget.ts). */
  maxPayloadBytes(): number {
    return maxPayloadBytes(this.deps.sessions ? 'ratchet' : 'hybrid', this.deps.maxEnvelopeBytes());
  }

  private inOrder<T>(work: () => Promise<T>): Promise<T> {
    const queued = this.order.then(work);
    this.order = queued.catch(() => undefined);
    return queued;
  }

  private async sealIntoOutbox(to: string, body: string, { receipt, attachment }: MessageExtras): Promise<string> {
    const { username } = this.deps;
    // Notes to self need a device of one's own to write to; this client does not offer them yet.
    if (to === username) throw new ChatError('bad_request', 'notes to self are not supported: the recipient must be another user');
    let online = this.deps.online();
    let targets: Address[];
    try {
      targets = await this.targetsOf(to, online);
    } catch (err) {
      // The connection went while we asked: seal as offline (pins and held lists), as if we had been.
      if (!online || !(err instanceof ChatError) || (err.code !== 'not_connected' && err.code !== 'timeout')) throw err;
      online = false;
      targets = await this.targetsOf(to, online);
    }
    const id = newMessageId();
    const sentAt = Date.now();
    const kind = receipt ? ({ kind: 'receipt' } as const) : {};
    const content: MessageContent = { id, to, sentAt, body, attachment, receipt };
    const messages: OutboxCopy[] = [];
    // Each copy's session is saved as it is sealed, before the outbox write: a message key is never used
    // twice. A crash before the write loses this one unsent message; its copies' numbers are skipped.
    try {
      if (online) await this.prefetchBundles(targets);
      for (const target of targets) messages.push(await this.sealCopy(target, content, online));
    } finally {
      this.deps.devices.forgetPrefetched();
    }
    const record: HistoryRecord = {
      id,
      direction: 'out',
      peer: to,
      body,
      sentAt,
      status: 'outbox',
      ...kind,
      ...(attachment && { attachment }),
      ...(receipt && { receipt }),
      copies: messages.map((m) => ({ to: m.to, device: m.device, status: 'outbox' as const })),
    };
    await this.deps.messages.addOutgoing({ id, to, messages, createdAt: sentAt, ...kind }, record);
    return id;
  }

  /**
   * The bundles of the targets without a session, one request per user (the recipient, and this user's
   * other devices): a first message to five devices costs two round trips, not five.
   */
  private async prefetchBundles(targets: readonly Address[]): Promise<void> {
    const sessions = this.deps.sessions;
    if (!sessions) return;
    const needed = new Map<string, number[]>();
    for (const target of targets) {
      // Checked first, without the store or the lists: on established sessions this loop costs nothing.
      if (sessions.sealedBefore(target)) continue;
      const keys = await this.deps.devices.deviceKeys(target);
      if (!keys || (await sessions.hasSession(target, keys.signingKey))) continue;
      needed.set(target.user, [...(needed.get(target.user) ?? []), target.device]);
    }
    for (const [user, devices] of needed) if (devices.length > 1) await this.deps.devices.prefetchBundles(user, devices);
  }

  /** Checks the peer's keys against the pin first (a key change stops the message before any sealing), then lists its devices. */
  private async targetsOf(to: string, online: boolean): Promise<Address[]> {
    if (online) await this.deps.directory.peerKeys(to);
    else await this.deps.directory.pinned(to);
    return this.deps.devices.targets(to, online);
  }

  /**
   * The payload for one device: version 2 naming this device, except to a peer whose list was never
   * seen (a protocol-1 client reads version 1 only) when this is device 1, whose version-1 payload says
   * the same (§21.3).
   */
  private async payloadFor(target: Address, content: MessageContent): Promise<MessagePayload> {
    const { username, device } = this.deps;
    const common = {
      from: username,
      to: content.to,
      id: content.id,
      sentAt: content.sentAt,
      body: content.body,
      ...(content.receipt && { receipt: content.receipt }),
      ...(content.attachment && { attachment: content.attachment }),
    };
    const toProtocol1 = device === PRIMARY_DEVICE && target.user !== username && (await this.deps.devices.held(target.user)) === null;
    return toProtocol1 ? { v: 1, ...common } : { v: 2, kind: 'message', fromDevice: device, ...common };
  }

  private async sealCopy(target: Address, content: MessageContent, online: boolean): Promise<OutboxCopy> {
    return this.sealPayload(target, await this.payloadFor(target, content), online);
  }

  /** One device's copy: the payload sealed with that device's session, or as a hybrid envelope to its RSA key. */
  private async sealPayload(target: Address, payload: Payload, online: boolean): Promise<OutboxCopy> {
    const keys = await this.deps.devices.deviceKeys(target, { online });
    if (!keys) throw new ChatError('devices_changed', `${addressText(target)} is not in the verified device list of "${target.user}"`);
    const max = this.deps.maxEnvelopeBytes();
    if (this.deps.sessions) {
      const envelope = await this.deps.sessions.seal(target, keys.signingKey, payload, online, max);
      return { to: target.user, device: target.device, envelope };
    }
    this.signing ??= this.deps.signingKey.cryptoKey();
    const envelope = await sealHybridPayload(payload, await this.signing, keys.encryptionKey);
    checkEnvelopeSize(envelope, max);
    return { to: target.user, device: target.device, envelope };
  }
}
