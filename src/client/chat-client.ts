/**
 * The client library: connect, register or log in, pin peers' keys, send and receive hybrid envelopes.
 * The CLI commands are thin shells over this class. Runtime-neutral: socket.io-client, jose and
 * WebCrypto only, stores injected.
 */
import { io, type Socket } from 'socket.io-client';
import { base64urlDecode, base64urlEncode } from '../crypto/bytes.js';
import { ed25519Sign } from '../crypto/ed25519.js';
import { ed25519PublicOf, jwkThumbprint, rsaPublicOf, type UserKeyPairs } from '../crypto/keys.js';
import { importEncryptionKey, importSigningKey, openHybridEnvelope, sealHybridEnvelope } from '../e2ee/hybrid-envelope.js';
import { loginMessage, registerMessage } from '../protocol/auth-message.js';
import { ChatError, DecryptionFailedError, type ErrorCode } from '../protocol/errors.js';
import type {
  Ack,
  ChallengeResult,
  IncomingMessage,
  PresenceEvent,
  SendResult,
  ServerToClientEvents,
  SessionResult,
  UserKeys,
  UsersResult,
} from '../protocol/events.js';
import { DEFAULT_ACK_TIMEOUT_MS } from '../protocol/limits.js';
import type { HybridEnvelope } from '../protocol/schemas.js';
import { TypedEmitter } from './emitter.js';
import { MessageQueue } from './message-queue.js';
import { PeerKeyChangedError, checkAgainstPin, samePeerKeys, toPinned } from './peer-keys.js';
import type { PeerKeyStore, PinnedPeer, SeenIdStore } from './stores.js';

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
  /** The server's clock at routing time. */
  receivedAt: number;
  body: string;
}

export interface RejectedMessage {
  serverId: string;
  from: string;
  error: ChatError;
}

export interface ChatClientEvents {
  message: ReceivedMessage;
  /** An envelope that could not be opened (decryption_failed) or whose sender's keys changed. */
  rejected: RejectedMessage;
  presence: PresenceEvent;
  /** The connection dropped (the underlying socket reconnects by itself and logs in again). */
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
  seen: SeenIdStore;
  ackTimeoutMs?: number;
  /** Passed to socket.io-client (e.g. transports). */
  socketOptions?: Parameters<typeof io>[1];
}

export interface SentMessage {
  id: string;
  serverId: string;
  sentAt: number;
  status: SendResult['status'];
}

function fail(error: { code: ErrorCode; message: string }): never {
  throw new ChatError(error.code, error.message);
}

export class ChatClient extends TypedEmitter<ChatClientEvents> {
  readonly username: string;
  private readonly socket: Socket<ServerToClientEvents>;
  private readonly options: ChatClientOptions;
  private readonly ackTimeoutMs: number;
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
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    this.socket = io(options.url, { autoConnect: false, reconnection: true, ...options.socketOptions });
    this.socket.on('message', (m) => {
      // Opened one at a time so messages are shown in the order the server routed them.
      this.receiveChain = this.receiveChain.then(() => this.handleIncoming(m));
    });
    this.socket.on('presence', (p) => this.emit('presence', p));
    this.socket.on('disconnect', (reason) => {
      this.checkedPeers.clear();
      if (!this.closed) this.emit('disconnected', { reason });
    });
  }

  /** Connects, then logs in (or registers on first use). Resolves once authenticated. */
  static async connect(options: ChatClientOptions): Promise<ChatClient> {
    const client = new ChatClient(options);
    await client.start();
    return client;
  }

  private async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        this.socket.off('connect', onConnect);
        this.socket.disconnect();
        reject(new ChatError('not_connected', `cannot reach the server at ${this.options.url}: ${err.message}`, { cause: err }));
      };
      const onConnect = () => {
        this.socket.off('connect_error', onError);
        resolve();
      };
      this.socket.once('connect', onConnect);
      this.socket.once('connect_error', onError);
      this.socket.connect();
    });
    await this.authenticate();
    // Every later connect is a reconnect: prove identity again on the new connection.
    this.socket.on('connect', () => {
      this.authenticate().then(
        () => this.emit('reconnected', { username: this.username }),
        (cause) => this.emit('debug', { message: 'login after reconnect failed', cause }),
      );
    });
  }

  private async call<T extends object>(event: string, payload: object): Promise<{ ok: true } & T> {
    if (!this.socket.connected) throw new ChatError('not_connected', 'not connected to the server');
    let ack: Ack<T>;
    try {
      // Acks are checked against Ack<T> by shape below; the untyped socket view carries any event name.
      ack = await (this.socket as unknown as Socket).timeout(this.ackTimeoutMs).emitWithAck(event, payload);
    } catch (cause) {
      throw new ChatError('timeout', `the server did not answer "${event}" within ${this.ackTimeoutMs} ms`, { cause });
    }
    if (!ack.ok) fail(ack.error);
    return ack;
  }

  private async authenticate(): Promise<SessionResult> {
    const { identity } = this.options;
    const secret = base64urlDecode(identity.keys.signing.d);
    const { challenge } = await this.call<ChallengeResult>('challenge', {});
    const loginSig = ed25519Sign(loginMessage({ challenge, username: identity.username }), secret);
    try {
      return await this.call<SessionResult>('login', { username: identity.username, signature: base64urlEncode(loginSig) });
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'unknown_user') throw err;
    }
    // First use of this name: register our public keys, proving we hold the signing key.
    const signingKey = ed25519PublicOf(identity.keys.signing);
    const encryptionKey = rsaPublicOf(identity.keys.encryption);
    const next = await this.call<ChallengeResult>('challenge', {});
    const message = registerMessage({
      challenge: next.challenge,
      username: identity.username,
      signingKeyThumbprint: await jwkThumbprint(signingKey),
      encryptionKeyThumbprint: await jwkThumbprint(encryptionKey),
    });
    return this.call<SessionResult>('register', {
      username: identity.username,
      signingKey,
      encryptionKey,
      signature: base64urlEncode(ed25519Sign(message, secret)),
    });
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
    const { ok: _ok, ...keys } = await this.call<UserKeys>('keys', { username });
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
    return (await this.call<UsersResult>('users', {})).users;
  }

  async send(to: string, body: string): Promise<SentMessage> {
    const peer = await this.peerKeys(to);
    const { sign } = await this.ownKeys();
    const { envelope, payload } = await sealHybridEnvelope({
      from: this.username,
      to,
      body,
      senderSigningKey: sign,
      recipientEncryptionKey: peer.encryptionKey,
    });
    const result = await this.call<SendResult>('send', { to, envelope });
    return { id: payload.id, serverId: result.id, sentAt: result.sentAt, status: result.status };
  }

  /** Messages as an async iterator; ends when the client is closed. */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate();
  }

  private async handleIncoming(m: IncomingMessage): Promise<void> {
    try {
      const message = await this.open(m);
      this.emit('message', message);
      this.inbox.push(message);
    } catch (err) {
      const error = err instanceof ChatError ? err : new DecryptionFailedError({ cause: err });
      if (error.cause !== undefined) this.emit('debug', { message: `envelope ${m.id} from ${m.from} rejected`, cause: error.cause });
      this.emit('rejected', { serverId: m.id, from: m.from, error });
    }
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
    if (await this.options.seen.has(payload.id)) {
      throw new DecryptionFailedError({ cause: new Error(`replayed message id ${payload.id}`) });
    }
    await this.options.seen.add(payload.id);
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

  /** Waits for messages already received to be processed, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.receiveChain;
    this.socket.disconnect();
    this.inbox.end();
  }
}
