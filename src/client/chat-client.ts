/**
 * The client library: connect, register or log in, pin peers' keys, send through a persisted outbox,
 * receive with exactly-once display, acknowledge, and learn of deliveries. The CLI commands are thin
 * shells over this class. Runtime-neutral: socket.io-client, jose and WebCrypto only, stores injected.
 */
import type { UserKeyPairs } from '../crypto/keys.js';
import { importEncryptionKey, importSigningKey, newMessageId, openHybridEnvelope, sealHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import { ChatError, DecryptionFailedError } from '../protocol/errors.js';
import type { IncomingMessage, PresenceEvent, ReceiptEvent, UserKeys, UsersResult } from '../protocol/events.js';
import type { HybridEnvelope } from '../protocol/schemas.js';
import { AckBatcher } from './ack-batcher.js';
import { TypedEmitter } from './emitter.js';
import { MessageQueue } from './message-queue.js';
import { OutboxSender, type SentMessage } from './outbox-sender.js';
import { PeerKeyChangedError, checkAgainstPin, samePeerKeys, toPinned } from './peer-keys.js';
import { ServerConnection, type ConnectionOptions } from './server-connection.js';
import type { MessageStore, PeerKeyStore, PinnedPeer } from './stores.js';

export type { SentMessage } from './outbox-sender.js';

export interface ClientIdentity {
  username: string;
  keys: UserKeyPairs;
}

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

export interface ChatClientEvents {
  /** A new message, already recorded in the message store: emitted once per message id, ever. */
  message: ReceivedMessage;
  /** An envelope that could not be opened (decryption_failed) or whose sender's keys changed. */
  rejected: RejectedMessage;
  /** The server accepted an outgoing message (status sent/queued). */
  sent: SentMessage;
  /** A device of the recipient stored an outgoing message (delivery receipt). */
  delivered: { id: string; to: string; deliveredAt: number };
  /** The server refused an outgoing message for good (it is marked failed in the history). */
  failed: { id: string; to: string; error: ChatError };
  presence: PresenceEvent;
  /** The connection dropped; it reconnects by itself, with backoff, and logs in again. */
  disconnected: { reason: string };
  /** Logged in again after a reconnect. */
  reconnected: { username: string };
  /** Debug detail that must not reach end users (e.g. which decryption check failed). */
  debug: { message: string; cause?: unknown };
}

export interface ChatClientOptions {
  url: string;
  identity: ClientIdentity;
  peers: PeerKeyStore;
  messages: MessageStore;
  ackTimeoutMs?: number;
  /** How long received ids wait to be acknowledged in one batch. */
  ackDelayMs?: number;
  reconnect?: ConnectionOptions['reconnect'];
  /** Passed to socket.io-client (e.g. transports). */
  socketOptions?: ConnectionOptions['socketOptions'];
}

/** Acks wait this long to be batched: short enough that redelivery after a crash stays small. */
export const DEFAULT_ACK_DELAY_MS = 20;

export class ChatClient extends TypedEmitter<ChatClientEvents> {
  readonly username: string;
  private readonly options: ChatClientOptions;
  private readonly connection: ServerConnection;
  private readonly outbox: OutboxSender;
  private readonly acks: AckBatcher;
  private readonly inbox = new MessageQueue<ReceivedMessage>();
  /** Peers whose directory keys were checked against the pin on this connection. */
  private readonly checkedPeers = new Map<string, PinnedPeer>();
  private receiveChain: Promise<void> = Promise.resolve();
  private keysPromise: Promise<{ sign: CryptoKey; decrypt: CryptoKey }> | null = null;
  private closed = false;

  private constructor(options: ChatClientOptions) {
    super();
    this.options = options;
    this.username = options.identity.username;
    this.connection = new ServerConnection(options, {
      onAuthenticated: (first) => {
        if (!first) this.emit('reconnected', { username: this.username });
        this.outbox.flush();
      },
      onDisconnected: (reason) => {
        this.checkedPeers.clear();
        this.acks.discard();
        this.emit('disconnected', { reason });
      },
      onDebug: (message, cause) => this.emit('debug', { message, cause }),
    });
    this.outbox = new OutboxSender(options.messages, this.connection, {
      sent: (m) => this.emit('sent', m),
      failed: (f) => this.emit('failed', f),
      debug: (message, cause) => this.emit('debug', { message, cause }),
    });
    this.acks = new AckBatcher(async (batch) => void (await this.connection.call('ack', batch)), options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS);
    const socket = this.connection.socket;
    socket.on('message', (m) => {
      // Opened one at a time so messages are recorded in the order the server routed them.
      this.receiveChain = this.receiveChain.then(() => this.handleIncoming(m));
    });
    socket.on('receipt', (r) => {
      this.receiveChain = this.receiveChain.then(() => this.handleReceipt(r));
    });
    socket.on('presence', (p) => this.emit('presence', p));
  }

  /** Connects, then logs in (or registers on first use). Resolves once authenticated. */
  static async connect(options: ChatClientOptions): Promise<ChatClient> {
    const client = new ChatClient(options);
    await client.connection.open();
    return client;
  }

  /**
   * Starts without waiting for the server: sends wait in the outbox and go out once a connection logs
   * in. For senders that must not fail while the server is down.
   */
  static offline(options: ChatClientOptions): ChatClient {
    const client = new ChatClient(options);
    client.connection.openInBackground();
    return client;
  }

  get connected(): boolean {
    return this.connection.authenticated;
  }

  private ownKeys(): Promise<{ sign: CryptoKey; decrypt: CryptoKey }> {
    this.keysPromise ??= (async () => ({
      sign: await importSigningKey(this.options.identity.keys.signing),
      decrypt: await importEncryptionKey(this.options.identity.keys.encryption),
    }))();
    return this.keysPromise;
  }

  /** The directory's current keys for a user, unchecked. */
  async fetchKeys(username: string): Promise<UserKeys> {
    const { ok: _ok, ...keys } = await this.connection.call<UserKeys>('keys', { username });
    return keys;
  }

  /**
   * The peer's keys, checked against the pin (pinning them on first use). Throws PeerKeyChangedError
   * when the directory's keys differ from the pinned ones.
   */
  async peerKeys(username: string): Promise<PinnedPeer> {
    const cached = this.checkedPeers.get(username);
    if (cached) return cached;
    const pinned = await checkAgainstPin(this.options.peers, await this.fetchKeys(username), Date.now());
    this.checkedPeers.set(username, pinned);
    return pinned;
  }

  /**
   * Accepts the directory's current keys for a peer, replacing the pin. Returns the old and new pins so
   * the caller can show both fingerprints. Clears "verified": the new keys have not been compared.
   */
  async trustPeer(username: string): Promise<{ previous: PinnedPeer | undefined; current: PinnedPeer }> {
    const current = await toPinned(await this.fetchKeys(username), Date.now());
    const previous = await this.options.peers.get(username);
    if (previous && samePeerKeys(previous, current)) return { previous, current: previous };
    await this.options.peers.put(current);
    this.checkedPeers.set(username, current);
    return { previous, current };
  }

  async onlineUsers(): Promise<string[]> {
    return (await this.connection.call<UsersResult>('users', {})).users;
  }

  /**
   * Seals the message and puts it in the persisted outbox. While connected, resolves when the server has
   * stored it (status `sent` or `queued`); while disconnected, resolves at once with status `outbox`
   * (it goes out on reconnect, exactly once). Offline, only a peer whose keys are pinned can be written to.
   */
  async send(to: string, body: string): Promise<SentMessage> {
    const peer = this.connection.authenticated ? await this.peerKeys(to) : await this.pinnedPeer(to);
    const { sign } = await this.ownKeys();
    const id = newMessageId();
    const sentAt = Date.now();
    const { envelope } = await sealHybridEnvelope({
      from: this.username,
      to,
      body,
      id,
      sentAt,
      senderSigningKey: sign,
      recipientEncryptionKey: peer.encryptionKey,
    });
    await this.options.messages.addOutgoing({ id, to, envelope, createdAt: sentAt }, { id, direction: 'out', peer: to, body, sentAt, status: 'outbox' });
    if (!this.connection.authenticated) {
      this.outbox.flush();
      return { id, to, status: 'outbox' };
    }
    const accepted = this.outbox.waitFor(id);
    this.outbox.flush();
    return accepted;
  }

  private async pinnedPeer(username: string): Promise<PinnedPeer> {
    const pinned = await this.options.peers.get(username);
    if (!pinned) throw new ChatError('not_connected', `not connected, and no keys pinned for "${username}" yet`);
    return pinned;
  }

  /** New messages as an async iterator; ends when the client is closed. */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate();
  }

  private async handleIncoming(m: IncomingMessage): Promise<void> {
    try {
      const message = await this.open(m);
      const outcome = await this.options.messages.recordIncoming({
        id: message.id,
        direction: 'in',
        peer: message.from,
        body: message.body,
        sentAt: message.sentAt,
        serverId: message.serverId,
        serverTime: message.receivedAt,
        status: 'received',
      });
      if (outcome === 'new') {
        this.emit('message', message);
        this.inbox.push(message);
      } else {
        // Same id again: a redelivery of the same server envelope is expected after a lost ack; the same
        // signed message inside a different envelope is a replay.
        const earlier = await this.options.messages.get(message.id, 'in');
        if (earlier?.serverId !== m.id) throw new DecryptionFailedError({ cause: new Error(`replayed message id ${message.id}`) });
        this.emit('debug', { message: `redelivery of ${m.id} ignored` });
      }
    } catch (err) {
      const error = err instanceof ChatError ? err : new DecryptionFailedError({ cause: err });
      if (error.cause !== undefined) this.emit('debug', { message: `envelope ${m.id} from ${m.from} rejected`, cause: error.cause });
      this.emit('rejected', { serverId: m.id, from: m.from, error });
    }
    // Stored or judged: either way this device is done with it.
    this.acks.add('ids', m.id);
  }

  private async handleReceipt(r: ReceiptEvent): Promise<void> {
    const record = await this.options.messages.get(r.clientId, 'out');
    if (record && record.status !== 'delivered') {
      await this.options.messages.markDelivered(r.clientId);
      this.emit('delivered', { id: r.clientId, to: r.to, deliveredAt: r.deliveredAt });
    }
    this.acks.add('receipts', r.id);
  }

  private async open(m: IncomingMessage): Promise<ReceivedMessage> {
    if (m.envelope.type !== 'hybrid' || m.to !== this.username) throw new DecryptionFailedError();
    const pinned = await this.options.peers.get(m.from);
    const sender = pinned ?? (await this.peerKeys(m.from));
    const payload = await this.openWith(m, sender).catch(async (err: unknown) => {
      // A failure with a pinned key may mean the sender re-keyed: say so rather than "decryption failed".
      const current = await toPinned(await this.fetchKeys(m.from), Date.now()).catch(() => undefined);
      if (pinned && current && !samePeerKeys(pinned, current)) throw new PeerKeyChangedError(pinned, current);
      throw err;
    });
    return { id: payload.id, serverId: m.id, from: payload.from, to: payload.to, sentAt: payload.sentAt, receivedAt: m.sentAt, body: payload.body };
  }

  private async openWith(m: IncomingMessage, sender: PinnedPeer) {
    const { decrypt } = await this.ownKeys();
    return openHybridEnvelope({
      envelope: m.envelope as HybridEnvelope,
      from: m.from,
      me: this.username,
      recipientDecryptionKey: decrypt,
      senderVerificationKey: sender.signingKey,
    });
  }

  /** Finishes what was received, sends the pending acknowledgements, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.receiveChain;
    if (this.connection.authenticated) await this.acks.flush();
    this.connection.close();
    this.inbox.end();
  }
}
