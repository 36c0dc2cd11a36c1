/**
 * The client's link to the server: one Socket.IO connection that reconnects by itself with exponential
 * backoff and jitter, and proves the user's identity again on every new connection (a reconnect is a
 * new connection with a new challenge). Socket.IO reconnects after a lost transport only; after a
 * disconnect the server asked for ("io server disconnect": a node going away, a login that took too
 * long) and after a failed login this class reconnects itself, on the same backoff.
 */
import { io, type Socket } from 'socket.io-client';
import { base64urlEncode } from '../crypto/bytes.js';
import { jwkThumbprint } from '../crypto/keys.js';
import type { DeviceSecrets } from './device-secrets.js';
import { loginMessageV2, registerMessage } from '../protocol/auth-message.js';
import { ChatError } from '../protocol/errors.js';
import type { ClientEventPayloadV2, ClientToServerEventsV2 } from '../protocol/client-event-schemas.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import type { ClientEventNameV2, ServerToClientEventsV2, SessionResultV2 } from '../protocol/events-v2.js';
import { DEFAULT_ACK_TIMEOUT_MS } from '../protocol/limits.js';
import { RECEIPT_BATCHES_HANDSHAKE } from '../protocol/receipt-batches.js';
import { rsa2048PublicJwkSchema } from '../protocol/schemas.js';
import type { AnswerOfV2, ServerEventNameV2, ServerEventOfV2 } from '../protocol/server-event-schemas.js';
import { PRIMARY_DEVICE } from './address.js';
import { reconnectDelayMs, type BackoffSettings } from './reconnect-backoff.js';
import { callServer, onServerEvent } from './socket-calls.js';

export { parseAnswer } from './socket-calls.js';

/** The protocol this client speaks (docs/PROTOCOL.md §19): every connection logs in with it. */
export const CLIENT_PROTOCOL = 2;

/** Backoff between reconnection attempts: doubles from the initial delay up to the maximum, ± jitter. */
export const RECONNECT_DEFAULTS = { initialDelayMs: 250, maxDelayMs: 10_000, jitter: 0.5 } as const;

export interface ConnectionOptions {
  url: string;
  /** The user, this device's id (default 1, the primary) and this device's keys. */
  identity: { username: string; device?: number; keys: DeviceSecrets };
  ackTimeoutMs?: number;
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; jitter?: number };
  /**
   * Whether a name the server does not know is registered with these keys at login (the default). When
   * false, such a login fails with 'unknown_user': only the command meant to create an account does it.
   */
  register?: boolean;
  socketOptions?: Parameters<typeof io>[1];
}

export interface ConnectionCallbacks {
  /** Logged in on a connection (the first, or after a reconnect), with the server's answer. */
  onAuthenticated(first: boolean, session: SessionResultV2): void;
  /**
   * The first signed device list of a new account (version 1, this device alone), sent with `register`
   * (§19.3). Only the primary registers.
   */
  firstDeviceList(): Promise<DeviceListWire>;
  onDisconnected(reason: string): void;
  /**
   * A login on a later connection (a reconnect, or the background one of openInBackground) was refused
   * for good (PERMANENT_REFUSALS): the connection is closed and tries no more. A refusal of open()'s own
   * login rejects open() instead.
   */
  onRefused(err: ChatError): void;
  onDebug(message: string, cause?: unknown): void;
}

/**
 * Login refusals that trying again cannot change: `unknown_device`, this device is not in its user's
 * list (it was removed, or never linked; PROTOCOL.md §19.13); `username_taken`, the name is bound to other
 * keys on this server now (it lost the account and someone registered the name again, or it lies): only
 * the user can decide what to do. Any other failure may pass (a server still starting, a timeout), so the
 * connection tries again after those.
 */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set(['unknown_device', 'username_taken']);

export class ServerConnection {
  readonly socket: Socket<ServerToClientEventsV2, ClientToServerEventsV2>;
  private readonly ackTimeoutMs: number;
  private authenticatedNow = false;
  private everAuthenticated = false;
  private closed = false;
  private readonly backoff: BackoffSettings;
  /** Reconnections this class started since the last login (see reconnectLater). */
  private ownAttempts = 0;
  private ownTimer: ReturnType<typeof setTimeout> | null = null;
  /**
   * This connection's `backlog.end` state: whether login was asked on it (only a logged-in connection has
   * a backlog), and whether its one marker came. Reset by every new connection.
   */
  private backlog = { loginAsked: false, ended: false };

  constructor(
    private readonly options: ConnectionOptions,
    private readonly callbacks: ConnectionCallbacks,
  ) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const backoff = (this.backoff = { ...RECONNECT_DEFAULTS, ...options.reconnect });
    this.socket = io(options.url, {
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: backoff.initialDelayMs,
      reconnectionDelayMax: backoff.maxDelayMs,
      randomizationFactor: backoff.jitter,
      // Receipts in batches (docs/PROTOCOL.md §7.12); a server that does not know it sends them singly.
      auth: { [RECEIPT_BATCHES_HANDSHAKE]: true },
      ...options.socketOptions,
    });
    this.socket.on('connect', () => {
      this.backlog = { loginAsked: false, ended: false };
      void this.login();
    });
    this.socket.on('disconnect', (reason) => {
      this.authenticatedNow = false;
      if (this.closed) return;
      this.callbacks.onDisconnected(reason);
      if (reason === 'io server disconnect') this.reconnectLater();
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
    let session: SessionResultV2;
    try {
      session = await this.authenticate();
    } catch (err) {
      if (this.firstLogin) return this.firstLogin.reject(err);
      if (err instanceof ChatError && PERMANENT_REFUSALS.has(err.code)) {
        // Knocking again would be refused again, forever: stop, and let the client say why.
        this.close();
        return this.callbacks.onRefused(err);
      }
      // The server may still be starting: drop this connection and let the backoff try again.
      this.callbacks.onDebug('login failed; reconnecting', err);
      this.socket.disconnect();
      this.reconnectLater();
      return;
    }
    this.authenticatedNow = true;
    this.ownAttempts = 0;
    const first = !this.everAuthenticated;
    this.everAuthenticated = true;
    this.firstLogin?.resolve();
    this.callbacks.onAuthenticated(first, session);
  }

  /**
   * Sends a client event and returns the server's answer, parsed by its schema (answerSchemas): a
   * malformed answer is a ChatError 'bad_response', a refusal the ChatError the server named. Whether
   * the answer is about what was asked (the right user, say) is the caller's check. The payload is typed
   * per event by the shared map (client-event-schemas.ts, the schema's input): a payload the server's
   * schema would refuse for its shape is a compile error here.
   */
  call<E extends ClientEventNameV2>(event: E, payload: ClientEventPayloadV2<E>): Promise<{ ok: true } & AnswerOfV2<E>> {
    // A view with the answer left unknown: whatever the server says is parsed, never trusted by type.
    return callServer(this.socket as unknown as Socket, event, payload, this.ackTimeoutMs);
  }

  /**
   * Subscribes to a server event; returns the unsubscribe function. Each frame is parsed by its schema
   * first; one that fails is reported as a debug event and ignored (a hostile or broken server must not
   * be able to crash the client).
   */
  onEvent<E extends ServerEventNameV2>(event: E, handler: (payload: ServerEventOfV2<E>) => void): () => void {
    return onServerEvent(this.socket as unknown as Socket, event, handler, (message, cause) => this.callbacks.onDebug(message, cause));
  }

  /**
   * Subscribes to the end of the backlog (`backlog.end`, docs/PROTOCOL.md §7.11), once per connection:
   * a marker before this connection asked to log in, or a second one on it, is reported as a debug event
   * and ignored. The login's answer may come after the marker (the server starts delivery as it binds
   * the user), so the request, not the answer, is what makes one legitimate.
   */
  onBacklogEnd(handler: (event: ServerEventOfV2<'backlog.end'>) => void): void {
    this.onEvent('backlog.end', (event) => {
      if (!this.backlog.loginAsked) return this.callbacks.onDebug('ignored a "backlog.end" before this connection asked to log in');
      if (this.backlog.ended) return this.callbacks.onDebug('ignored a second "backlog.end" on this connection');
      this.backlog.ended = true;
      handler(event);
    });
  }

  private async authenticate(): Promise<SessionResultV2> {
    const { identity } = this.options;
    const device = identity.device ?? PRIMARY_DEVICE;
    const signer = identity.keys.signing;
    const { challenge, protocols } = await this.call('challenge', {});
    // A server that names no protocols is e2ee-chat 0.1: it cannot serve devices, and this client speaks
    // nothing older than protocol 2 (servers are upgraded before clients, §19.2).
    if (!protocols?.includes(CLIENT_PROTOCOL)) {
      throw new ChatError('unsupported_server', `the server at ${this.options.url} does not speak protocol ${CLIENT_PROTOCOL} (it runs e2ee-chat 0.1 or older); upgrade it first`);
    }
    const loginSig = await signer.sign(loginMessageV2({ challenge, username: identity.username, device }));
    this.backlog.loginAsked = true;
    try {
      // `registered` is bound to the question too: only our own `register` can have created the account
      // (the client forgets its own list's history on it, §21.1), never a login's answer saying so.
      const answer = await this.call('login', { username: identity.username, device, protocol: CLIENT_PROTOCOL, signature: base64urlEncode(loginSig) });
      return { ...boundSession(identity.username, device, answer), registered: false };
    } catch (err) {
      if (err instanceof ChatError && err.code === 'bad_signature') {
        // We signed the challenge the server just gave us: it does not verify because the name is bound
        // to other keys there (ours were lost and remade, or someone else has the name).
        throw new ChatError('username_taken', `the name "${identity.username}" belongs to other keys on this server, not to this device's keys`, { cause: err });
      }
      if (err instanceof ChatError && err.code === 'unknown_device') {
        throw new ChatError('unknown_device', `this device (${identity.username}/${device}) is not in the device list of "${identity.username}": it was removed, or never linked`, { cause: err });
      }
      if (!(err instanceof ChatError) || err.code !== 'unknown_user') throw err;
      if (this.options.register === false || device !== PRIMARY_DEVICE) throw new ChatError('unknown_user', `"${identity.username}" is not registered on this server`, { cause: err });
    }
    // First use of this name: register our public keys, proving we hold the signing key, with the
    // account's first device list (§19.3).
    const signingKey = identity.keys.signingPublicJwk;
    // Checked here as the server will: the wire only carries 2048-bit keys with exponent 65537.
    const encryptionKey = rsa2048PublicJwkSchema.safeParse(identity.keys.encryptionPublicJwk);
    if (!encryptionKey.success) {
      throw new ChatError('bad_request', "this device's encryption key is not a 2048-bit RSA key with exponent 65537, the only kind the server accepts", { cause: encryptionKey.error });
    }
    const deviceList = await this.callbacks.firstDeviceList();
    const next = await this.call('challenge', {});
    const message = registerMessage({
      challenge: next.challenge,
      username: identity.username,
      signingKeyThumbprint: await jwkThumbprint(signingKey),
      encryptionKeyThumbprint: await jwkThumbprint(encryptionKey.data),
    });
    const registered = boundSession(
      identity.username,
      device,
      await this.call('register', {
        username: identity.username,
        signingKey,
        encryptionKey: encryptionKey.data,
        signature: base64urlEncode(await signer.sign(message)),
        protocol: CLIENT_PROTOCOL,
        deviceList,
      }),
    );
    return { ...registered, registered: true };
  }

  /** Connects again after the backoff's next delay, unless closed meanwhile. */
  private reconnectLater(): void {
    if (this.ownTimer) return;
    const delay = reconnectDelayMs(this.ownAttempts++, this.backoff);
    this.ownTimer = setTimeout(() => {
      this.ownTimer = null;
      if (!this.closed) this.socket.connect();
    }, delay);
  }

  close(): void {
    this.closed = true;
    if (this.ownTimer) clearTimeout(this.ownTimer);
    this.ownTimer = null;
    this.authenticatedNow = false;
    this.socket.disconnect();
  }
}

/** A login or register answer must be about the address that logged in. */
function boundSession(username: string, device: number, answer: SessionResultV2): SessionResultV2 {
  if (answer.username !== username || answer.device !== device) {
    throw new ChatError('bad_response', `the server answered a login as ${username}/${device} for another address`);
  }
  return answer;
}
