/**
 * Ratchet sessions by address (docs/design/devices-v2.md §7, §10, §11.2 step 3; src/client/ratchet-store.ts):
 * one session per device of a peer. A ratchet.sqlite from before devices keeps a peer's one session under
 * `session:<peer>`; loading device 1 of that peer moves it to `session:<peer>/1` in one transaction, so
 * the conversation goes on with the same PQXDH run. Two devices of one peer have sessions of their own,
 * and deleting a device's session (a device removed from its list) touches no other and cannot be undone
 * by a writer that loaded it before.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportLocalKeys } from '../../src/client/local-prekeys.js';
import { RowSealer } from '../../src/client/node/sealed-rows.js';
import { SqliteRatchetStore, STORAGE_KEY_INFO } from '../../src/client/node/sqlite-ratchet-store.js';
import { EMPTY_SESSION, MemoryRatchetStore, type PeerSessionPickle, type RatchetStore } from '../../src/client/ratchet-store.js';
import { SessionManager } from '../../src/client/session-manager.js';
import type { Address } from '../../src/client/address.js';
import { base64urlEncode, hexEncode } from '../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { buildPreKeyBundle } from '../../src/e2ee/pqxdh/bundle.js';
import { unpickleSessionRecord } from '../../src/e2ee/ratchet/pickle.js';
import type { RatchetEnvelope } from '../../src/protocol/schemas.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
const stores: SqliteRatchetStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

function ratchetPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-addresses-'));
  dirs.push(dir);
  return join(dir, 'ratchet.sqlite');
}

async function openSqlite(path: string, secret: Uint8Array, user: string): Promise<SqliteRatchetStore> {
  const store = await SqliteRatchetStore.open(path, secret, user);
  stores.push(store);
  return store;
}

/** One device of a user: its own signing secret (device 1's is the account's), store and session manager. */
interface Device {
  user: string;
  device: number;
  secret: Uint8Array;
  key: Uint8Array;
  store: RatchetStore;
  sessions: SessionManager;
  received: string[];
  /** Bundles fetched for PQXDH runs this device started. */
  bundlesFetched: number;
}

/** `others` answers bundle requests: protocol 1 asks for a user, and gets that user's device 1. */
function device(user: string, id: number, store: RatchetStore, others: Map<string, Device>, secret = crypto.getRandomValues(new Uint8Array(32))): Device {
  const d: Device = {
    user,
    device: id,
    secret,
    key: ed25519PublicKeyFromSecret(secret),
    store,
    received: [],
    bundlesFetched: 0,
    sessions: new SessionManager({
      store,
      signingKey: ed25519SigningKeyFromSeed(secret),
      fetchBundle: async (peer) => {
        d.bundlesFetched++;
        const target = others.get(peer.user)!;
        const keys = await exportLocalKeys(target.store, ed25519SigningKeyFromSeed(target.secret), Date.now());
        return buildPreKeyBundle(keys.identity, keys.currentSignedPreKey, keys.lastResortKemPreKey);
      },
      onPreKeysConsumed: () => undefined,
    }),
  };
  if (id === 1) others.set(user, d);
  return d;
}

const addressOfDevice = (d: Device): Address => ({ user: d.user, device: d.device });
let nextId = 0;
/** A version-2 payload: it names the sending device, which the receiving session checks against the address. */
const payload = (from: string, to: string, body: string, fromDevice = 1) => ({
  v: 2 as const,
  kind: 'message' as const,
  from,
  fromDevice,
  to,
  id: `${base64urlEncode(new Uint8Array(12))}${String(nextId++).padStart(8, '0')}`,
  sentAt: 1,
  body,
});
const seal = (from: Device, to: Device, body: string): Promise<RatchetEnvelope> =>
  from.sessions.seal(addressOfDevice(to), to.key, payload(from.user, to.user, body, from.device), true, 1 << 20, async () => undefined);
let serverId = 0;
const open = (to: Device, from: Device, e: RatchetEnvelope) =>
  to.sessions.open(addressOfDevice(from), to.user, `srv-${serverId++}`, e, from.key, async (p) => void to.received.push('body' in p ? p.body : ''));

/** The PQXDH run a stored session was built on: its base key (the initiator's ephemeral key), hex. */
async function baseKeyOf(store: RatchetStore, peer: Address): Promise<string | undefined> {
  const saved = await store.loadSession(peer);
  const current = saved && unpickleSessionRecord(saved.value.record).current;
  return current && hexEncode(current.baseKey);
}

/**
 * Turns alice's stored session with bob/1 back into the layout of a ratchet.sqlite from before devices:
 * the same sealed session under `session:bob`, with its version, and no `session:bob/1`.
 */
function asBeforeDevices(path: string, secret: Uint8Array): void {
  const rows = new RowSealer(secret, 'alice', STORAGE_KEY_INFO);
  const db = new Database(path);
  try {
    const key = rows.keyOf('session:bob/1');
    const row = db.prepare('SELECT data, version FROM secrets WHERE key = ?').get(key) as { data: Buffer; version: number };
    const legacy = rows.keyOf('session:bob');
    db.prepare('INSERT INTO secrets (key, data, version) VALUES (?, ?, ?)').run(legacy, rows.seal(legacy, rows.open(key, row.data)), row.version);
    db.prepare('DELETE FROM secrets WHERE key = ?').run(key);
  } finally {
    db.close();
  }
}

function rowVersions(path: string, secret: Uint8Array, names: readonly string[]): Record<string, number | null> {
  const rows = new RowSealer(secret, 'alice', STORAGE_KEY_INFO);
  const db = new Database(path, { readonly: true });
  try {
    return Object.fromEntries(
      names.map((n) => [n, (db.prepare('SELECT version FROM secrets WHERE key = ?').get(rows.keyOf(n)) as { version: number } | undefined)?.version ?? null]),
    );
  } finally {
    db.close();
  }
}

describe('a session from before devices', () => {
  it('is moved to device 1 of its peer on first load, and the conversation goes on without a new PQXDH', async () => {
    const everyone = new Map<string, Device>();
    const path = ratchetPath();
    const aliceSecret = crypto.getRandomValues(new Uint8Array(32));
    const alice = device('alice', 1, await openSqlite(path, aliceSecret, 'alice'), everyone, aliceSecret);
    const bob = device('bob', 1, new MemoryRatchetStore(), everyone);
    await exportLocalKeys(bob.store, ed25519SigningKeyFromSeed(bob.secret), Date.now());
    await open(bob, alice, await seal(alice, bob, 'before the upgrade'));
    await open(alice, bob, await seal(bob, alice, 'answered'));
    const started = await baseKeyOf(alice.store, { user: 'bob', device: 1 });
    const { version } = (await alice.store.loadSession('bob'))!;
    stores.splice(0).forEach((s) => s.close());
    asBeforeDevices(path, aliceSecret);
    expect(rowVersions(path, aliceSecret, ['session:bob', 'session:bob/1'])).toEqual({ 'session:bob': version, 'session:bob/1': null });

    // The upgraded client: a new handle on the file, and a bundle fetch would count as a new PQXDH run.
    const upgraded = device('alice', 1, await openSqlite(path, aliceSecret, 'alice'), everyone, aliceSecret);
    await open(bob, upgraded, await seal(upgraded, bob, 'after the upgrade'));
    await open(upgraded, bob, await seal(bob, upgraded, 'still the same session'));
    expect(upgraded.bundlesFetched).toBe(0);
    expect(bob.bundlesFetched).toBe(0);
    expect(bob.received).toEqual(['before the upgrade', 'after the upgrade']);
    expect(upgraded.received).toEqual(['still the same session']);
    expect(await baseKeyOf(upgraded.store, { user: 'bob', device: 1 })).toBe(started);
    expect(await baseKeyOf(bob.store, { user: 'alice', device: 1 })).toBe(started);
    // Moved with its version, then saved twice (the seal, the open); the old row is gone.
    expect(rowVersions(path, aliceSecret, ['session:bob', 'session:bob/1'])).toEqual({ 'session:bob': null, 'session:bob/1': version + 2 });
  });

  it('is moved once when two processes load it at once: both see it, under one version', async () => {
    const path = ratchetPath();
    const secret = new Uint8Array(32).fill(5);
    const first = await openSqlite(path, secret, 'alice');
    const session: PeerSessionPickle = { ...EMPTY_SESSION, delivered: [['srv', 'msg']] };
    expect(await first.saveSession({ user: 'bob', device: 1 }, session, 0)).toBe(true);
    expect(await first.saveSession({ user: 'bob', device: 1 }, session, 1)).toBe(true);
    first.close();
    asBeforeDevices(path, secret);
    const [a, b] = [await openSqlite(path, secret, 'alice'), await openSqlite(path, secret, 'alice')];
    const [seenByA, seenByB] = await Promise.all([a.loadSession('bob'), b.loadSession({ user: 'bob', device: 1 })]);
    expect(seenByA).toEqual({ value: session, version: 2 });
    expect(seenByB).toEqual({ value: session, version: 2 });
    // Compare-and-swap goes on from the moved version: one writer wins.
    expect(await a.saveSession('bob', EMPTY_SESSION, 2)).toBe(true);
    expect(await b.saveSession('bob', EMPTY_SESSION, 2)).toBe(false);
  });

  it('is not shadowed by a new session: a first save of device 1 beside an unmoved one is refused, and the caller reloads', async () => {
    const path = ratchetPath();
    const secret = new Uint8Array(32).fill(6);
    const store = await openSqlite(path, secret, 'alice');
    const old: PeerSessionPickle = { ...EMPTY_SESSION, delivered: [['srv-old', 'old']] };
    expect(await store.saveSession('bob', old, 0)).toBe(true);
    store.close();
    asBeforeDevices(path, secret);
    const upgraded = await openSqlite(path, secret, 'alice');
    expect(await upgraded.saveSession({ user: 'bob', device: 1 }, EMPTY_SESSION, 0)).toBe(false);
    expect(await upgraded.loadSession('bob')).toEqual({ value: old, version: 1 });
    // Other devices never had a session from before devices: nothing stands in their way.
    expect(await upgraded.saveSession({ user: 'bob', device: 2 }, EMPTY_SESSION, 0)).toBe(true);
  });
});

describe.each(['sqlite', 'memory', 'indexeddb'] as const)('%s store: sessions per address', (kind) => {
  async function aliceStore(secret: Uint8Array): Promise<RatchetStore> {
    if (kind === 'indexeddb') return (await newIdbAccount()).ratchet();
    return kind === 'memory' ? new MemoryRatchetStore() : openSqlite(ratchetPath(), secret, 'alice');
  }

  it('two devices of one peer have independent sessions: each its own PQXDH run, and a reply opens on its device only', async () => {
    const everyone = new Map<string, Device>();
    const aliceSecret = crypto.getRandomValues(new Uint8Array(32));
    const alice = device('alice', 1, await aliceStore(aliceSecret), everyone, aliceSecret);
    await exportLocalKeys(alice.store, ed25519SigningKeyFromSeed(alice.secret), Date.now());
    // bob's primary and a linked device: each has its own signing key and store.
    const bob1 = device('bob', 1, new MemoryRatchetStore(), everyone);
    const bob2 = device('bob', 2, new MemoryRatchetStore(), everyone);
    await open(alice, bob1, await seal(bob1, alice, 'from the phone'));
    await open(alice, bob2, await seal(bob2, alice, 'from the laptop'));
    expect(alice.received).toEqual(['from the phone', 'from the laptop']);
    const phone = await baseKeyOf(alice.store, { user: 'bob', device: 1 });
    const laptop = await baseKeyOf(alice.store, { user: 'bob', device: 2 });
    expect(phone).toBeDefined();
    expect(laptop).toBeDefined();
    expect(laptop).not.toBe(phone);

    const toLaptop = await seal(alice, bob2, 'to the laptop');
    await open(bob2, alice, toLaptop);
    expect(bob2.received).toEqual(['to the laptop']);
    // The phone's session is another one: the laptop's copy does not open there, and its session is untouched.
    const phoneBefore = await bob1.store.loadSession('alice');
    await expect(open(bob1, alice, toLaptop)).rejects.toMatchObject({ code: 'decryption_failed' });
    expect(await bob1.store.loadSession('alice')).toEqual(phoneBefore);
    await open(bob1, alice, await seal(alice, bob1, 'to the phone'));
    expect(bob1.received).toEqual(['to the phone']);
    expect(alice.bundlesFetched).toBe(0); // both sessions were bob's PQXDH runs
  });

  it("deleting a device's session leaves the others, and a writer that loaded it before cannot bring it back", async () => {
    const store = await aliceStore(new Uint8Array(32).fill(8));
    const s = (n: number): PeerSessionPickle => ({ ...EMPTY_SESSION, delivered: [[`srv-${n}`, `msg-${n}`]] });
    for (const d of [1, 2, 3]) expect(await store.saveSession({ user: 'bob', device: d }, s(d), 0)).toBe(true);
    expect(await store.saveSession({ user: 'carol', device: 2 }, s(9), 0)).toBe(true);
    const stale = (await store.loadSession({ user: 'bob', device: 2 }))!;

    await store.deleteSessions('bob', [2, 3, 4]);
    expect(await store.loadSession({ user: 'bob', device: 2 })).toEqual({ value: EMPTY_SESSION, version: 2 });
    expect(await store.loadSession({ user: 'bob', device: 3 })).toEqual({ value: EMPTY_SESSION, version: 2 });
    expect(await store.loadSession({ user: 'bob', device: 4 })).toBeUndefined(); // never had one: nothing written
    expect(await store.loadSession('bob')).toEqual({ value: s(1), version: 1 });
    expect(await store.loadSession({ user: 'carol', device: 2 })).toEqual({ value: s(9), version: 1 });
    // A save based on the deleted session's version is refused: versions never repeat, even after deletion.
    expect(await store.saveSession({ user: 'bob', device: 2 }, s(22), stale.version)).toBe(false);
    expect(await store.saveSession({ user: 'bob', device: 2 }, s(22), 0)).toBe(false);
    expect(await store.saveSession({ user: 'bob', device: 2 }, s(22), 2)).toBe(true);
  });

  it('a deleted session is no session: sealing to that device needs a new PQXDH', async () => {
    const everyone = new Map<string, Device>();
    const aliceSecret = crypto.getRandomValues(new Uint8Array(32));
    const alice = device('alice', 1, await aliceStore(aliceSecret), everyone, aliceSecret);
    const bob = device('bob', 1, new MemoryRatchetStore(), everyone);
    await exportLocalKeys(bob.store, ed25519SigningKeyFromSeed(bob.secret), Date.now());
    await open(bob, alice, await seal(alice, bob, 'first'));
    expect(await alice.sessions.hasSession('bob', bob.key)).toBe(true);
    await alice.store.deleteSessions('bob', [1]);
    expect(await alice.sessions.hasSession('bob', bob.key)).toBe(false);
    await expect(alice.sessions.seal('bob', bob.key, payload('alice', 'bob', 'offline'), false, 1 << 20, async () => undefined)).rejects.toMatchObject({ code: 'not_connected' });
    await open(bob, alice, await seal(alice, bob, 'after'));
    expect(alice.bundlesFetched).toBe(2);
    expect(bob.received).toEqual(['first', 'after']);
  });
});

describe('sqlite store: deleting a session from before devices', () => {
  it("deleting device 1's session deletes an unmoved one too, and its version carries on", async () => {
    const path = ratchetPath();
    const secret = new Uint8Array(32).fill(9);
    const store = await openSqlite(path, secret, 'alice');
    const old: PeerSessionPickle = { ...EMPTY_SESSION, delivered: [['srv-old', 'old']] };
    expect(await store.saveSession('bob', old, 0)).toBe(true);
    expect(await store.saveSession('bob', old, 1)).toBe(true);
    store.close();
    asBeforeDevices(path, secret);
    const upgraded = await openSqlite(path, secret, 'alice');
    await upgraded.deleteSessions('bob', [1]);
    expect(rowVersions(path, secret, ['session:bob', 'session:bob/1'])).toEqual({ 'session:bob': null, 'session:bob/1': 3 });
    expect(await upgraded.loadSession('bob')).toEqual({ value: EMPTY_SESSION, version: 3 });
  });
});
