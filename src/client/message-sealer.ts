/**
 * The sending side's first half: seals a message for its recipient (a ratchet session, or the hybrid
 * envelope) and puts it, with its history record, in the persisted outbox, where OutboxSender takes it.
 * Refuses what cannot be sent before anything is stored: a note to self, an envelope above the server's
 * cap, an unpinned peer while offline.
 */
import { importSigningKey, newMessageId, sealHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import type { MessagePayload } from '../e2ee/message-payload.js';
import type { ReceiptPayload } from '../e2ee/read-receipt.js';
import type { Ed25519PrivateJwk } from '../crypto/keys.js';
import { ChatError } from '../protocol/errors.js';
import type { PeerDirectory } from './peer-directory.js';
import { signingKeyOf } from './peer-keys.js';
import { checkEnvelopeSize, type SessionManager } from './session-manager.js';
import type { HistoryRecord, MessageStore, PinnedPeer } from './stores.js';

export interface MessageSealerDeps {
  username: string;
  /** Ratchet mode: seals with these sessions. Null: hybrid mode, sealed with the identity keys. */
  sessions: SessionManager | null;
  messages: MessageStore;
  directory: PeerDirectory;
  /** The user's signing key, for hybrid envelopes. */
  signingKey: Ed25519PrivateJwk;
  /** Whether the client is logged in now: only then are the directory and bundles asked. */
  online(): boolean;
  /** The server's envelope cap as last announced. */
  maxEnvelopeBytes(): number;
}

export class MessageSealer {
  /** Sealing is asynchronous (crypto on a thread pool): chained, so the outbox gets messages in call order. */
  private order: Promise<unknown> = Promise.resolve();
  private signing: Promise<CryptoKey> | null = null;

  constructor(private readonly deps: MessageSealerDeps) {}

  /**
   * Seals the message for `to` and puts it in the outbox (with its history record), after the ones before
   * it; returns its id. With `receipt`, the message is that receipt (empty body, recorded as kind receipt).
   */
  seal(to: string, body: string, receipt?: ReceiptPayload): Promise<string> {
    const queued = this.order.then(() => this.sealIntoOutbox(to, body, receipt));
    this.order = queued.catch(() => undefined);
    return queued;
  }

  private async sealIntoOutbox(to: string, body: string, receipt: ReceiptPayload | undefined): Promise<string> {
    const { username, directory } = this.deps;
    // The recipient's client refuses notes to self as unsupported: refuse them here, before any key work.
    if (to === username) throw new ChatError('bad_request', 'notes to self are not supported: the recipient must be another user');
    const online = this.deps.online();
    const peer = online ? await directory.peerKeys(to) : await directory.pinned(to);
    const id = newMessageId();
    const sentAt = Date.now();
    const kind = receipt ? ({ kind: 'receipt' } as const) : {};
    const record: HistoryRecord = { id, direction: 'out', peer: to, body, sentAt, status: 'outbox', ...kind };
    if (this.deps.sessions) {
      const payload: MessagePayload = { v: 1, from: username, to, id, sentAt, body, ...(receipt && { receipt }) };
      await this.deps.sessions.seal(to, signingKeyOf(peer), payload, online, this.deps.maxEnvelopeBytes(), (envelope) =>
        this.deps.messages.addOutgoing({ id, to, envelope, createdAt: sentAt, ...kind }, record),
      );
    } else {
      await this.sealHybrid(to, body, id, sentAt, peer, record, receipt);
    }
    return id;
  }

  private async sealHybrid(to: string, body: string, id: string, sentAt: number, peer: PinnedPeer, record: HistoryRecord, receipt: ReceiptPayload | undefined): Promise<void> {
    this.signing ??= importSigningKey(this.deps.signingKey);
    const { envelope } = await sealHybridEnvelope({
      from: this.deps.username,
      to,
      body,
      id,
      sentAt,
      senderSigningKey: await this.signing,
      recipientEncryptionKey: peer.encryptionKey,
      ...(receipt && { receipt }),
    });
    checkEnvelopeSize(envelope, this.deps.maxEnvelopeBytes());
    await this.deps.messages.addOutgoing({ id, to, envelope, createdAt: sentAt, ...(record.kind && { kind: record.kind }) }, record);
  }
}
