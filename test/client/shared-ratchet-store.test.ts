/**
 * Two processes of one user (a `receive` and a `send`, say) share one ratchet store. Saves are
 * compare-and-swap (src/client/ratchet-store.ts): a writer that loaded an older session or key set must
 * redo its work instead of overwriting, or it would reuse a message key (two messages under one chain
 * step) or lose the other writer's new prekeys. These tests force the race deterministically by holding
 * one writer's save until the other has saved.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateLocalKeys, updateLocalKeys, type LocalKeysPickle } from '../../src/client/local-prekeys.js';
import { SqliteRatchetStore } from '../../src/client/node/sqlite-ratchet-store.js';
import { MemoryRatchetStore, type PeerSessionPickle, type RatchetStore } from '../../src/client/ratchet-store.js';
import { generateOneTimePreKeys } from '../../src/e2ee/pqxdh/prekeys.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

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

/** Two handles on one store, as two processes would have: two connections to one SQLite file, or one memory store. */
async function twoHandles(kind: 'sqlite' | 'memory'): Promise<[RatchetStore, RatchetStore]> {
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

describe.each(['sqlite', 'memory'] as const)('%s ratchet store: compare-and-swap saves', (kind) => {
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

  it('two read-modify-writes of the local keys at once both take effect', async () => {
    const [a, b] = await twoHandles(kind);
    await loadOrCreateLocalKeys(a, SECRET, Date.now());
    let releaseFirst!: () => void;
    const held = new Promise<void>((resolve) => (releaseFirst = resolve));
    let firstLoaded!: () => void;
    const loaded = new Promise<void>((resolve) => (firstLoaded = resolve));
    let firstRuns = 0;
    // The first writer loads, adds key 5001, then waits before saving; the second adds 5002 and saves.
    const first = updateLocalKeys(a, SECRET, Date.now(), async (keys) => {
      firstRuns++;
      if (firstRuns === 1) {
        firstLoaded();
        await held;
      }
      const [k] = await generateOneTimePreKeys(5001, 1);
      keys.oneTime.set(k!.id, k!);
      return { save: true, result: undefined };
    });
    await loaded; // the first writer holds its copy of the keys: the second one's save makes it stale
    await updateLocalKeys(b, SECRET, Date.now(), async (keys) => {
      const [k] = await generateOneTimePreKeys(5002, 1);
      keys.oneTime.set(k!.id, k!);
      return { save: true, result: undefined };
    });
    releaseFirst();
    await first;
    expect(firstRuns).toBe(2); // its first save lost the race, so it ran again on the newer keys
    const ids = ((await a.loadKeys())!.value as LocalKeysPickle).oneTime.map((o) => o.id);
    expect(ids).toEqual(expect.arrayContaining([5001, 5002]));
  });
});

describe('sqlite ratchet store: upgrade', () => {
  it('a file written before versions existed opens, and its rows count as version 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-ratchet-store-'));
    dirs.push(dir);
    const path = join(dir, 'ratchet.sqlite');
    const v1 = await SqliteRatchetStore.open(path, SECRET, 'alice');
    await v1.saveSession('bob', session(1), 0);
    v1.close();
    // Turn the file back into the first schema, as an older release left it.
    const db = new Database(path);
    db.exec('CREATE TABLE old (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID; INSERT INTO old SELECT key, data FROM secrets; DROP TABLE secrets; ALTER TABLE old RENAME TO secrets;');
    db.pragma('user_version = 1');
    db.close();
    const upgraded = await SqliteRatchetStore.open(path, SECRET, 'alice');
    sqliteStores.push(upgraded);
    expect(await upgraded.loadSession('bob')).toEqual({ value: session(1), version: 1 });
    expect(await upgraded.saveSession('bob', session(2), 1)).toBe(true);
  });
});

/** A store whose next session save waits until released: the first writer of a race, held back. */
class HeldStore implements RatchetStore {
  private hold: { reached: () => void; released: Promise<void> } | undefined;
  constructor(private readonly inner: RatchetStore) {}

  holdNextSessionSave(): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    this.hold = { reached, released: new Promise<void>((r) => (release = r)) };
    return { reached: reachedP, release };
  }

  loadKeys() {
    return this.inner.loadKeys();
  }
  createKeys(keys: LocalKeysPickle) {
    return this.inner.createKeys(keys);
  }
  saveKeys(keys: LocalKeysPickle, expected: number) {
    return this.inner.saveKeys(keys, expected);
  }
  loadSession(peer: string) {
    return this.inner.loadSession(peer);
  }
  async saveSession(peer: string, s: PeerSessionPickle, expected: number) {
    const hold = this.hold;
    if (hold) {
      this.hold = undefined;
      hold.reached();
      await hold.released;
    }
    return this.inner.saveSession(peer, s, expected);
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
    const alice1 = await connectTestClient(srv.url, 'alice', { keys, ratchet: held });
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
