/**
 * User folders written by e2ee-chat 0.1 (test/fixtures/v0.1/client/, made by
 * scripts/make-v01-client-fixtures.ts with the 0.1 code) keep working in this client: identity.json
 * becomes version 2 (device 1, primary; the 0.1 file kept as identity.v1.json), each ratchet session moves
 * to its peer's device 1 the first time it is loaded, and alice's outbox entry from 0.1 is one copy for
 * bob's device 1 (docs/design/devices-v2.md §11.2). What matters to the user: the conversation goes on
 * on the session 0.1 started, with no new PQXDH, and the message 0.1 left in the outbox is delivered.
 * (The identity file's upgrade on its own, passphrase included: test/client/identity-v2.test.ts.)
 */
import Database from 'better-sqlite3';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient, type ReceivedMessage } from '../../src/client/chat-client.js';
import { FilePeerKeyStore } from '../../src/client/node/file-stores.js';
import { loadOrCreateIdentity } from '../../src/client/node/identity-file.js';
import { RowSealer } from '../../src/client/node/sealed-rows.js';
import { SqliteMessageStore } from '../../src/client/node/sqlite-message-store.js';
import { SqliteRatchetStore, STORAGE_KEY_INFO } from '../../src/client/node/sqlite-ratchet-store.js';
import { userFolder } from '../../src/client/node/user-folder.js';
import { PeerDeviceLists } from '../../src/client/peer-device-lists.js';
import type { RatchetStore } from '../../src/client/ratchet-store.js';
import type { AddressLike } from '../../src/client/address.js';
import { base64urlDecode, hexEncode } from '../../src/crypto/bytes.js';
import { unpickleSessionRecord } from '../../src/e2ee/ratchet/pickle.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v0.1', 'client');
/** test/fixtures/v0.1/client/README.md */
const ALICE_PASSPHRASE = 'alice v0.1 fixture passphrase';
const QUEUED = 'written while the server was down';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A home folder holding copies of the fixture's alice and bob, as 0.1 left them. */
function v01Home(): string {
  const home = mkdtempSync(join(tmpdir(), 'e2ee-chat-v01-home-'));
  cleanups.push(() => removeDir(home));
  cpSync(FIXTURE, home, { recursive: true, filter: (src) => !src.endsWith('README.md') });
  return home;
}

/** Opens a user of `home` as the CLI does (keys, pins, message and ratchet stores). */
async function openUser(home: string, username: string, passphrase: string) {
  const folder = userFolder(home, username);
  const loaded = await loadOrCreateIdentity(folder, username, async () => passphrase, { create: false });
  const secret = base64urlDecode(loaded.identity.keys.signing.d);
  const peers = new FilePeerKeyStore(folder.peersFile);
  const messages = await SqliteMessageStore.open(folder.stateFile, secret, username);
  const ratchet = await SqliteRatchetStore.open(folder.ratchetFile, secret, username);
  cleanups.push(() => (messages.close(), ratchet.close()));
  return { folder, loaded, secret, peers, messages, ratchet };
}

async function connect(server: TestServer, user: Awaited<ReturnType<typeof openUser>>): Promise<ChatClient> {
  const client = await ChatClient.connect({
    url: server.url,
    identity: user.loaded.identity,
    peers: user.peers,
    messages: user.messages,
    ratchet: user.ratchet,
    socketOptions: { transports: ['websocket'] },
  });
  cleanups.push(() => client.close());
  return client;
}

function nextMessage(client: ChatClient, body: string): Promise<ReceivedMessage> {
  return new Promise((resolve) => {
    const off = client.on('message', (m) => {
      if (m.body === body) (off(), resolve(m));
    });
  });
}

/** The PQXDH run a session was built on (the initiator's ephemeral key), as hex. */
async function baseKeyOf(store: RatchetStore, peer: AddressLike): Promise<string | undefined> {
  const saved = await store.loadSession(peer);
  const current = saved && unpickleSessionRecord(saved.value.record).current;
  return current && hexEncode(current.baseKey);
}

/** Which of these session rows `username`'s ratchet.sqlite has (rows are found by an HMAC of their name). */
function sessionRows(file: string, secret: Uint8Array, username: string, names: readonly string[]): string[] {
  const rows = new RowSealer(secret, username, STORAGE_KEY_INFO);
  const db = new Database(file, { readonly: true });
  try {
    return names.filter((n) => db.prepare('SELECT 1 FROM secrets WHERE key = ?').get(rows.keyOf(n)) !== undefined);
  } finally {
    db.close();
  }
}

describe('a v0.1 client folder', () => {
  it('upgrades in place: alice\'s session with bob goes on without a new PQXDH, and her 0.1 outbox entry is delivered', async () => {
    const home = v01Home();
    const v1Text = readFileSync(join(home, 'alice', 'identity.json'), 'utf8');
    expect((JSON.parse(v1Text) as { v: number }).v).toBe(1);

    const alice = await openUser(home, 'alice', ALICE_PASSPHRASE);
    const bob = await openUser(home, 'bob', '');
    // identity.json: version 2, device 1, the primary, the 0.1 keys as the account's; 0.1's file kept.
    expect(alice.loaded).toMatchObject({ device: 1, role: 'primary', encrypted: true, created: false });
    const v2 = JSON.parse(readFileSync(alice.folder.identityFile, 'utf8')) as Record<string, unknown>;
    const v1 = JSON.parse(v1Text) as Record<string, unknown>;
    expect(v2).toMatchObject({ v: 2, username: 'alice', device: 1, role: 'primary', createdAt: v1.createdAt, account: v1.public, public: v1.public, private: v1.private });
    expect(readFileSync(alice.folder.identityV1File, 'utf8')).toBe(v1Text);
    expect(bob.loaded).toMatchObject({ device: 1, role: 'primary', encrypted: false });

    // Pins from 0.1 hold no device list: none seen yet.
    expect(await new PeerDeviceLists(alice.peers, alice.ratchet).held('bob')).toBeNull();
    // The outbox entry 0.1 wrote ({to, envelope}) is one copy, for bob's device 1.
    const [entry, ...more] = await alice.messages.outboxEntries();
    expect(more).toEqual([]);
    expect(entry).toMatchObject({ to: 'bob', messages: [{ to: 'bob', device: 1, envelope: { type: 'ratchet', v: 1 } }] });

    // The sessions 0.1 started are still under their old names until first loaded.
    expect(sessionRows(alice.folder.ratchetFile, alice.secret, 'alice', ['session:bob', 'session:bob/1'])).toEqual(['session:bob']);
    const started = await baseKeyOf(alice.ratchet, 'bob');
    expect(started).toBeDefined();
    expect(await baseKeyOf(bob.ratchet, 'alice')).toBe(started);
    expect(sessionRows(alice.folder.ratchetFile, alice.secret, 'alice', ['session:bob', 'session:bob/1'])).toEqual(['session:bob/1']);

    // A new server: both register again with their 0.1 keys; alice's outbox goes out on login.
    const server = await startTestServer();
    cleanups.push(async () => (await server.stop(), removeDir(server.dataDir)));
    const bobClient = await connect(server, bob);
    const queuedArrives = nextMessage(bobClient, QUEUED);
    const aliceClient = await connect(server, alice);
    expect((await queuedArrives).from).toBe('alice');

    const after = nextMessage(bobClient, 'after the upgrade');
    await aliceClient.send('bob', 'after the upgrade');
    await after;
    const answer = nextMessage(aliceClient, 'and back, on the same session');
    await bobClient.send('alice', 'and back, on the same session');
    await answer;

    // No bundle was asked for: every message went on the session 0.1 started.
    expect(server.frames.filter((f) => f.event === 'prekeys.bundle')).toEqual([]);
    expect(await baseKeyOf(alice.ratchet, 'bob')).toBe(started);
    expect(await baseKeyOf(bob.ratchet, { user: 'alice', device: 1 })).toBe(started);
    expect(sessionRows(bob.folder.ratchetFile, bob.secret, 'bob', ['session:alice', 'session:alice/1'])).toEqual(['session:alice/1']);
    expect(await alice.messages.outboxEntries()).toEqual([]);
    const history = await alice.messages.history({ peer: 'bob' });
    expect(history.map((r) => r.body)).toEqual([
      'hello bob, from 0.1',
      'hello alice, from 0.1',
      'a second one on the same session',
      QUEUED,
      'after the upgrade',
      'and back, on the same session',
    ]);
    expect(history.find((r) => r.body === QUEUED)?.status).toMatch(/^(sent|queued|delivered)$/);
  });

});
