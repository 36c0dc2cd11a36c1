/**
 * The client's link to the server: one Socket.IO connection that reconnects by itself with exponential
 * backoff and jitter, and proves the user's identity again on every new connection (a reconnect is a
 * new connection with a new challenge).
 */
import { io, type Socket } from 'socket.io-client';
import { base64urlDecode, base64urlEncode } from '../crypto/bytes.js';
import { ed25519Sign } from '../crypto/ed25519.js';
import { ed25519PublicOf, jwkThumbprint, rsaPublicOf, type UserKeyPairs } from '../crypto/keys.js';
import { loginMessage, registerMessage } from '../protocol/auth-message.js';
import { ChatError } from '../protocol/errors.js';
import type { Ack, ChallengeResult, ServerToClientEvents, SessionResult } from '../protocol/events.js';
import { DEFAULT_ACK_TIMEOUT_MS } from '../protocol/limits.js';

/** Backoff between reconnection attempts: doubles from the initial delay up to the maximum, ± jitter. */
export const RECONNECT_DEFAULTS = { initialDelayMs: 250, maxDelayMs: 10_000, jitter: 0.5 } as const;

export interface ConnectionOptions {
  url: string;
  identity: { username: string; keys: UserKeyPairs };
  ackTimeoutMs?: number;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; jitter?: number };
  socketOptions?: Parameters<typeof io>[1];
}

export interface ConnectionCallbacks {
  /** Logged in on a connection (the first, or after a reconnect), with the server's answer. */
  onAuthenticated(first: boolean, session: SessionResult): void;
  onDisconnected(reason: string): void;
  onDebug(message: string, cause?: unknown): void;
}

export class ServerConnection {
  readonly socket: Socket<ServerToClientEvents>;
  private readonly ackTimeoutMs: number;
  private authenticatedNow = false;
  private everAuthenticated = false;
  private closed = false;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly callbacks: ConnectionCallbacks,
  ) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const backoff = { ...RECONNECT_DEFAULTS, ...options.reconnect };
    this.socket = io(options.url, {
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: backoff.initialDelayMs,
      reconnectionDelayMax: backoff.maxDelayMs,
      randomizationFactor: backoff.jitter,
      ...options.socketOptions,
    });
    this.socket.on('connect', () => void this.login());
    this.socket.on('disconnect', (reason) => {
      this.authenticatedNow = false;
      if (!this.closed) this.callbacks.onDisconnected(reason);
    });
  }

  get authenticated(): boolean {
    return this.authenticatedNow;
  }

  /** Opens the connection and resolves once logged in; rejects if the server cannot be reached. */
  open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.socket.off('connect_error', onError);
        this.firstLogin = null;
      };
      const onError = (err: Error) => {
        cleanup();
        this.socket.disconnect();
        reject(new ChatError('not_connected', `cannot reach the server at ${this.options.url}: ${err.message}`, { cause: err }));
      };
      this.firstLogin = {
        resolve: () => (cleanup(), resolve()),
        reject: (err) => (cleanup(), this.socket.disconnect(), reject(err)),
      };
      this.socket.once('connect_error', onError);
      this.socket.connect();
    });
  }

  /** Opens the connection in the background: it keeps trying until the server answers. */
  openInBackground(): void {
    this.socket.connect();
  }

  private firstLogin: { resolve: () => void; reject: (err: unknown) => void } | null = null;

  private async login(): Promise<void> {
    let session: SessionResult;
    try {
      session = await this.authenticate();
    } catch (err) {
      if (this.firstLogin) return this.firstLogin.reject(err);
      // The server may still be starting: drop this connection and let the backoff try again.
      this.callbacks.onDebug('login failed; reconnecting', err);
      this.socket.disconnect();
      setTimeout(() => !this.closed && this.socket.connect(), this.options.reconnect?.initialDelayMs ?? RECONNECT_DEFAULTS.initialDelayMs);
      return;
    }
    this.authenticatedNow = true;
    const first = !this.everAuthenticated;
    this.everAuthenticated = true;
    this.firstLogin?.resolve();
    this.callbacks.onAuthenticated(first, session);
  }

  async call<T extends object>(event: string, payload: object): Promise<{ ok: true } & T> {
    if (!this.socket.connected) throw new ChatError('not_connected', 'not connected to the server');
    let ack: Ack<T>;
    try {
      // Acks are checked against Ack<T> by shape below; the untyped socket view carries any event name.
      ack = await (this.socket as unknown as Socket).timeout(this.ackTimeoutMs).emitWithAck(event, payload);
    } catch (cause) {
      throw new ChatError('timeout', `the server did not answer "${event}" within ${this.ackTimeoutMs} ms`, { cause });
    }
    if (!ack.ok) throw new ChatError(ack.error.code, ack.error.message);
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

  close(): void {
    this.closed = true;
    this.authenticatedNow = false;
    this.socket.disconnect();
  }
}
