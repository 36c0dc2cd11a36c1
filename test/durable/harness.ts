/**
 * Shared harness for the durable-delivery tests: clients whose events are recorded from the very first
 * frame, raw wire-level sockets, schema-valid fake envelopes, direct read-only looks into SQLite files,
 * and one place that tracks everything a test opened so it is closed even when the test fails.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import type { Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { ChatClient, type ReceivedMessage, type RejectedMessage, type SentMessage } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { ChatError } from '../../src/protocol/errors.js';
import type { IncomingMessage, ReceiptEvent } from '../../src/protocol/events.js';
import { SQLITE_FILE_NAME } from '../../src/server/store/sqlite-store.js';
import { hybridEnvelope, hybridEnvelopeOfJsonLength } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import type { ServerConfig } from '../../src/server/config.js';
import { SqliteMessageStore } from '../../src/client/node/sqlite-message-store.js';
import { readPublicIdentity } from '../../src/client/node/identity-file.js';
import { userFolder } from '../../src/client/node/user-folder.js';
import { base64urlDecode, base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';

export { call, keysFor, waitUntil, type RawAck };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `#0000`, `#0001`, ...: bodies whose lexical order is their send order. */
export const tag = (i: number) => `#${String(i).padStart(4, '0')}`;

const b64 = (n: number) => base64urlEncode(randomBytes(n));

/**
 * A schema-valid hybrid envelope with random bytes (the server cannot tell; a real client would reject
 * it). `label` is written at the start of the ciphertext so a test can identify it; the ciphertext is
 * the whole AES blocks that fit in about `ciphertextChars` base64url characters (at least one).
 */
export function fakeEnvelope(label = '', ciphertextChars = 64) {
  return hybridEnvelope({ label, blocks: Math.max(1, Math.floor((ciphertextChars * 3) / 4 / 16)) });
}

/** A valid envelope whose JSON text is exactly `total` characters: the unit of the server's byte quota. */
export function envelopeOfJsonLength(total: number) {
  const env = hybridEnvelopeOfJsonLength(total);
  expect(JSON.stringify(env).length).toBe(total);
  return env;
}

/** A client id (idempotency key) as a real client makes them: 16 random bytes, base64url. */
export const clientId = () => b64(16);

/** A ChatClient with in-memory stores whose events are recorded from before it connects. */
export interface Recorded {
  client: ChatClient;
  username: string;
  keys: UserKeyPairs;
  peers: MemoryPeerKeyStore;
  messages: MemoryMessageStore;
  received: ReceivedMessage[];
  rejected: RejectedMessage[];
  sent: SentMessage[];
  delivered: Array<{ id: string; to: string; deliveredAt: number }>;
  failed: Array<{ id: string; to: string; error: ChatError }>;
  reconnects: number;
}

export interface ClientOptions {
  keys?: UserKeyPairs;
  peers?: MemoryPeerKeyStore;
  messages?: MemoryMessageStore;
  ackDelayMs?: number;
  ackTimeoutMs?: number;
}

/** Raw sockets collect what the server pushes to them. */
export interface RawUser {
  socket: Socket;
  messages: IncomingMessage[];
  receipts: ReceiptEvent[];
}

/**
 * Everything one test opened. `cleanup()` (afterEach) closes clients and sockets, stops servers and
 * removes their data folders, whatever state the test left them in.
 */
export class Resources {
  private readonly clients: ChatClient[] = [];
  private readonly sockets: Socket[] = [];
  private readonly servers: TestServer[] = [];
  private readonly databases: Database.Database[] = [];

  async server(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
    const srv = await startTestServer(overrides);
    this.servers.push(srv);
    return srv;
  }

  /**
   * Starts a client in the background (ChatClient.offline) so listeners are attached before the first
   * frame, then waits until it is logged in (registering on first use).
   */
  async client(url: string, username: string, options: ClientOptions = {}): Promise<Recorded> {
    const keys = options.keys ?? (await keysFor());
    const peers = options.peers ?? new MemoryPeerKeyStore();
    const messages = options.messages ?? new MemoryMessageStore();
    const client = ChatClient.offline({
      // The delivery layer under test is the same for both envelope types; hybrid keeps these tests free
      // of session state across restarts (test/client/ratchet-sessions.test.ts and the CLI tests cover
      // durable delivery in ratchet mode).
      mode: 'hybrid',
      url,
      identity: { username, keys },
      peers,
      messages,
      socketOptions: { transports: ['websocket'] },
      reconnect: { initialDelayMs: 50, maxDelayMs: 250, jitter: 0 },
      ...(options.ackDelayMs !== undefined && { ackDelayMs: options.ackDelayMs }),
      ...(options.ackTimeoutMs !== undefined && { ackTimeoutMs: options.ackTimeoutMs }),
    });
    this.clients.push(client);
    const rec: Recorded = { client, username, keys, peers, messages, received: [], rejected: [], sent: [], delivered: [], failed: [], reconnects: 0 };
    client.on('message', (m) => rec.received.push(m));
    client.on('rejected', (r) => rec.rejected.push(r));
    client.on('sent', (s) => rec.sent.push(s));
    client.on('delivered', (d) => rec.delivered.push(d));
    client.on('failed', (f) => rec.failed.push(f));
    client.on('reconnected', () => rec.reconnects++);
    await waitUntil(() => (client.connected ? true : undefined), 10_000, `${username} to log in`);
    return rec;
  }

  /** A raw socket registered (or logged in, when `login`) as `username`, recording pushed events. */
  async raw(url: string, username: string, keys: UserKeyPairs, how: 'register' | 'login' = 'register'): Promise<RawUser> {
    const socket = await rawSocket(url);
    this.sockets.push(socket);
    const user: RawUser = { socket, messages: [], receipts: [] };
    // Before authenticating: the backlog may start flowing before the login ack arrives.
    socket.on('message', (m: IncomingMessage) => user.messages.push(m));
    socket.on('receipt', (r: ReceiptEvent) => user.receipts.push(r));
    const ack = how === 'register' ? await registerRaw(socket, username, keys) : await loginRaw(socket, username, keys);
    expect(ack, `${how} ${username}`).toMatchObject({ ok: true, username });
    return user;
  }

  /** Read-only handle on a SQLite file, closed on cleanup. */
  readonlyDb(path: string): Database.Database {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    this.databases.push(db);
    return db;
  }

  async cleanup(): Promise<void> {
    for (const db of this.databases.splice(0)) if (db.open) db.close();
    for (const s of this.sockets.splice(0)) s.close();
    await Promise.all(this.clients.splice(0).map((c) => withTimeout(c.close(), 5000).catch(() => undefined)));
    for (const srv of this.servers.splice(0)) {
      await withTimeout(srv.stop(), 5000).catch(() => undefined);
      removeDir(srv.dataDir);
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Waits until `username` has no authenticated connection left, as `observer` sees it (`users`). */
export async function waitOffline(observer: ChatClient, username: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await observer.onlineUsers()).includes(username)) {
    if (Date.now() > deadline) throw new Error(`${username} still online after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Same as waitOffline, over a raw socket. */
export async function waitOfflineRaw(observer: Socket, username: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ack = (await call(observer, 'users', {})) as RawAck & { users: string[] };
    expect(ack.ok).toBe(true);
    if (!ack.users.includes(username)) return;
    if (Date.now() > deadline) throw new Error(`${username} still online after ${timeoutMs} ms`);
    await sleep(10);
  }
}

export const serverDbPath = (dataDir: string) => `${dataDir}/${SQLITE_FILE_NAME}`;

/** Rows of the server's `queue` table, straight from the file (a fresh read-only connection each time). */
export function queueRows(dataDir: string, recipient?: string): Array<{ seq: number; id: string; recipient: string; sender: string; client_id: string; envelope: string }> {
  const db = new Database(serverDbPath(dataDir), { readonly: true, fileMustExist: true });
  try {
    const sql = 'SELECT seq, id, recipient, sender, client_id, envelope FROM queue' + (recipient ? ' WHERE recipient = ?' : '') + ' ORDER BY seq';
    return (recipient ? db.prepare(sql).all(recipient) : db.prepare(sql).all()) as ReturnType<typeof queueRows>;
  } finally {
    db.close();
  }
}

/** The bytes of a SQLite database and its WAL (when there is one), as latin1 text for substring search. */
export function rawDatabaseText(path: string): string {
  let text = readFileSync(path).toString('latin1');
  for (const suffix of ['-wal', '-journal']) if (existsSync(path + suffix)) text += '\n' + readFileSync(path + suffix).toString('latin1');
  return text;
}

/** Every textual form a plaintext could take if it leaked: itself, hex, base64 and base64url at any alignment. */
export function leakForms(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  // latin1: how the UTF-8 bytes read in rawDatabaseText's view of a file.
  const out = new Set<string>([text, bytes.toString('latin1'), bytes.toString('hex')]);
  for (let shift = 0; shift < 3; shift++) {
    const part = bytes.subarray(shift);
    // Drop the last block: it depends on what follows the text wherever it might be embedded.
    const b64 = part.toString('base64');
    const b64url = part.toString('base64url');
    const keep = Math.floor(part.length / 3) * 4 - 4;
    if (keep >= 12) {
      out.add(b64.slice(0, keep));
      out.add(b64url.slice(0, keep));
    }
  }
  return [...out];
}

/**
 * Opens a CLI user's local message store (`<home>/<user>/state.sqlite`) with the user's own key, as the
 * CLI does (the keys in these tests are not passphrase-protected). Close it when done.
 */
export async function openCliStore(home: string, username: string): Promise<SqliteMessageStore> {
  const folder = userFolder(home, username);
  const file = await readPublicIdentity(folder);
  if (!file || file.private.encrypted) throw new Error(`no unencrypted identity for ${username} in ${home}`);
  return SqliteMessageStore.open(folder.stateFile, base64urlDecode(file.private.keys.signing.d), username);
}
