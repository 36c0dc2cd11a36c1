/**
 * The receiving side of the client: opens each envelope (hybrid or ratchet), records it exactly once,
 * and acknowledges it only when that is settled: stored, or judged unopenable for good. A failure that
 * may pass (the directory or the local store not answering) is retried, and if it persists the envelope
 * stays unacknowledged, so the server delivers it again at the next login instead of losing it.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { openHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import { ChatError, DecryptionFailedError, type ErrorCode } from '../protocol/errors.js';
import type { IncomingMessage, ReceiptEvent, UserKeys } from '../protocol/events.js';
import type { HybridEnvelope, RatchetEnvelope } from '../protocol/schemas.js';
import type { AckBatcher } from './ack-batcher.js';
import { PeerKeyChangedError, samePeerKeys, toPinned } from './peer-keys.js';
import type { SessionManager } from './session-manager.js';
import type { MessageStore, PeerKeyStore, PinnedPeer } from './stores.js';

export interface ReceivedMessage {
  /** The sender's own id for the message (signed, unique): the replay-detection key. */
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
}

export interface RejectedMessage {
  serverId: string;
  from: string;
  error: ChatError;
}

export interface InboundDeps {
  username: string;
  messages: MessageStore;
  peers: PeerKeyStore;
  sessions: SessionManager | null;
  acks: AckBatcher;
  /** The peer's keys checked against the pin (pinning on first use). */
  peerKeys(username: string): Promise<PinnedPeer>;
  /** The directory's current keys, unchecked. */
  fetchKeys(username: string): Promise<UserKeys>;
  decryptionKey(): Promise<CryptoKey>;
  onMessage(m: ReceivedMessage): void;
  onRejected(r: RejectedMessage): void;
  onDelivered(d: { id: string; to: string; deliveredAt: number }): void;
  onDebug(message: string, cause?: unknown): void;
}

/** Failures that may pass: the envelope is kept (unacknowledged) rather than judged. */
const PASSING: ReadonlySet<ErrorCode> = new Set(['timeout', 'not_connected', 'rate_limited', 'internal']);

/** Tries per envelope before leaving it to the next login's redelivery. */
export const INBOUND_ATTEMPTS = 3;
const RETRY_DELAY_MS = 200;

/** The raw Ed25519 key of a pinned peer (its JWK's x). */
export const signingKeyOf = (peer: PinnedPeer): Uint8Array => base64urlDecode(peer.signingKey.x);

export class Inbound {
  constructor(private readonly deps: InboundDeps) {}

  /** Handles one routed envelope; retries in place (keeping order) while the failure may pass. */
  async message(m: IncomingMessage): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (m.to !== this.deps.username) throw new DecryptionFailedError();
        if (m.envelope.type === 'ratchet') await this.openRatchet(m, m.envelope);
        else await this.accept(m, await this.openHybrid(m));
        break;
      } catch (err) {
        const passing = !(err instanceof ChatError) || PASSING.has(err.code);
        if (!passing) {
          if (err.cause !== undefined) this.deps.onDebug(`envelope ${m.id} from ${m.from} rejected`, err.cause);
          this.deps.onRejected({ serverId: m.id, from: m.from, error: err });
          break;
        }
        if (attempt >= INBOUND_ATTEMPTS) {
          this.deps.onDebug(`envelope ${m.id} left for redelivery after ${attempt} failed attempts`, err);
          return; // not acknowledged: the server keeps it
        }
        this.deps.onDebug(`envelope ${m.id}: passing failure, retrying`, err);
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS * attempt));
      }
    }
    // Stored, or judged for good: this device is done with it.
    this.deps.acks.add('ids', m.id);
  }

  async receipt(r: ReceiptEvent): Promise<void> {
    const record = await this.deps.messages.get(r.clientId, 'out');
    if (record && record.status !== 'delivered') {
      await this.deps.messages.markDelivered(r.clientId);
      this.deps.onDelivered({ id: r.clientId, to: r.to, deliveredAt: r.deliveredAt });
    }
    this.deps.acks.add('receipts', r.id);
  }

  /** Records an opened message once; a second sighting is a redelivery (same envelope) or a replay. */
  private async accept(m: IncomingMessage, message: ReceivedMessage): Promise<void> {
    const outcome = await this.deps.messages.recordIncoming({
      id: message.id,
      direction: 'in',
      peer: message.from,
      body: message.body,
      sentAt: message.sentAt,
      serverId: message.serverId,
      serverTime: message.receivedAt,
      status: 'received',
    });
    if (outcome === 'new') this.deps.onMessage(message);
    else await this.checkRedelivery(m, message.id);
  }

  /** Same id again: a redelivery of the same server envelope is expected after a lost ack; the same message inside a different envelope is a replay. */
  private async checkRedelivery(m: IncomingMessage, messageId: string): Promise<void> {
    const earlier = await this.deps.messages.get(messageId, 'in');
    if (earlier?.serverId !== m.id) throw new DecryptionFailedError({ cause: new Error(`replayed message id ${messageId}`) });
    this.deps.onDebug(`redelivery of ${m.id} ignored`);
  }

  private async openRatchet(m: IncomingMessage, envelope: RatchetEnvelope): Promise<void> {
    const sessions = this.deps.sessions;
    if (!sessions) throw new DecryptionFailedError({ cause: new Error('ratchet envelope, but this client keeps no sessions') });
    const pinned = await this.deps.peers.get(m.from);
    const sender = pinned ?? (await this.deps.peerKeys(m.from));
    const outcome = await sessions
      .open(m.from, this.deps.username, m.id, envelope, signingKeyOf(sender), (p) =>
        this.accept(m, { id: p.id, serverId: m.id, from: p.from, to: p.to, sentAt: p.sentAt, receivedAt: m.sentAt, body: p.body }),
      )
      .catch((err: unknown) => this.explainFailure(m, pinned, err));
    if (outcome.status === 'duplicate') await this.checkRedelivery(m, outcome.messageId);
  }

  private async openHybrid(m: IncomingMessage): Promise<ReceivedMessage> {
    const pinned = await this.deps.peers.get(m.from);
    const sender = pinned ?? (await this.deps.peerKeys(m.from));
    const payload = await openHybridEnvelope({
      envelope: m.envelope as HybridEnvelope,
      from: m.from,
      me: this.deps.username,
      recipientDecryptionKey: await this.deps.decryptionKey(),
      senderVerificationKey: sender.signingKey,
    }).catch((err: unknown) => this.explainFailure(m, pinned, err));
    return { id: payload.id, serverId: m.id, from: payload.from, to: payload.to, sentAt: payload.sentAt, receivedAt: m.sentAt, body: payload.body };
  }

  /** A failure with a pinned key may mean the sender re-keyed: say so rather than "decryption failed". */
  private async explainFailure(m: IncomingMessage, pinned: PinnedPeer | undefined, err: unknown): Promise<never> {
    const current = await toPinned(await this.deps.fetchKeys(m.from), Date.now()).catch(() => undefined);
    if (pinned && current && !samePeerKeys(pinned, current)) throw new PeerKeyChangedError(pinned, current);
    throw err;
  }
}
