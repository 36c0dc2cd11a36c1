/**
 * The client library: connect, register or log in, pin peers' keys, send through a persisted outbox,
 * receive with exactly-once display, acknowledge, and learn of deliveries. The CLI commands are thin
 * shells over this class. Runtime-neutral: socket.io-client, jose and WebCrypto only, stores injected.
 *
 * A facade: it wires the parts together and turns their callbacks into events. The parts:
 * ServerConnection (login, calls, schema-checked events), PeerDirectory (keys bound to their question,
 * pins), MessageSealer and OutboxSender (sending), ReceiveLoop and Inbound (receiving), SessionManager
 * and PreKeyPublisher (ratchet sessions and prekeys). Listeners are isolated (TypedEmitter): one that
 * throws is reported as a debug event and changes nothing for the client or the other listeners.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { importEncryptionKey } from '../e2ee/hybrid-envelope.js';
import { ChatError } from '../protocol/errors.js';
import type { SessionResult, UserKeys } from '../protocol/events.js';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../protocol/limits.js';
import type { ChatClientEvents, ChatClientOptions } from './chat-client-types.js';
import { TypedEmitter } from './emitter.js';
import type { ReceivedMessage } from './inbound.js';
import { MessageQueue } from './message-queue.js';
import { MessageSealer } from './message-sealer.js';
import { OutboxSender, type SentMessage } from './outbox-sender.js';
import { PeerDirectory, type SeenKeys } from './peer-directory.js';
import { PreKeyPublisher } from './prekey-publisher.js';
import { ReadReceiptSender } from './read-receipts.js';
import { ReceiveLoop, type CaughtUp } from './receive-loop.js';
import { SessionManager } from './session-manager.js';
import { ServerConnection } from './server-connection.js';
import type { PinnedPeer } from './stores.js';

export type { ChatClientEvents, ChatClientOptions, ClientIdentity } from './chat-client-types.js';
export type { ReadReceipt, ReceivedMessage, RejectedMessage, UnreadableReceipt } from './inbound.js';
export type { SentMessage } from './outbox-sender.js';
export type { SeenKeys } from './peer-directory.js';
export type { CaughtUp } from './receive-loop.js';

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
  private readonly connection: ServerConnection;
  private readonly directory: PeerDirectory;
  private readonly sessions: SessionManager | null;
  private readonly preKeys: PreKeyPublisher | null;
  /** The prekey upload of the latest login; `connect` waits for it so peers can start sessions at once. */
  private preKeysPublished: Promise<void> = Promise.resolve();
  private readonly sealer: MessageSealer;
  private readonly outbox: OutboxSender;
  private readonly receiver: ReceiveLoop;
  private readonly inbox = new MessageQueue<ReceivedMessage>();
  /** Read receipts going out; null when they are off. */
  private readonly readReceipts: ReadReceiptSender | null;
  private closed = false;
  /** Settles at the first `caughtUp` since this client was made (see caughtUp()). */
  private readonly firstCaughtUp: Promise<CaughtUp>;
  private markCaughtUp!: (c: CaughtUp) => void;
  /** The server's envelope cap from its latest login answer (servers before 0.2 do not say: the default). */
  private maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES;

  private constructor(options: ChatClientOptions) {
    // A listener that throws is reported here; a throwing debug listener has nowhere left to be reported.
    super((event, cause) => {
      if (event !== 'debug') this.emit('debug', { message: `a "${event}" listener threw; the client went on`, cause });
    });
    this.username = options.identity.username;
    this.firstCaughtUp = new Promise((resolve) => (this.markCaughtUp = resolve));
    this.mode = options.mode ?? 'ratchet';
    const ratchetStore = options.ratchet;
    // Checked at run time too, for callers without TypeScript: a silent in-memory default would lose sessions.
    if (this.mode === 'ratchet' && !ratchetStore) {
      throw new TypeError('ChatClient: ratchet mode (the default) needs a `ratchet` store, e.g. SqliteRatchetStore or MemoryRatchetStore');
    }
    const debug = (message: string, cause?: unknown) => this.emit('debug', { message, cause });
    this.connection = new ServerConnection(options, {
      onAuthenticated: (first, session) => {
        this.maxEnvelopeBytes = envelopeLimitOf(session);
        if (!first) this.emit('reconnected', { username: this.username });
        this.preKeysPublished = this.publishPreKeys();
        this.outbox.flush();
      },
      onDisconnected: (reason) => {
        this.directory.forgetChecked();
        this.receiver.connectionLost();
        this.emit('disconnected', { reason });
      },
      onDebug: debug,
    });
    const directory = (this.directory = new PeerDirectory(this.connection, options.peers));
    const signingSecretKey = base64urlDecode(options.identity.keys.signing.d);
    const sessions = (this.sessions = ratchetStore
      ? new SessionManager({
          store: ratchetStore,
          signingSecretKey,
          fetchBundle: (peer) => directory.fetchBundle(peer),
          onPreKeysConsumed: () => void this.publishPreKeys(),
        })
      : null);
    this.preKeys = ratchetStore && sessions ? new PreKeyPublisher(ratchetStore, signingSecretKey, this.connection, (work) => sessions.withKeysLocked(work)) : null;
    this.sealer = new MessageSealer({
      username: this.username,
      sessions: this.mode === 'ratchet' ? sessions : null,
      messages: options.messages,
      directory,
      signingKey: options.identity.keys.signing,
      online: () => this.connection.authenticated,
      maxEnvelopeBytes: () => this.maxEnvelopeBytes,
    });
    this.outbox = new OutboxSender(options.messages, this.connection, {
      sent: (m) => this.emit('sent', m),
      failed: (f) => this.emit('failed', f),
      debug,
    }, () => this.maxEnvelopeBytes);
    this.readReceipts =
      options.readReceipts === false
        ? null
        : new ReadReceiptSender({
            seal: async (to, receipt) => {
              const id = await this.sealer.seal(to, '', receipt);
              this.outbox.flush();
              return id;
            },
            debug,
          });
    let decryptionKey: Promise<CryptoKey> | undefined;
    this.receiver = new ReceiveLoop(
      this.connection,
      {
        username: this.username,
        messages: options.messages,
        peers: options.peers,
        sessions,
        peerKeys: (u) => directory.peerKeys(u),
        fetchKeys: (u) => directory.fetchKeys(u),
        decryptionKey: () => (decryptionKey ??= importEncryptionKey(options.identity.keys.encryption)),
        onMessage: (m) => {
          this.emit('message', m);
          this.inbox.push(m);
        },
        onRejected: (r) => this.emit('rejected', r),
        onDelivered: (d) => this.emit('delivered', d),
        onUnreadable: (u) => this.emit('unreadable', u),
        onRead: (r) => this.emit('read', r),
        onCaughtUp: (c) => {
          this.markCaughtUp(c);
          this.emit('caughtUp', c);
        },
        onDebug: debug,
      },
      options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS,
    );
    this.connection.onEvent('presence', (p) => this.emit('presence', p));
    this.connection.onEvent('protocol_error', (e) =>
      debug(`the server refused an event sent without an ack ("${e.event}")`, new ChatError(e.error.code, e.error.message)),
    );
    // Bundle fetches ran our one-time prekeys low: refill now, not at the next login. The payload is not
    // needed (publishPreKeys asks the server for its counts), so its content changes nothing.
    this.connection.onEvent('prekeys.low', () => void this.publishPreKeys());
  }

  /**
   * Connects, then logs in (or registers on first use). Resolves once authenticated. `listen` is called
   * with the client before it connects: the backlog is handled while the login completes, so listeners
   * added only after this resolves can miss its events (a backlog's read receipts, owed server receipts,
   * caughtUp). Messages are never lost that way (they are stored, and MessageStore.undisplayed has them).
   */
  static async connect(options: ChatClientOptions, listen?: (client: ChatClient) => void): Promise<ChatClient> {
    const client = new ChatClient(options);
    listen?.(client);
    await client.connection.open();
    await client.preKeysPublished;
    return client;
  }

  /**
   * Starts without waiting for the server: sends wait in the outbox and go out once a connection logs
   * in. For senders that must not fail while the server is down.
   */
  static offline(options: ChatClientOptions, listen?: (client: ChatClient) => void): ChatClient {
    const client = new ChatClient(options);
    listen?.(client);
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

  /** The directory's current keys for a user, not checked against the pin (but they are `username`'s). */
  fetchKeys(username: string): Promise<UserKeys> {
    return this.directory.fetchKeys(username);
  }

  /**
   * The peer's keys, checked against the pin (pinning them on first use). Throws PeerKeyChangedError
   * when the directory's keys differ from the pinned ones.
   */
  peerKeys(username: string): Promise<PinnedPeer> {
    return this.directory.peerKeys(username);
  }

  /**
   * Accepts keys for a peer, replacing the pin: exactly the keys the user was shown (`seen`, as returned
   * by fetchKeys), or, given only their fingerprints, the directory's current keys if and only if they
   * have those fingerprints. Never a second answer the user did not see. Returns the old and new pins so
   * the caller can show both fingerprints. The new pin is unverified unless `verified` says the user
   * compared the safety number (e.g. `trust --expect`). Opens the messages held from that peer, then
   * emits 'trusted'.
   */
  async trustPeer(username: string, seen: SeenKeys, options: { verified?: boolean } = {}): Promise<{ previous: PinnedPeer | undefined; current: PinnedPeer }> {
    const { previous, current } = await this.directory.trust(username, seen, options.verified ?? false);
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
    return this.receiver.openHeld(peer);
  }

  async onlineUsers(): Promise<string[]> {
    return (await this.connection.call('users', {})).users;
  }

  /**
   * Seals the message and puts it in the persisted outbox. While connected, resolves when the server has
   * stored it (status `sent` or `queued`); while disconnected, resolves at once with status `outbox`
   * (it goes out on reconnect, exactly once). Offline, only a peer whose keys are pinned can be written to.
   */
  async send(to: string, body: string): Promise<SentMessage> {
    const id = await this.sealer.seal(to, body);
    if (!this.connection.authenticated) {
      this.outbox.flush();
      return { id, to, status: 'outbox' };
    }
    const accepted = this.outbox.waitFor(id);
    this.outbox.flush();
    return accepted;
  }

  /**
   * The user has been shown these messages from `sender` (their ids as emitted in 'message', or of
   * stored records): tells `sender`, in a read receipt sent shortly after (several calls share one), unless
   * read receipts are off. Call it only for what a person was shown.
   */
  markRead(sender: string, ids: readonly string[]): void {
    if (sender === this.username || this.closed) return;
    this.readReceipts?.add(sender, ids);
  }

  /**
   * New messages as an async iterator, from the first call on (nothing is buffered before it); ends when
   * the client is closed.
   */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate();
  }

  /**
   * Resolves once the server has said, for the first time since this client was made, that the backlog
   * of a login was pushed, and every message pushed before it has been handled and emitted (see the
   * 'caughtUp' event). The server's word only; it may never come (an older server, or a lying one), so
   * a caller that must end bounds the wait itself.
   */
  caughtUp(): Promise<CaughtUp> {
    return this.firstCaughtUp;
  }

  /**
   * Finishes what was received, sends the pending read receipts and acknowledgements (while connected),
   * then disconnects. Receipts that cannot go out now stay in the outbox for the next run.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.receiver.finish();
    if (this.readReceipts) {
      await this.readReceipts.flush();
      if (this.connection.authenticated) this.outbox.flush();
      await this.outbox.idle();
    }
    this.connection.close();
    this.inbox.end();
  }
}
