/**
 * Messages that cannot be sent (issue 9, hole 5): an over-size message is refused before it enters the
 * outbox (and costs no ratchet step); a permanent refusal marks the entry failed and the entries behind
 * it go on; an entry whose send keeps failing (the connection drops during it) is marked failed after
 * MAX_SEND_ATTEMPTS, counted persistently; failed entries stay listed until dropped.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { SqliteMessageStore } from '../../src/client/node/sqlite-message-store.js';
import { MAX_SEND_ATTEMPTS } from '../../src/client/outbox-sender.js';
import { toPinned } from '../../src/client/peer-keys.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import type { HistoryRecord, MessageStore, OutboxEntryV1 } from '../../src/client/stores.js';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { ChatError } from '../../src/protocol/errors.js';
import type { UserKeys } from '../../src/protocol/events.js';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../../src/protocol/limits.js';
import { connectTestClient, keysFor, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { newIdbAccount, reopenIdbAccount } from '../helpers/browser-stores.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  cleanups.push(async () => {
    await s.stop();
    removeDir(s.dataDir);
  });
  return s;
}

async function user(url: string, name: string, opts: Parameters<typeof connectTestClient>[2] = {}): Promise<TestClient & { ratchet: MemoryRatchetStore }> {
  const ratchet = (opts.ratchet as MemoryRatchetStore | undefined) ?? new MemoryRatchetStore();
  const c = await connectTestClient(url, name, { ...opts, ratchet });
  cleanups.push(() => c.client.close());
  return Object.assign(c, { ratchet });
}

const userKeys = (username: string, keys: UserKeyPairs): UserKeys => ({
  username,
  signingKey: ed25519PublicOf(keys.signing),
  encryptionKey: rsaPublicOf(keys.encryption) as UserKeys['encryptionKey'],
  registeredAt: 1,
});

/**
 * A scripted server that speaks just enough of the protocol to log in, answer `keys`, and then, for
 * `send`: drops the connection mid-send for `dropFor`, refuses for good (bad_request) for `refuseFor`,
 * and accepts the rest.
 */
async function scriptedServer(directory: Map<string, UserKeys>, script: { dropFor: string; refuseFor: string; limits?: unknown }) {
  const http: HttpServer = createServer();
  const io = new Server(http);
  const sends: string[] = [];
  io.on('connection', (socket) => {
    socket.on('challenge', (_p: unknown, ack: (a: object) => void) => ack({ ok: true, challenge: base64urlEncode(randomBytes(32)), protocols: [1, 2] }));
    const limits = { maxEnvelopeBytes: 65_536, maxDevicesPerUser: 6, maxEnvelopesPerSend: 11, ...(script.limits as object | undefined) };
    socket.on('login', (p: { username: string }, ack: (a: object) => void) => ack({ ok: true, username: p.username, device: 1, protocol: 2, registered: true, limits }));
    // No user has a device list here: everyone is device 1 alone (the client's own first publish is taken and forgotten).
    socket.on('devices.list', (p: { username: string }, ack: (a: object) => void) => ack({ ok: true, username: p.username, deviceList: null }));
    socket.on('devices.publish', (_p: unknown, ack: (a: object) => void) => ack({ ok: true, version: 1 }));
    socket.on('keys', (p: { username: string }, ack: (a: object) => void) => {
      const keys = directory.get(p.username);
      ack(keys ? { ok: true, ...keys } : { ok: false, error: { code: 'unknown_user', message: 'no such user' } });
    });
    socket.on('ack', (_p: unknown, ack: (a: object) => void) => ack({ ok: true, acknowledged: 0 }));
    socket.on('send', (p: { messages: Array<{ to: string; device: number }> }, ack: (a: object) => void) => {
      const to = p.messages[0]!.to;
      sends.push(to);
      if (to === script.dropFor) socket.conn.close(); // as the transport does with an over-size frame
      else if (to === script.refuseFor) ack({ ok: false, error: { code: 'bad_request', message: 'refused for good' } });
      else ack({ ok: true, deliveries: p.messages.map((m) => ({ to: m.to, device: m.device, id: base64urlEncode(randomBytes(16)), sentAt: Date.now(), status: 'queued' })) });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => io.close(() => resolve())));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, sends };
}

describe('messages that cannot be sent', () => {
  it('refuses an over-size ratchet message before the outbox, naming both sizes, without advancing the session', async () => {
    const srv = await server();
    const alice = await user(srv.url, 'alice');
    const bob = await user(srv.url, 'bob');
    await alice.client.send('bob', 'first');
    await bob.waitFor(1);
    const before = await alice.ratchet.loadSession('bob');

    const error = await alice.client.send('bob', 'x'.repeat(100_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('envelope_too_large');
    expect((error as ChatError).message).toMatch(/^message is \d{3},\d{3} bytes sealed; the server accepts at most 65,536$/);
    expect(await alice.messages.outboxEntries()).toEqual([]);
    expect((await alice.ratchet.loadSession('bob'))!.version).toBe(before!.version);
    expect((await alice.messages.history({ peer: 'bob' })).map((r) => r.body)).toEqual(['first']);

    // Nothing is stuck: the next message goes out and arrives (its chain step follows "first" directly).
    await alice.client.send('bob', 'second');
    expect((await bob.waitFor(2)).map((m) => m.body)).toEqual(['first', 'second']);
  });

  it('refuses an over-size hybrid message too, and one just under the cap goes out', async () => {
    const srv = await server();
    const alice = await user(srv.url, 'alice', { mode: 'hybrid' });
    const bob = await user(srv.url, 'bob');
    await expect(alice.client.send('bob', 'y'.repeat(60_000))).rejects.toMatchObject({ code: 'envelope_too_large' });
    expect(await alice.messages.outboxEntries()).toEqual([]);
    // Hybrid envelopes grow by two base64 layers (JWS inside JWE): 30,000 characters seal to ~54 KB.
    await alice.client.send('bob', 'y'.repeat(30_000));
    expect((await bob.waitFor(1))[0]!.body).toHaveLength(30_000);
  });

  it('uses the envelope cap from the login answer [needs the server branch]', async () => {
    // Above the prekey uploads' frames (ML-KEM chunks of ~35 KB), below the default cap.
    const srv = await server({ maxEnvelopeBytes: 40_000 });
    const alice = await user(srv.url, 'alice');
    await user(srv.url, 'bob');
    const error = await alice.client.send('bob', 'z'.repeat(45_000)).catch((e: unknown) => e);
    expect((error as ChatError).message).toMatch(/the server accepts at most 40,000$/);
    expect(await alice.messages.outboxEntries()).toEqual([]);
  });

  it("takes the envelope cap from the login answer, and ignores one no server could be configured with", async () => {
    const bobKeys = userKeys('bob', await keysFor());
    const directory = new Map([['bob', bobKeys]]);
    const connect = async (limits: unknown) => {
      const fake = await scriptedServer(directory, { dropFor: 'nobody', refuseFor: 'nobody', limits });
      const peers = new MemoryPeerKeyStore();
      await peers.put(await toPinned(bobKeys, 1));
      const client = await ChatClient.connect({ url: fake.url, identity: { username: 'alice', keys: await keysFor() }, peers, messages: new MemoryMessageStore(), mode: 'hybrid', socketOptions: { transports: ['websocket'] } });
      cleanups.push(() => client.close());
      return client;
    };
    const strict = await connect({ maxEnvelopeBytes: 4096 });
    await expect(strict.send('bob', 'w'.repeat(3000))).rejects.toThrow(/^message is \d,\d{3} bytes sealed; the server accepts at most 4,096$/);
    expect(await strict.send('bob', 'short')).toMatchObject({ status: 'queued' });
    // A cap below any real configuration (it would refuse every message): the default. (A cap that is not
    // a positive integer makes the login answer malformed in protocol 2: see server-answers.test.ts.)
    for (const limits of [{ maxEnvelopeBytes: 10 }]) {
      const lenient = await connect(limits);
      expect(await lenient.send('bob', 'w'.repeat(3000))).toMatchObject({ status: 'queued' });
      await expect(lenient.send('bob', 'w'.repeat(60_000))).rejects.toThrow(/the server accepts at most 65,536$/);
    }
  });

  it('an entry whose send drops the connection every time is marked failed after MAX_SEND_ATTEMPTS; a permanently refused one at once; the ones behind both go out', async () => {
    const keys = { bob: await keysFor(), carol: await keysFor(), dave: await keysFor() };
    const directory = new Map(Object.entries(keys).map(([name, k]) => [name, userKeys(name, k)]));
    const fake = await scriptedServer(directory, { dropFor: 'bob', refuseFor: 'dave' });
    const peers = new MemoryPeerKeyStore();
    for (const k of directory.values()) await peers.put(await toPinned(k, 1));
    const messages = new MemoryMessageStore();
    const alice = await ChatClient.connect({
      url: fake.url,
      identity: { username: 'alice', keys: await keysFor() },
      peers,
      messages,
      mode: 'hybrid',
      // A send whose connection dropped is answered by the ack timeout: keep it short here.
      ackTimeoutMs: 500,
      socketOptions: { transports: ['websocket'] },
      reconnect: { initialDelayMs: 20, maxDelayMs: 50 },
    });
    cleanups.push(() => alice.close());
    const failed: Array<{ to: string; code: string }> = [];
    alice.on('failed', (f) => failed.push({ to: f.to, code: f.error.code }));

    const toBob = alice.send('bob', 'this one makes the connection drop').catch((e: unknown) => e);
    const toDave = alice.send('dave', 'this one is refused').catch((e: unknown) => e);
    // Sent while the connection may be down (bob's send drops it): 'outbox' or 'queued', then it goes out.
    expect(await alice.send('carol', 'behind both')).toMatchObject({ to: 'carol' });
    const bobError = (await toBob) as ChatError;
    expect(bobError).toBeInstanceOf(ChatError);
    expect(bobError.message).toMatch(new RegExp(`^gave up after ${MAX_SEND_ATTEMPTS} attempts to send it`));
    await toDave; // refused (bad_request) or, sent while the connection was down, 'outbox' and failed later
    await waitUntil(() => (failed.length === 2 ? true : undefined), 10_000, 'both failures');
    expect(fake.sends.filter((to) => to === 'bob')).toHaveLength(MAX_SEND_ATTEMPTS);
    expect(fake.sends.filter((to) => to === 'dave')).toHaveLength(1);
    expect(failed.map((f) => [f.to, f.code]).sort()).toEqual([
      ['bob', bobError.code],
      ['dave', 'bad_request'],
    ]);
    await waitUntil(async () => ((await messages.outbox()).length === 0 ? true : undefined), 10_000, 'carol to go out');

    const entries = await messages.outboxEntries();
    expect(entries.map((e) => [e.to, e.attempts, e.failed?.code])).toEqual([
      ['bob', MAX_SEND_ATTEMPTS, bobError.code],
      ['dave', 1, 'bad_request'],
    ]);
    expect(await messages.outbox()).toEqual([]);
    const history = await messages.history();
    expect(history.map((r) => [r.peer, r.status])).toEqual([
      ['bob', 'failed'],
      ['dave', 'failed'],
      ['carol', 'queued'],
    ]);
  }, 60_000);

  it('an entry left over from before the size check (too large for the server) is failed without being sent', async () => {
    const srv = await server();
    const messages = new MemoryMessageStore();
    const id = base64urlEncode(randomBytes(16));
    const body = 'A'.repeat(DEFAULT_MAX_ENVELOPE_BYTES);
    const record: HistoryRecord = { id, direction: 'out', peer: 'bob', body: 'huge', sentAt: 1, status: 'outbox' };
    await messages.addOutgoing({ id, to: 'bob', envelope: { type: 'ratchet', v: 1, body }, createdAt: 1 }, record);
    await user(srv.url, 'bob');
    const alice = await user(srv.url, 'alice', { messages });
    await waitUntil(async () => ((await messages.outbox()).length === 0 ? true : undefined), 5000, 'the entry to be failed');
    expect((await messages.outboxEntries()).map((e) => e.failed?.code)).toEqual(['envelope_too_large']);
    expect(srv.frames.filter((f) => f.event === 'send')).toEqual([]);
    expect(alice.client.connected).toBe(true);
  });
});

/**
 * A message store that can be closed and opened again on the same data: a SQLite file, or an IndexedDB
 * database (a browser reload: a new connection, the vault unlocked again). `downgrade` turns the closed
 * data back into the oldest layout its store still migrates (SQLite only: IndexedDB has one version).
 */
interface Reopenable {
  open(): Promise<MessageStore & { close?(): void }>;
  downgrade?(): void;
}
const reopenables: Array<[string, () => Promise<Reopenable>]> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-outbox-'));
      cleanups.push(() => removeDir(dir));
      const path = join(dir, 'state.db');
      const secret = randomBytes(32);
      return {
        open: () => SqliteMessageStore.open(path, secret, 'alice'),
        downgrade: () => {
          // Back to the version-1 layout, as an older client left it.
          const db = new Database(path);
          db.exec('DROP TABLE held; ALTER TABLE outbox DROP COLUMN failed;');
          db.pragma('user_version = 1');
          db.close();
        },
      };
    },
  ],
  [
    'IndexedDB',
    async () => {
      const { username, db } = await newIdbAccount();
      db.close();
      return {
        open: async () => {
          const again = await reopenIdbAccount(username);
          return Object.assign(again.messages(), { close: () => again.db.close() });
        },
      };
    },
  ],
];

describe.each(reopenables)('the %s outbox', (_kind, make) => {
  it('keeps the attempt count and failed entries across reopening, drops entries (and migrates an older layout)', async () => {
    const data = await make();
    const entry = (id: string): [OutboxEntryV1, HistoryRecord] => [
      { id, to: 'bob', envelope: { type: 'ratchet', v: 1, body: 'AAAA' }, createdAt: 1 },
      { id, direction: 'out', peer: 'bob', body: id, sentAt: 1, status: 'outbox' },
    ];
    let store = await data.open();
    await store.addOutgoing(...entry('a'.repeat(22)));
    store.close?.();
    data.downgrade?.();

    store = await data.open();
    expect((await store.outbox()).map((e) => e.id)).toEqual(['a'.repeat(22)]);
    await store.addOutgoing(...entry('b'.repeat(22)));
    await store.addOutgoing(...entry('c'.repeat(22)));
    expect(await store.countSendAttempt('a'.repeat(22))).toBe(1);
    expect(await store.countSendAttempt('a'.repeat(22))).toBe(2);
    await store.failOutgoing('b'.repeat(22), { code: 'quota_exceeded', message: 'full', at: 5 });
    store.close?.();

    store = await data.open();
    const last = store;
    cleanups.push(() => last.close?.());
    expect((await store.outbox()).map((e) => [e.id[0], e.attempts ?? 0])).toEqual([
      ['a', 2],
      ['c', 0],
    ]);
    expect((await store.outboxEntries()).map((e) => [e.id[0], e.failed?.code])).toEqual([
      ['a', undefined],
      ['b', 'quota_exceeded'],
      ['c', undefined],
    ]);
    expect((await store.get('b'.repeat(22), 'out'))!.status).toBe('failed');
    expect(await store.dropOutgoing('c'.repeat(22))).toBe(true);
    expect(await store.dropOutgoing('c'.repeat(22))).toBe(false);
    expect((await store.get('c'.repeat(22), 'out'))!.status).toBe('failed');
    expect((await store.outbox()).map((e) => e.id[0])).toEqual(['a']);

    await store.hold({ serverId: 'S'.repeat(22), from: 'mallory', to: 'alice', sentAt: 2, envelope: { type: 'ratchet', v: 1, body: 'BBBB' } });
    await store.hold({ serverId: 'S'.repeat(22), from: 'mallory', to: 'alice', sentAt: 2, envelope: { type: 'ratchet', v: 1, body: 'BBBB' } });
    expect((await store.held('mallory')).map((h) => h.serverId)).toEqual(['S'.repeat(22)]);
    expect(await store.held('bob')).toEqual([]);
    await store.release('S'.repeat(22));
    expect(await store.held('mallory')).toEqual([]);
  });
});
