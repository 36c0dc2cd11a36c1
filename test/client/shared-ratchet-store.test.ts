/**
 * Two processes of one user (a `receive` and a `send`, say) share one ratchet store. Saves are
 * compare-and-swap (src/client/ratchet-store.ts): a writer that loaded an older session must redo its
 * work instead of overwriting, or it would reuse a message key (two messages under one chain step).
 * Prekeys are records: a refill inserts under ids no other process gets, so it never loses the other
 * writer's new keys; a consumed one-time key is deleted once; a rotation moves the current pointer once.
 * These tests force the races deterministically by interleaving the two handles' steps.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportLocalKeys, loadOrCreateIdentity, oneTimeToPickle } from '../../src/client/local-prekeys.js';
import { RowSealer } from '../../src/client/node/sealed-rows.js';
import { SqliteRatchetStore, STORAGE_KEY_INFO } from '../../src/client/node/sqlite-ratchet-store.js';
import { MemoryRatchetStore, type PeerSessionPickle, type PreKeysUsed, type RatchetStore } from '../../src/client/ratchet-store.js';
import { generateOneTimePreKeys } from '../../src/e2ee/pqxdh/prekeys.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { newIdbAccount, reopenIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
const servers: TestServer[] = [];
const clients: TestClient[] = [];
const sqliteStores: SqliteRatchetStore[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()));
  for (const s of servers.splice(0)) {
    await s.stop();
    removeDir(s.dataDir);
  }
  for (const s of sqliteStores.splice(0)) s.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

const SECRET = new Uint8Array(32).fill(7);
const session = (n: number): PeerSessionPickle => ({ v: 1, record: { n } as unknown as PeerSessionPickle['record'], delivered: [] });

/**
 * Two handles on one store, as two processes would have: two connections to one SQLite file, two
 * connections to one IndexedDB database (two tabs, each its vault unlocked), or one memory store.
 */
async function twoHandles(kind: 'sqlite' | 'memory' | 'indexeddb'): Promise<[RatchetStore, RatchetStore]> {
  if (kind === 'indexeddb') {
    const first = await newIdbAccount();
    return [first.ratchet(), (await reopenIdbAccount(first.username)).ratchet()];
  }
  if (kind === 'memory') {
    const shared = new MemoryRatchetStore();
    return [shared, shared];
  }
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-ratchet-store-'));
  dirs.push(dir);
  const a = await SqliteRatchetStore.open(join(dir, 'ratchet.sqlite'), SECRET, 'alice');
  const b = await SqliteRatchetStore.open(join(dir, 'ratchet.sqlite'), SECRET, 'alice');
  sqliteStores.push(a, b);
  return [a, b];
}

describe.each(['sqlite', 'memory', 'indexeddb'] as const)('%s ratchet store: compare-and-swap saves', (kind) => {
  it('a session save based on an older version writes nothing and says so', async () => {
    const [a, b] = await twoHandles(kind);
    expect(await a.saveSession('bob', session(1), 0)).toBe(true);
    expect(await b.saveSession('bob', session(99), 0)).toBe(false); // both thought there was none
    const seenByA = (await a.loadSession('bob'))!;
    const seenByB = (await b.loadSession('bob'))!;
    expect(seenByA.version).toBe(1);
    expect(await b.saveSession('bob', session(2), seenByB.version)).toBe(true);
    expect(await a.saveSession('bob', session(3), seenByA.version)).toBe(false); // a's copy is stale now
    expect(await a.loadSession('bob')).toEqual({ value: session(2), version: 2 });
  });

  it('two refills at once both take effect: ids reserved by one are never given to the other', async () => {
    const [a, b] = await twoHandles(kind);
    await loadOrCreateIdentity(a, ed25519SigningKeyFromSeed(SECRET), Date.now());
    // Both reserve before either inserts (the moment the blob store had to detect with a version).
    const firstA = await a.reservePreKeyIds('oneTime', 3);
    const firstB = await b.reservePreKeyIds('oneTime', 3);
    expect(Math.abs(firstA - firstB)).toBeGreaterThanOrEqual(3);
    const keysA = await generateOneTimePreKeys(firstA, 3);
    const keysB = await generateOneTimePreKeys(firstB, 3);
    await b.addPreKeys('oneTime', keysB.map(oneTimeToPickle));
    await a.addPreKeys('oneTime', keysA.map(oneTimeToPickle));
    const ids = (await a.listOneTimePreKeys('oneTime')).map((k) => k.id);
    expect(ids).toEqual([...keysA, ...keysB].map((k) => k.id).sort((x, y) => x - y));
    // Each handle's records are exactly its own keys.
    expect((await b.loadPreKey('oneTime', firstA))?.publicKey).toBe(oneTimeToPickle(keysA[0]!).publicKey);
  });

  it('a one-time key consumed by both processes at once is deleted exactly once', async () => {
    const [a, b] = await twoHandles(kind);
    await loadOrCreateIdentity(a, ed25519SigningKeyFromSeed(SECRET), Date.now());
    const first = await a.reservePreKeyIds('oneTime', 1);
    await a.addPreKeys('oneTime', (await generateOneTimePreKeys(first, 1)).map(oneTimeToPickle));
    expect(await Promise.all([a.removePreKey('oneTime', first), b.removePreKey('oneTime', first)])).toEqual([true, false]);
    expect(await b.loadPreKey('oneTime', first)).toBeUndefined();
  });

  it('two sessions built on one one-time key (two peers\' initial messages, one per process): the second save is refused and leaves nothing', async () => {
    const [a, b] = await twoHandles(kind);
    await loadOrCreateIdentity(a, ed25519SigningKeyFromSeed(SECRET), Date.now());
    const first = await a.reservePreKeyIds('oneTime', 1);
    await a.addPreKeys('oneTime', (await generateOneTimePreKeys(first, 1)).map(oneTimeToPickle));
    expect(await a.saveSession('alice', session(1), 0, { oneTimeId: first })).toBe(true);
    expect(await b.saveSession('carol', session(2), 0, { oneTimeId: first })).toBe(false);
    expect(await b.loadSession('carol')).toBeUndefined();
    expect(await b.loadSession('alice')).toEqual({ value: session(1), version: 1 });
  });

  it('two rotations of the signed prekey at once: one pointer move wins, the other is refused', async () => {
    const [a, b] = await twoHandles(kind);
    await loadOrCreateIdentity(a, ed25519SigningKeyFromSeed(SECRET), Date.now());
    const { currentSignedId } = (await a.loadKeyState())!;
    const idA = await a.reservePreKeyIds('signed', 1);
    const idB = await b.reservePreKeyIds('signed', 1);
    expect(idA).not.toBe(idB);
    expect(await a.setCurrentSignedPreKey(idA, currentSignedId)).toBe(true);
    expect(await b.setCurrentSignedPreKey(idB, currentSignedId)).toBe(false);
    expect((await b.loadKeyState())!.currentSignedId).toBe(idA);
  });

  it('two processes creating the first keys at once agree on one identity', async () => {
    const [a, b] = await twoHandles(kind);
    const [ia, ib] = await Promise.all([loadOrCreateIdentity(a, ed25519SigningKeyFromSeed(SECRET), Date.now()), loadOrCreateIdentity(b, ed25519SigningKeyFromSeed(SECRET), Date.now())]);
    expect(ia.dhKeyPair.publicKey).toEqual(ib.dhKeyPair.publicKey);
    expect((await exportLocalKeys(b, ed25519SigningKeyFromSeed(SECRET), Date.now())).identity.dhKeyPair.publicKey).toEqual(ia.dhKeyPair.publicKey);
  });
});

describe('sqlite ratchet store: upgrade', () => {
  it('a file written before versions existed opens, and its rows count as version 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-ratchet-store-'));
    dirs.push(dir);
    const path = join(dir, 'ratchet.sqlite');
    // The first schema, as an older release left it: one table, no versions.
    const db = new Database(path);
    db.exec('CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;');
    const rows = new RowSealer(SECRET, 'alice', STORAGE_KEY_INFO);
    const key = rows.keyOf('session:bob');
    db.prepare('INSERT INTO secrets (key, data) VALUES (?, ?)').run(key, rows.seal(key, session(1)));
    db.pragma('user_version = 1');
    db.close();
    const upgraded = await SqliteRatchetStore.open(path, SECRET, 'alice');
    sqliteStores.push(upgraded);
    expect(await upgraded.loadSession('bob')).toEqual({ value: session(1), version: 1 });
    expect(await upgraded.saveSession('bob', session(2), 1)).toBe(true);
  });
});

/** A store whose next session save waits until released: the first writer of a race, held back. */
class HeldStore {
  private hold: { reached: () => void; released: Promise<void> } | undefined;
  readonly store: RatchetStore;
  constructor(inner: RatchetStore) {
    this.store = new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'saveSession') {
          return async (peer: string, s: PeerSessionPickle, expected: number, used?: PreKeysUsed) => {
            const hold = this.hold;
            if (hold) {
              this.hold = undefined;
              hold.reached();
              await hold.released;
            }
            return target.saveSession(peer, s, expected, used);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  holdNextSessionSave(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    this.hold = { reached, released: new Promise<void>((r) => (release = r)) };
    return { reached: reachedP, release };
  }
}

describe('two clients of one user on one ratchet store', () => {
  it('sending from both at the same moment never uses one message key twice: the peer opens every message', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const shared = new MemoryRatchetStore();
    const held = new HeldStore(shared);
    const keys = await keysFor();
    // Two "processes" of alice: separate clients and connections, one store.
    const alice1 = await connectTestClient(srv.url, 'alice', { keys, ratchet: held.store });
    const alice2 = await connectTestClient(srv.url, 'alice', { keys, ratchet: shared });
    const bob = await connectTestClient(srv.url, 'bob');
    clients.push(alice1, alice2, bob);
    await alice1.client.send('bob', 'hello');
    await bob.waitFor(1);

    const hold = held.holdNextSessionSave();
    const fromFirst = alice1.client.send('bob', 'from the first process'); // encrypts, then waits to save
    await hold.reached;
    await alice2.client.send('bob', 'from the second process'); // same session version: same chain step
    hold.release();
    await fromFirst;

    const received = await bob.waitFor(3);
    expect(received.map((m) => m.body).sort()).toEqual(['from the first process', 'from the second process', 'hello']);
    expect(bob.rejected).toEqual([]);
  });
});
