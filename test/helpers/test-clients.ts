/** Real ChatClients with in-memory stores, and raw socket.io connections for protocol-level tests. */
import { io, type Socket } from 'socket.io-client';
import { fetchBlobHttp } from '../../src/client/blob-transfer.js';
import { ChatClient, type ChatClientOptions, type ClientIdentity, type ReceivedMessage, type RejectedMessage } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore, type RatchetStore } from '../../src/client/ratchet-store.js';
import type { ChatClientGroupOptions } from '../../src/client/chat-client-types.js';
import type { GroupHistoryStore } from '../../src/client/groups/group-history.js';
import type { GroupStore } from '../../src/client/groups/group-store.js';
import { MemoryGroupHistory } from '../../src/client/groups/memory-group-history.js';
import { base64urlDecode, base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { ed25519PublicOf, generateUserKeyPairs, jwkThumbprint, rsaPublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { loginMessage, registerMessage } from '../../src/protocol/auth-message.js';

type ChatClientSocketOptions = NonNullable<ChatClientOptions['socketOptions']>;

/** RSA key generation is the slow part of a test; keep a few pairs around and reuse them across names. */
const keyCache: UserKeyPairs[] = [];
let nextKey = 0;
export async function keysFor(fresh = false): Promise<UserKeyPairs> {
  if (fresh) return generateUserKeyPairs();
  if (keyCache.length < 6) {
    const keys = await generateUserKeyPairs();
    keyCache.push(keys);
    return keys;
  }
  return keyCache[nextKey++ % keyCache.length]!;
}

export interface TestClient {
  client: ChatClient;
  identity: ClientIdentity & { keys: UserKeyPairs };
  peers: MemoryPeerKeyStore;
  messages: MemoryMessageStore;
  received: ReceivedMessage[];
  rejected: RejectedMessage[];
  /** Resolves once `n` messages in total have been received. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  waitForRejected(n: number, timeoutMs?: number): Promise<RejectedMessage[]>;
}

/** Polls `check` (sync or async) every 10 ms until it returns something other than undefined. */
async function waitUntil<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function connectTestClient(
  url: string,
  username: string,
  opts: {
    keys?: UserKeyPairs;
    peers?: MemoryPeerKeyStore;
    messages?: MemoryMessageStore;
    ackDelayMs?: number;
    ratchet?: RatchetStore;
    /** A group store: the client takes part in MLS groups. */
    groups?: GroupStore;
    /** With `groups`: where the client records what its groups say (default: a new one in memory). */
    groupHistory?: GroupHistoryStore;
    mode?: 'ratchet' | 'hybrid';
    readReceipts?: boolean;
    /** The HTTP client for blobs (a test's fault injector). */
    fetch?: typeof globalThis.fetch;
    /** socket.io-client's options, instead of WebSocket only (a test of the default transports, TLS). */
    socketOptions?: ChatClientSocketOptions;
  } = {},
): Promise<TestClient> {
  const identity: ClientIdentity & { keys: UserKeyPairs } = { username, keys: opts.keys ?? (await keysFor()) };
  const peers = opts.peers ?? new MemoryPeerKeyStore();
  const messages = opts.messages ?? new MemoryMessageStore();
  const groupOptions: ChatClientGroupOptions = opts.groups ? { groups: opts.groups, groupHistory: opts.groupHistory ?? new MemoryGroupHistory() } : {};
  const client = await ChatClient.connect({
    url,
    identity,
    peers,
    messages,
    socketOptions: opts.socketOptions ?? { transports: ['websocket'] },
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    ...(opts.ackDelayMs !== undefined && { ackDelayMs: opts.ackDelayMs }),
    ...(opts.readReceipts !== undefined && { readReceipts: opts.readReceipts }),
    ...(opts.fetch && { blobHttp: fetchBlobHttp(opts.fetch) }),
    ...groupOptions,
    // The library's default (ratchet) unless a test asks for hybrid; sessions in memory unless given a store.
    ...(opts.mode === 'hybrid' ? { mode: 'hybrid' as const, ...(opts.ratchet && { ratchet: opts.ratchet }) } : { ratchet: opts.ratchet ?? new MemoryRatchetStore() }),
  });
  // A client in groups publishes its KeyPackages after the login: ready to be added once they are up.
  await client.groupsReady();
  const received: ReceivedMessage[] = [];
  const rejected: RejectedMessage[] = [];
  client.on('message', (m) => received.push(m));
  client.on('rejected', (r) => rejected.push(r));
  return {
    client,
    identity,
    peers,
    messages,
    received,
    rejected,
    waitFor: (n, timeoutMs = 5000) => waitUntil(() => (received.length >= n ? received : undefined), timeoutMs, `${n} messages`),
    waitForRejected: (n, timeoutMs = 5000) =>
      waitUntil(() => (rejected.length >= n ? rejected : undefined), timeoutMs, `${n} rejected messages`),
  };
}

/** A bare socket.io connection speaking the wire protocol directly; `auth` is its handshake data. */
export async function rawSocket(url: string, auth?: Record<string, unknown>): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...(auth && { auth }) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/** An ack as it arrives, before the caller narrows it. */
export interface RawAck {
  ok: boolean;
  error?: { code: string; message: string };
  [field: string]: unknown;
}

export function call(socket: Socket, event: string, ...args: unknown[]): Promise<RawAck> {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

export { waitUntil };

/** Registers `username` over a raw socket, exactly as docs/PROTOCOL.md describes. */
export async function registerRaw(socket: Socket, username: string, keys: UserKeyPairs, timeoutMs = 5000): Promise<RawAck> {
  const call = (event: string, payload: object) => socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<RawAck>;
  const { challenge } = (await call('challenge', {})) as RawAck & { challenge: string };
  const signingKey = ed25519PublicOf(keys.signing);
  const encryptionKey = rsaPublicOf(keys.encryption);
  const message = registerMessage({
    challenge,
    username,
    signingKeyThumbprint: await jwkThumbprint(signingKey),
    encryptionKeyThumbprint: await jwkThumbprint(encryptionKey),
  });
  const signature = base64urlEncode(ed25519Sign(message, base64urlDecode(keys.signing.d)));
  return call('register', { username, signingKey, encryptionKey, signature });
}

/** Logs `username` in over a raw socket. */
export async function loginRaw(socket: Socket, username: string, keys: UserKeyPairs, timeoutMs = 5000): Promise<RawAck> {
  const call = (event: string, payload: object) => socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<RawAck>;
  const { challenge } = (await call('challenge', {})) as RawAck & { challenge: string };
  const signature = base64urlEncode(ed25519Sign(loginMessage({ challenge, username }), base64urlDecode(keys.signing.d)));
  return call('login', { username, signature });
}
