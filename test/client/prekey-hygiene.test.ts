/**
 * One-time prekey hygiene on the client (issue 9, item 7; issue 15, point 15): keys the server handed out
 * and no one used are deleted after a grace period, the local stock stays capped under a drain, each kind
 * is refilled on its own, and a running client refills when the server pushes `prekeys.low`.
 *
 * The first groups run PreKeyPublisher against a fake server connection that answers like a 0.2 server
 * (with the id lists of the contract) or like an older one (without), on an injected clock. The last
 * groups run a real ChatClient against the real server, playing the server's push by hand, and against
 * the hostile-server harness, which lies about the stock and floods pushes.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  exportLocalKeys,
  LocalKeys,
  MAX_LOCAL_KEM_ONE_TIME_PREKEYS,
  MAX_LOCAL_ONE_TIME_PREKEYS,
  ONE_TIME_PREKEY_GRACE_MS,
} from '../../src/client/local-prekeys.js';
import { KEM_ONE_TIME_PREKEY_TARGET, ONE_TIME_PREKEY_TARGET, PREKEY_REFILL_THRESHOLD, PreKeyPublisher } from '../../src/client/prekey-publisher.js';
import { reconcileOneTimeKeys } from '../../src/client/prekey-hygiene.js';
import { MemoryRatchetStore, type RatchetStore } from '../../src/client/ratchet-store.js';
import type { ServerConnection } from '../../src/client/server-connection.js';
import type { PreKeyCountResult, PreKeysUploadPayload } from '../../src/protocol/prekey-schemas.js';
import { MAX_STORED_ONE_TIME_PREKEYS } from '../../src/protocol/limits.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { HostileServer } from '../helpers/hostile-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';

const SECRET = new Uint8Array(32).fill(7);
const DAY = 24 * 60 * 60 * 1000;
type Kind = 'oneTime' | 'kem';

/** The prekey service as a server would answer it; `listIds: false` answers like a server before 0.2. */
class FakePreKeyServer {
  listIds = true;
  identityKey: string | null = null;
  signedPreKeyId: number | null = null;
  lastResortKemPreKeyId: number | null = null;
  readonly stored = { oneTime: new Set<number>(), kem: new Set<number>() };
  readonly uploads: PreKeysUploadPayload[] = [];
  counts = 0;

  call: Pick<ServerConnection, 'call'>['call'] = async (event, payload) => {
    if (event === 'prekeys.count') this.counts++;
    else if (event === 'prekeys.upload') {
      const p = payload as PreKeysUploadPayload;
      this.uploads.push(p);
      if (p.identity.dhKey !== this.identityKey) (this.stored.oneTime.clear(), this.stored.kem.clear());
      this.identityKey = p.identity.dhKey;
      if (p.signedPreKey) this.signedPreKeyId = p.signedPreKey.id;
      if (p.lastResortKemPreKey) this.lastResortKemPreKeyId = p.lastResortKemPreKey.id;
      for (const k of p.oneTimePreKeys ?? []) this.stored.oneTime.add(k.id);
      for (const k of p.kemPreKeys ?? []) this.stored.kem.add(k.id);
    } else throw new Error(`unexpected event ${event}`);
    // Both events this fake answers have the PreKeyCountResult answer.
    return this.answer() as never;
  };

  answer(): { ok: true } & PreKeyCountResult {
    return {
      ok: true,
      identityKey: this.identityKey,
      signedPreKeyId: this.signedPreKeyId,
      lastResortKemPreKeyId: this.lastResortKemPreKeyId,
      oneTime: this.stored.oneTime.size,
      kemOneTime: this.stored.kem.size,
      ...(this.listIds && { oneTimeIds: [...this.stored.oneTime], kemOneTimeIds: [...this.stored.kem] }),
    };
  }

  /** Bundle fetches: the lowest ids go first, as the real server hands them out. */
  handOut(kind: Kind, count: number): number[] {
    const ids = [...this.stored[kind]].sort((a, b) => a - b).slice(0, count);
    for (const id of ids) this.stored[kind].delete(id);
    return ids;
  }
}

function setup(store: RatchetStore = new MemoryRatchetStore()) {
  const server = new FakePreKeyServer();
  const clock = { now: 1_800_000_000_000 };
  // The keys lock as SessionManager.withKeysLocked serialises it: one run after another.
  let tail: Promise<unknown> = Promise.resolve();
  const withKeysLocked = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work);
    tail = run.catch(() => undefined);
    return run;
  };
  const publisher = new PreKeyPublisher(store, ed25519SigningKeyFromSeed(SECRET), server, withKeysLocked, () => clock.now);
  const local = async () => {
    const keys = await exportLocalKeys(store, ed25519SigningKeyFromSeed(SECRET), clock.now);
    return { oneTime: new Set<number>(keys.oneTime.keys()), kem: new Set<number>([...keys.kem.values()].filter((k) => k.kind === 'one-time').map((k) => k.id)), keys };
  };
  return { server, store, clock, publisher, local };
}

const sorted = (ids: Iterable<number>) => [...ids].sort((a, b) => a - b);

/** A store holding a new user's keys plus one-time X25519 keys with these ids. */
async function storeWithOneTimeKeys(ids: number[], store: RatchetStore = new MemoryRatchetStore()): Promise<RatchetStore> {
  const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(SECRET), 0);
  for (const id of ids) keys.oneTime.set(id, { id, keyPair: keys.identity.dhKeyPair });
  await store.createKeys(keys.pickle());
  return store;
}

/** The stores these run against: the reference one, and the browser's (IndexedDB). */
const freshStore = async (kind: 'memory' | 'indexeddb'): Promise<RatchetStore> => (kind === 'memory' ? new MemoryRatchetStore() : (await newIdbAccount()).ratchet());

describe.each(['memory', 'indexeddb'] as const)('one-time prekeys the server handed out and no one used (%s store)', (kind) => {
  it(`are deleted ONE_TIME_PREKEY_GRACE_MS (${ONE_TIME_PREKEY_GRACE_MS / DAY} days) after the client first noticed, not before`, async () => {
    const { server, clock, publisher, local } = setup(await freshStore(kind));
    await publisher.maintain();
    const handed = { oneTime: server.handOut('oneTime', 5), kem: server.handOut('kem', 3) };
    clock.now += DAY;
    await publisher.maintain(); // first noticed now
    const noticed = clock.now;
    clock.now = noticed + ONE_TIME_PREKEY_GRACE_MS - 1;
    await publisher.maintain();
    let keys = await local();
    for (const kind of ['oneTime', 'kem'] as const) for (const id of handed[kind]) expect(keys[kind].has(id), `${kind} ${id} kept within the grace period`).toBe(true);
    clock.now = noticed + ONE_TIME_PREKEY_GRACE_MS;
    await publisher.maintain();
    keys = await local();
    // Exactly the keys the server still holds remain, of each kind.
    expect(sorted(keys.oneTime)).toEqual(sorted(server.stored.oneTime));
    expect(sorted(keys.kem)).toEqual(sorted(server.stored.kem));
    expect([keys.keys.handedOut.oneTime.size, keys.keys.handedOut.kem.size]).toEqual([0, 0]);
  });

  it('a key above every id the server lists is not marked: it may not be uploaded yet', async () => {
    const store = await storeWithOneTimeKeys([1, 2, 3], await freshStore(kind));
    await reconcileOneTimeKeys(store, { oneTimeIds: [2] }, 0);
    expect((await exportLocalKeys(store, ed25519SigningKeyFromSeed(SECRET), 0)).handedOut.oneTime).toEqual(new Map([[1, 0]]));
    await reconcileOneTimeKeys(store, { oneTimeIds: [] }, ONE_TIME_PREKEY_GRACE_MS); // all handed out: nothing to compare ids with
    expect([...(await exportLocalKeys(store, ed25519SigningKeyFromSeed(SECRET), 0)).oneTime.keys()]).toEqual([2, 3]); // the marked key expires all the same; the others wait
  });

  it('a key the server lists again is not handed out after all (its mark was a race with an upload)', async () => {
    const { server, clock, publisher, local } = setup(await freshStore(kind));
    await publisher.maintain();
    const [hidden] = server.handOut('oneTime', 1);
    clock.now += DAY;
    await publisher.maintain(); // marked
    server.stored.oneTime.add(hidden!); // listed again
    await publisher.maintain(); // unmarked
    clock.now += ONE_TIME_PREKEY_GRACE_MS;
    await publisher.maintain();
    expect((await local()).oneTime.has(hidden!)).toBe(true);
  });

  it('an answer without id lists (a server before 0.2) deletes nothing, however long', async () => {
    const { server, clock, publisher, local } = setup(await freshStore(kind));
    server.listIds = false;
    await publisher.maintain();
    const before = await local();
    server.handOut('oneTime', 5);
    server.handOut('kem', 3);
    for (const step of [DAY, ONE_TIME_PREKEY_GRACE_MS, ONE_TIME_PREKEY_GRACE_MS]) {
      clock.now += step;
      await publisher.maintain();
    }
    const after = await local();
    expect(sorted(after.oneTime)).toEqual(sorted(before.oneTime));
    expect(sorted(after.kem)).toEqual(sorted(before.kem));
  });

  it('a malformed or oversized id list counts as absent', async () => {
    const store = await storeWithOneTimeKeys([1], await freshStore(kind));
    expect(await reconcileOneTimeKeys(store, { oneTimeIds: ['1'], kemOneTimeIds: null }, 0)).toBe(false);
    expect(await reconcileOneTimeKeys(store, { oneTimeIds: Array.from({ length: MAX_STORED_ONE_TIME_PREKEYS + 1 }, (_, i) => i + 100) }, 0)).toBe(false);
    expect(await store.listOneTimePreKeys('oneTime')).toEqual([{ id: 1 }]);
    expect(await reconcileOneTimeKeys(store, { oneTimeIds: [5] }, 0)).toBe(true); // a well-formed list: key 1 is handed out
    expect(await store.listOneTimePreKeys('oneTime')).toEqual([{ id: 1, handedOutSince: 0 }]);
  });
});

describe.each(['memory', 'indexeddb'] as const)('the local one-time key stock under a drain (%s store)', (kind) => {
  it(`stays within MAX_LOCAL_ONE_TIME_PREKEYS (${MAX_LOCAL_ONE_TIME_PREKEYS}) and MAX_LOCAL_KEM_ONE_TIME_PREKEYS (${MAX_LOCAL_KEM_ONE_TIME_PREKEYS}), oldest handed-out first, never losing a key the server still lists`, async () => {
    const { server, clock, publisher, local, store } = setup(await freshStore(kind));
    await publisher.maintain();
    // As one pickle, the 0.1 layout: measurable where the identity key can be exported (not the browser's, which WebCrypto holds).
    const pickledSize = async () => (kind === 'memory' ? JSON.stringify((await exportLocalKeys(store, ed25519SigningKeyFromSeed(SECRET), clock.now)).pickle()).length : undefined);
    const firstSize = await pickledSize();
    const handedOut = { oneTime: [] as number[], kem: [] as number[] };
    for (let round = 0; round < 8; round++) {
      // Someone fetches bundles until only 10 of each kind are left; the client refills (within the grace period).
      handedOut.oneTime.push(...server.handOut('oneTime', server.stored.oneTime.size - 10));
      handedOut.kem.push(...server.handOut('kem', server.stored.kem.size - 10));
      clock.now += 60 * 60 * 1000;
      await publisher.maintain();
      const keys = await local();
      expect(keys.oneTime.size).toBeLessThanOrEqual(MAX_LOCAL_ONE_TIME_PREKEYS);
      expect(keys.kem.size).toBeLessThanOrEqual(MAX_LOCAL_KEM_ONE_TIME_PREKEYS);
      for (const kind of ['oneTime', 'kem'] as const) for (const id of server.stored[kind]) expect(keys[kind].has(id), `listed ${kind} ${id} kept`).toBe(true);
    }
    const keys = await local();
    expect(keys.kem.size).toBe(MAX_LOCAL_KEM_ONE_TIME_PREKEYS);
    for (const kind of ['oneTime', 'kem'] as const) {
      // The handed-out keys still kept are the most recently handed out.
      const kept = handedOut[kind].filter((id) => keys[kind].has(id));
      expect(kept).toEqual(handedOut[kind].slice(handedOut[kind].length - kept.length));
    }
    const drainedSize = await pickledSize();
    if (kind === 'memory') console.log(`local keys (all records, as one pickle): ${firstSize} B after the first upload, ${drainedSize} B after 8 drains (cap ${MAX_LOCAL_ONE_TIME_PREKEYS} + ${MAX_LOCAL_KEM_ONE_TIME_PREKEYS} one-time keys)`);
  }, 60_000);
});

describe('refill rule (issue 15, point 15): each kind on its own, to its own target', () => {
  it('refills only the kind that ran low, even when the other is below its target', async () => {
    const { server, publisher } = setup();
    await publisher.maintain();
    expect(server.answer()).toMatchObject({ oneTime: ONE_TIME_PREKEY_TARGET, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET });

    server.handOut('oneTime', ONE_TIME_PREKEY_TARGET - PREKEY_REFILL_THRESHOLD + 1); // X25519 below the threshold
    server.handOut('kem', 5); // ML-KEM below its target, above the threshold
    server.uploads.length = 0;
    await publisher.maintain();
    expect(server.uploads.flatMap((u) => u.kemPreKeys ?? [])).toHaveLength(0);
    expect(server.answer()).toMatchObject({ oneTime: ONE_TIME_PREKEY_TARGET, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET - 5 });

    server.handOut('kem', KEM_ONE_TIME_PREKEY_TARGET - 5 - PREKEY_REFILL_THRESHOLD + 1); // now ML-KEM runs low
    server.handOut('oneTime', 30); // X25519 below its target, above the threshold
    server.uploads.length = 0;
    await publisher.maintain();
    expect(server.uploads.flatMap((u) => u.oneTimePreKeys ?? [])).toHaveLength(0);
    expect(server.answer()).toMatchObject({ oneTime: ONE_TIME_PREKEY_TARGET - 30, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET });
  });

  it('a flood of refill requests while one waits for the keys lock costs one run', async () => {
    const { server, publisher } = setup();
    await publisher.maintain();
    const before = server.counts;
    await Promise.all(Array.from({ length: 50 }, () => publisher.maintain()));
    expect(server.counts - before).toBe(1);
  });
});

describe("a running client and the server's prekeys.low push", () => {
  let srv: TestServer | undefined;
  const clients: TestClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.client.close();
    await srv?.stop();
  });

  it('refills at once, the kind that ran low only', async () => {
    srv = await startTestServer();
    const bob = await connectTestClient(srv.url, 'bob');
    const alice = await connectTestClient(srv.url, 'alice');
    clients.push(bob, alice);
    const count = () => bob.client['connection'].call('prekeys.count', {});
    // Alice fetches bundles until Bob's ML-KEM stock is below the threshold; X25519 stays above it.
    const fetches = KEM_ONE_TIME_PREKEY_TARGET - PREKEY_REFILL_THRESHOLD + 1;
    for (let i = 0; i < fetches; i++) await alice.client['connection'].call('prekeys.bundle', { username: 'bob', devices: [1] });
    expect(await count()).toMatchObject({ oneTime: ONE_TIME_PREKEY_TARGET - fetches, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET - fetches });
    srv.server.io.to('user:bob').emit('prekeys.low', { oneTime: ONE_TIME_PREKEY_TARGET - fetches, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET - fetches });
    const refilled = await waitUntil(async () => ((await count()).kemOneTime === KEM_ONE_TIME_PREKEY_TARGET ? true : undefined), 10_000, 'the refill');
    expect(refilled).toBe(true);
    expect(await count()).toMatchObject({ oneTime: ONE_TIME_PREKEY_TARGET - fetches, kemOneTime: KEM_ONE_TIME_PREKEY_TARGET });
  });
});

describe('a server that lies about the stock and floods prekeys.low', () => {
  let srv: TestServer | undefined;
  let hostile: HostileServer | undefined;
  let bob: TestClient | undefined;
  afterEach(async () => {
    await bob?.client.close();
    await hostile?.close();
    await srv?.stop();
  });

  it('costs one refill per flood, and the local one-time keys stay within their caps', async () => {
    srv = await startTestServer();
    hostile = await HostileServer.start(srv.url);
    const store = new MemoryRatchetStore();
    bob = await connectTestClient(hostile.url, 'bob', { ratchet: store });
    // From now on: "you have no one-time keys left and I store none of them", whatever was uploaded.
    const lie = async (conn: { ask(e: 'prekeys.count', p: unknown): Promise<unknown> }) => ({
      ...((await conn.ask('prekeys.count', {})) as object),
      oneTime: 0,
      kemOneTime: 0,
      oneTimeIds: [],
      kemOneTimeIds: [],
    });
    hostile.onRequest('prekeys.count', (_payload, conn) => lie(conn));
    hostile.onRequest('prekeys.upload', (_payload, conn) => lie(conn));
    const counts = () => hostile!.frames.filter((f) => f.kind === 'request' && f.event === 'prekeys.count' && f.user === 'bob').length;
    const secret = base64urlDecode(bob.identity.keys.signing.d);
    for (let flood = 0; flood < 4; flood++) {
      const before = counts();
      for (let i = 0; i < 50; i++) hostile.push('bob', 'prekeys.low', { oneTime: 0, kemOneTime: 0 });
      // Barrier: the answer to a later request comes after every push on this connection was handled,
      // and a refill requested after them runs after every refill they queued (the keys lock is FIFO).
      await bob.client.onlineUsers();
      await bob.client['preKeys']!.maintain();
      expect(counts() - before).toBeGreaterThanOrEqual(1);
      expect(counts() - before).toBeLessThanOrEqual(3); // 51 without coalescing
    }
    const keys = await exportLocalKeys(store, ed25519SigningKeyFromSeed(secret), Date.now());
    const kem = [...keys.kem.values()].filter((k) => k.kind === 'one-time');
    expect(keys.oneTime.size).toBe(MAX_LOCAL_ONE_TIME_PREKEYS);
    expect(kem).toHaveLength(MAX_LOCAL_KEM_ONE_TIME_PREKEYS);
    // The keys of the latest upload are all kept: the cap takes the oldest handed-out ones.
    expect(Math.min(...keys.oneTime.keys())).toBe(keys.nextIds.oneTime - MAX_LOCAL_ONE_TIME_PREKEYS);
    expect(bob.client.connected).toBe(true);
  }, 60_000);
});
