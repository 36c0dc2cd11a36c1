/**
 * The client library: connect, register or log in, pin peers' keys, send through a persisted outbox,
 * receive with exactly-once display, acknowledge, and learn of deliveries. The CLI commands are thin
 * shells over this class. Runtime-neutral: socket.io-client, jose and WebCrypto only, stores injected.
 */
import { base64urlDecode, constantTimeEqual } from '../crypto/bytes.js';
import type { UserKeyPairs } from '../crypto/keys.js';
import type { MessagePayload } from '../e2ee/message-payload.js';
import { importEncryptionKey, importSigningKey, newMessageId, sealHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import { ChatError } from '../protocol/errors.js';
import type { PresenceEvent, SessionResult, UserKeys, UsersResult } from '../protocol/events.js';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../protocol/limits.js';
import type { PreKeyBundleWire } from '../protocol/prekey-schemas.js';
import { AckBatcher } from './ack-batcher.js';
import { TypedEmitter } from './emitter.js';
import { Inbound, signingKeyOf, type ReceivedMessage, type RejectedMessage, type UnreadableReceipt } from './inbound.js';
import { MessageQueue } from './message-queue.js';
import { OutboxSender, type SentMessage } from './outbox-sender.js';
import type { PreKeyBundle } from '../e2ee/pqxdh/bundle.js';
import { bindKeysAnswer, checkAgainstPin, samePeerKeys, toPinned } from './peer-keys.js';
import { bundleFromWire, PreKeyPublisher } from './prekey-publisher.js';
import type { RatchetStore } from './ratchet-store.js';
import { checkEnvelopeSize, SessionManager } from './session-manager.js';
import { ServerConnection, type ConnectionOptions } from './server-connection.js';
import type { HistoryRecord, MessageStore, PeerKeyStore, PinnedPeer } from './stores.js';

export type { SentMessage } from './outbox-sender.js';

/** What the user was shown before accepting a peer's keys: the keys themselves, or their fingerprints. */
export type SeenKeys = UserKeys | Pick<PinnedPeer, 'signingKeyThumbprint' | 'encryptionKeyThumbprint'>;

export interface ClientIdentity {
  username: string;
  keys: UserKeyPairs;
}

export type { ReceivedMessage, RejectedMessage, UnreadableReceipt } from './inbound.js';

export interface ChatClientEvents {
  /** A new message, already recorded in the message store: emitted once per message id, ever. */
  message: ReceivedMessage;
  /**
   * An incoming envelope that could not be read, already recorded in the message store as an unreadable
   * record (`recordId`, undisplayed): emitted once per envelope. The sender gets an unreadable receipt.
   */
  rejected: RejectedMessage;
  /** The server accepted an outgoing message (status sent: pushed to a connected device; queued). */
  sent: SentMessage;
  /** A device of the recipient stored an outgoing message (delivery receipt). */
  delivered: { id: string; to: string; deliveredAt: number };
  /** A device of the recipient could not read an outgoing message (unreadable receipt, with the reason). */
  unreadable: UnreadableReceipt;
  /** An outgoing message will not go out (refused for good, or kept failing): marked failed in the outbox and history. */
  failed: { id: string; to: string; error: ChatError };
  presence: PresenceEvent;
  /** The connection dropped; it reconnects by itself, with backoff, and logs in again. */
  disconnected: { reason: string };
  /** Logged in again after a reconnect. */
  reconnected: { username: string };
  /**
   * The user accepted keys for a peer (trustPeer): the pin now holds `current`. Messages kept sealed
   * while that peer's keys were refused can be opened from here.
   */
  trusted: { username: string; previous: PinnedPeer | undefined; current: PinnedPeer };
  /** Debug detail that must not reach end users (e.g. which decryption check failed). */
  debug: { message: string; cause?: unknown };
}

interface ChatClientCommonOptions {
  url: string;
  identity: ClientIdentity;
  peers: PeerKeyStore;
  messages: MessageStore;
  ackTimeoutMs?: number;
  /** How long received ids wait to be acknowledged in one batch. */
  ackDelayMs?: number;
  reconnect?: ConnectionOptions['reconnect'];
  /** Register the name at login if the server does not know it (default true); see ConnectionOptions. */
  register?: boolean;
  /** Passed to socket.io-client (e.g. transports). */
  socketOptions?: ConnectionOptions['socketOptions'];
}

/**
 * How messages are sent: 'ratchet' (the default: PQXDH + Double Ratchet sessions, forward secret) or
 * 'hybrid' (the seed's envelope, no forward secrecy). Ratchet mode needs a RatchetStore for sessions and
 * prekeys: a durable one (SqliteRatchetStore on Node) unless losing every session with the process is
 * acceptable (MemoryRatchetStore, for tests and throwaway clients). A hybrid client given a store still
 * publishes prekeys and opens ratchet envelopes.
 */
export type ChatClientOptions = ChatClientCommonOptions &
  ({ mode?: 'ratchet'; ratchet: RatchetStore } | { mode: 'hybrid'; ratchet?: RatchetStore });

/**
 * The envelope cap a login answer announces, if it is believable: within the range a server can be
 * configured with (1 KiB to 16 MiB). Anything else (absent, from servers before 0.2, or a lie) means
 * the protocol's default: a lying server can refuse or drop messages anyway, but not make us build
 * envelopes the transport would choke on or refuse every message.
 */
function envelopeLimitOf(session: SessionResult): number {
  const limit = (session as { limits?: { maxEnvelopeBytes?: unknown } }).limits?.maxEnvelopeBytes;
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 1024 && limit <= 16 * 1024 * 1024 ? limit : DEFAULT_MAX_ENVELOPE_BYTES;
}

/** Acks wait this long to be batched: short enough that redelivery after a crash stays small. */
export const DEFAULT_ACK_DELAY_MS = 20;

export class ChatClient extends TypedEmitter<ChatClientEvents> {
  readonly username: string;
  readonly mode: 'ratchet' | 'hybrid';
  private readonly options: ChatClientOptions;
  private readonly sessions: SessionManager | null;
  private readonly preKeys: PreKeyPublisher | null;
  /** The prekey upload of the latest login; `connect` waits for it so peers can start sessions at once. */
  private preKeysPublished: Promise<void> = Promise.resolve();
  private readonly connection: ServerConnection;
  private readonly outbox: OutboxSender;
  private readonly acks: AckBatcher;
  private readonly inbox = new MessageQueue<ReceivedMessage>();
  /** Peers whose directory keys were checked against the pin on this connection. */
  private readonly checkedPeers = new Map<string, PinnedPeer>();
  private receiveChain: Promise<void> = Promise.resolve();
  private sendOrder: Promise<unknown> = Promise.resolve();
  private keysPromise: Promise<{ sign: CryptoKey; decrypt: CryptoKey }> | null = null;
  private closed = false;
  private readonly inbound: Inbound;
  /** The server's envelope cap from its latest login answer (servers before 0.2 do not say: the default). */
  private maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES;

  private constructor(options: ChatClientOptions) {
    super();
    this.options = options;
    this.username = options.identity.username;
    this.mode = options.mode ?? 'ratchet';
    const ratchetStore = options.ratchet;
    // Checked at run time too, for callers without TypeScript: a silent in-memory default would lose sessions.
    if (this.mode === 'ratchet' && !ratchetStore) {
      throw new TypeError('ChatClient: ratchet mode (the default) needs a `ratchet` store, e.g. SqliteRatchetStore or MemoryRatchetStore');
    }
    this.connection = new ServerConnection(options, {
      onAuthenticated: (first, session) => {
        this.maxEnvelopeBytes = envelopeLimitOf(session);
        if (!first) this.emit('reconnected', { username: this.username });
        this.preKeysPublished = this.publishPreKeys();
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
    }, () => this.maxEnvelopeBytes);
    const signingSecretKey = base64urlDecode(options.identity.keys.signing.d);
    this.sessions = ratchetStore
      ? new SessionManager({
          store: ratchetStore,
          signingSecretKey,
          fetchBundle: (peer) => this.fetchBundle(peer),
          onPreKeysConsumed: () => void this.publishPreKeys(),
        })
      : null;
    const sessions = this.sessions;
    this.preKeys = ratchetStore && sessions ? new PreKeyPublisher(ratchetStore, signingSecretKey, this.connection, (work) => sessions.withKeysLocked(work)) : null;
    this.acks = new AckBatcher(async (batch) => void (await this.connection.call('ack', batch)), options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS);
    const inbound = (this.inbound = new Inbound({
      username: this.username,
      messages: options.messages,
      peers: options.peers,
      sessions: this.sessions,
      acks: this.acks,
      peerKeys: (u) => this.peerKeys(u),
      fetchKeys: (u) => this.fetchKeys(u),
      decryptionKey: async () => (await this.ownKeys()).decrypt,
      onMessage: (m) => {
        this.emit('message', m);
        this.inbox.push(m);
      },
      onRejected: (r) => this.emit('rejected', r),
      onDelivered: (d) => this.emit('delivered', d),
      onUnreadable: (u) => this.emit('unreadable', u),
      onDebug: (message, cause) => this.emit('debug', { message, cause }),
    }));
    // Every frame is parsed by its schema first (a malformed one is a debug event, and ignored). Then
    // one at a time, in the order the server routed them: messages are recorded and shown in that order.
    this.connection.onEvent('message', (m) => this.inOrder(`message ${m.id}`, () => inbound.message(m)));
    this.connection.onEvent('receipt', (r) => this.inOrder(`receipt ${r.id}`, () => inbound.receipt(r)));
    this.connection.onEvent('presence', (p) => this.emit('presence', p));
    this.connection.onEvent('protocol_error', (e) =>
      this.emit('debug', { message: `the server refused an event sent without an ack ("${e.event}")`, cause: new ChatError(e.error.code, e.error.message) }),
    );
    // Bundle fetches ran our one-time prekeys low: refill now, not at the next login. The payload is not
    // needed (publishPreKeys asks the server for its counts), so its content changes nothing.
    this.connection.onEvent('prekeys.low', () => void this.publishPreKeys());
  }

  /** Runs inbound work after everything received before it; a failure is reported and never stops the chain. */
  private inOrder(what: string, work: () => Promise<void>): void {
    this.receiveChain = this.receiveChain.then(work).catch((cause: unknown) => this.emit('debug', { message: `handling ${what} failed`, cause }));
  }

  /** Connects, then logs in (or registers on first use). Resolves once authenticated. */
  static async connect(options: ChatClientOptions): Promise<ChatClient> {
    const client = new ChatClient(options);
    await client.connection.open();
    await client.preKeysPublished;
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

  /** Uploads or refills this user's prekeys; failures are reported as debug events, never thrown. */
  private async publishPreKeys(): Promise<void> {
    if (!this.preKeys || !this.connection.authenticated) return;
    try {
      await this.preKeys.maintain();
    } catch (cause) {
      this.emit('debug', { message: 'prekey upload failed', cause });
    }
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

  /** The directory's current keys for a user, not checked against the pin (but they are `username`'s). */
  async fetchKeys(username: string): Promise<UserKeys> {
    const { ok: _ok, ...keys } = await this.connection.call<UserKeys>('keys', { username });
    return bindKeysAnswer(username, keys);
  }

  /**
   * A prekey bundle for `peer`, bound to the question: it must name `peer` and carry the identity key
   * pinned for `peer` (pinning on first use), so a server cannot slip in another user's bundle.
   */
  private async fetchBundle(peer: string): Promise<PreKeyBundle> {
    const wire = await this.connection.call<PreKeyBundleWire>('prekeys.bundle', { username: peer });
    if (wire.username !== peer) throw new ChatError('bad_response', `the server answered a request for the prekeys of "${peer}" with those of "${wire.username}"`);
    const bundle = bundleFromWire(wire);
    const pinned = await this.peerKeys(peer);
    if (!constantTimeEqual(bundle.identity.signingKey, signingKeyOf(pinned))) {
      throw new ChatError('bad_response', `the server's prekey bundle for "${peer}" is signed by another identity key than the one pinned for "${peer}"`);
    }
    return bundle;
  }

  /**
   * The peer's keys, checked against the pin (pinning them on first use). Throws PeerKeyChangedError
   * when the directory's keys differ from the pinned ones.
   */
  async peerKeys(username: string): Promise<PinnedPeer> {
    const cached = this.checkedPeers.get(username);
    if (cached) return cached;
    const pinned = await checkAgainstPin(this.options.peers, username, await this.fetchKeys(username), Date.now());
    this.checkedPeers.set(username, pinned);
    return pinned;
  }

  /**
   * Accepts keys for a peer, replacing the pin: exactly the keys the user was shown (`seen`, as returned
   * by fetchKeys), or, given only their fingerprints, the directory's current keys if and only if they
   * have those fingerprints. Never a second answer the user did not see. Returns the old and new pins so
   * the caller can show both fingerprints. The new pin is unverified unless `verified` says the user
   * compared the safety number (e.g. `trust --expect`). Emits 'trusted' once the pin is saved.
   */
  async trustPeer(username: string, seen: SeenKeys, options: { verified?: boolean } = {}): Promise<{ previous: PinnedPeer | undefined; current: PinnedPeer }> {
    const now = Date.now();
    let current: PinnedPeer;
    if ('signingKey' in seen) {
      current = await toPinned(bindKeysAnswer(username, seen), now);
    } else {
      current = await toPinned(await this.fetchKeys(username), now);
      if (!samePeerKeys(current, seen)) {
        throw new ChatError('peer_key_changed', `the server's keys for "${username}" are not the ones shown (their fingerprints differ); nothing was pinned`);
      }
    }
    current.verified = options.verified ?? false;
    const previous = await this.options.peers.get(username);
    if (previous && samePeerKeys(previous, current)) {
      // Same keys: keep the original pin (and its date); only a new verification is recorded.
      current = previous.verified || !current.verified ? previous : { ...previous, verified: true };
      if (current !== previous) await this.options.peers.put(current);
    } else {
      await this.options.peers.put(current);
    }
    this.checkedPeers.set(username, current);
    await this.openHeld(username);
    this.emit('trusted', { username, previous, current });
    return { previous, current };
  }

  /**
   * Opens the messages from `peer` that were kept sealed because their keys had changed, oldest first and
   * each once, now that the user trusts the pinned keys: they are recorded and emitted like new messages.
   * Runs in the receive chain, so it never interleaves with live deliveries. Returns how many opened.
   */
  openHeld(peer: string): Promise<number> {
    const run = this.receiveChain.then(() => this.inbound.openHeld(peer));
    this.receiveChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
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
    // Sealing is asynchronous (crypto on a thread pool): chained, so the outbox gets messages in call order.
    const queued = this.sendOrder.then(() => this.sealIntoOutbox(to, body));
    this.sendOrder = queued.catch(() => undefined);
    const id = await queued;
    if (!this.connection.authenticated) {
      this.outbox.flush();
      return { id, to, status: 'outbox' };
    }
    const accepted = this.outbox.waitFor(id);
    this.outbox.flush();
    return accepted;
  }

  /** Seals the message for `to` and puts it in the outbox (with its history record); returns its id. */
  private async sealIntoOutbox(to: string, body: string): Promise<string> {
    // The recipient's client refuses notes to self as unsupported: refuse them here, before any key work.
    if (to === this.username) throw new ChatError('bad_request', 'notes to self are not supported: the recipient must be another user');
    const peer = this.connection.authenticated ? await this.peerKeys(to) : await this.pinnedPeer(to);
    const id = newMessageId();
    const sentAt = Date.now();
    const record = { id, direction: 'out', peer: to, body, sentAt, status: 'outbox' } as const;
    if (this.mode === 'ratchet') {
      const payload: MessagePayload = { v: 1, from: this.username, to, id, sentAt, body };
      await this.sessions!.seal(to, signingKeyOf(peer), payload, this.connection.authenticated, this.maxEnvelopeBytes, (envelope) =>
        this.options.messages.addOutgoing({ id, to, envelope, createdAt: sentAt }, record),
      );
    } else {
      await this.sealHybrid(to, body, id, sentAt, peer, record);
    }
    return id;
  }

  private async sealHybrid(to: string, body: string, id: string, sentAt: number, peer: PinnedPeer, record: HistoryRecord): Promise<void> {
    const { sign } = await this.ownKeys();
    const { envelope } = await sealHybridEnvelope({
      from: this.username,
      to,
      body,
      id,
      sentAt,
      senderSigningKey: sign,
      recipientEncryptionKey: peer.encryptionKey,
    });
    checkEnvelopeSize(envelope, this.maxEnvelopeBytes);
    await this.options.messages.addOutgoing({ id, to, envelope, createdAt: sentAt }, record);
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
