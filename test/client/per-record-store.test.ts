/**
 * The ratchet store per record (issue 10, item 5; src/client/ratchet-store.ts): no incoming message
 * reloads the local keys. A store that records every call shows what each step reads: a plain ratchet
 * message and a seal on an existing session read the peer's session and no key; an initial message reads
 * the identity (once per process) and exactly the prekeys it names, and deletes its one-time keys only
 * after the session it created is saved. A file written by 0.1 / 0.2 (every key in one sealed pickle row)
 * is rewritten as records when opened, and keeps working.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportLocalKeys, LocalKeys, MAX_LOCAL_ONE_TIME_PREKEYS, ONE_TIME_PREKEY_GRACE_MS, oneTimeToPickle, type LocalKeysPickle } from '../../src/client/local-prekeys.js';
import { capOneTimeKeys, reconcileOneTimeKeys } from '../../src/client/prekey-hygiene.js';
import { openLocalDatabase, RowSealer } from '../../src/client/node/sealed-rows.js';
import { SqliteRatchetStore, STORAGE_KEY_INFO } from '../../src/client/node/sqlite-ratchet-store.js';
import { MemoryRatchetStore, type PeerSessionPickle, type PreKeysUsed, type RatchetStore } from '../../src/client/ratchet-store.js';
import { SessionManager } from '../../src/client/session-manager.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { buildPreKeyBundle } from '../../src/e2ee/pqxdh/bundle.js';
import { generateKemPreKey, generateOneTimePreKeys } from '../../src/e2ee/pqxdh/prekeys.js';
import { lastResortUseId } from '../../src/e2ee/pqxdh/stores.js';
import { pickleSessionRecord } from '../../src/e2ee/ratchet/pickle.js';
import { SessionRecord } from '../../src/e2ee/ratchet/session-record.js';
import type { RatchetEnvelope } from '../../src/protocol/schemas.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
const stores: SqliteRatchetStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

type Call = [method: string, ...args: unknown[]];

/** The store with every call logged (method and arguments), in order. */
function recording(inner: RatchetStore): { store: RatchetStore; calls: Call[] } {
  const calls: Call[] = [];
  const store = new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push([String(prop), ...args]);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

const methods = (calls: Call[]) => calls.map(([m]) => m);
const KEY_READS = new Set(['loadIdentity', 'loadKeyState', 'loadPreKey', 'listSignedPreKeyIds', 'listOneTimePreKeys', 'isLastResortUseRecorded', 'createKeys']);

let nextMessage = 0;
const payload = (from: string, to: string, body: string) => ({ v: 1 as const, from, to, id: `${base64urlEncode(new Uint8Array(12))}${String(nextMessage++).padStart(8, '0')}`, sentAt: 1, body });

interface Party {
  name: string;
  secret: Uint8Array;
  key: Uint8Array;
  inner: RatchetStore;
  calls: Call[];
  sessions: SessionManager;
  received: string[];
}

/** Bob's keys as his published bundle names them: the next unused one-time keys of each kind. */
async function bundleFrom(bob: Party, used: { oneTime: Set<number>; kem: Set<number> }) {
  const keys = await exportLocalKeys(bob.inner, ed25519SigningKeyFromSeed(bob.secret), Date.now());
  const oneTime = [...keys.oneTime.keys()].find((id) => !used.oneTime.has(id));
  const kem = [...keys.kem.values()].find((k) => k.kind === 'one-time' && !used.kem.has(k.id)) ?? keys.lastResortKemPreKey;
  if (oneTime !== undefined) used.oneTime.add(oneTime);
  used.kem.add(kem.id);
  return buildPreKeyBundle(keys.identity, keys.currentSignedPreKey, kem, oneTime === undefined ? undefined : keys.oneTime.get(oneTime));
}

function party(name: string, inner: RatchetStore, others: Map<string, Party>, secret = crypto.getRandomValues(new Uint8Array(32))): Party {
  const { store, calls } = recording(inner);
  const used = { oneTime: new Set<number>(), kem: new Set<number>() };
  const p: Party = {
    name,
    secret,
    key: ed25519PublicKeyFromSecret(secret),
    inner,
    calls,
    received: [],
    sessions: new SessionManager({ store, signingKey: ed25519SigningKeyFromSeed(secret), fetchBundle: (peer) => bundleFrom(others.get(peer.user)!, used), onPreKeysConsumed: () => undefined }),
  };
  others.set(name, p);
  return p;
}

/** Gives `p` one-time keys of both kinds, as a refill would (reserved ids, INSERT only). */
async function refill(p: Party, count: number): Promise<void> {
  const keys = await exportLocalKeys(p.inner, ed25519SigningKeyFromSeed(p.secret), Date.now());
  const first = await p.inner.reservePreKeyIds('oneTime', count);
  await p.inner.addPreKeys('oneTime', (await generateOneTimePreKeys(first, count)).map(oneTimeToPickle));
  const firstKem = await p.inner.reservePreKeyIds('kem', count);
  const kem = await Promise.all(Array.from({ length: count }, (_, i) => generateKemPreKey(keys.identity, firstKem + i, 'one-time')));
  await p.inner.addPreKeys('kem', kem.map((k) => ({ id: k.id, kind: k.kind, publicKey: base64urlEncode(k.publicKey), secretKey: base64urlEncode(k.exportSecretKey()), signature: base64urlEncode(k.signature), createdAt: k.createdAt })));
}

const seal = (from: Party, to: Party, body: string) => from.sessions.seal(to.name, to.key, payload(from.name, to.name, body), true, 1 << 20, async () => undefined);
let serverId = 0;
const open = (to: Party, from: Party, e: RatchetEnvelope) =>
  to.sessions.open(from.name, to.name, `srv-${serverId++}`, e, from.key, async (p) => void to.received.push('body' in p ? p.body : ''));

describe('the ratchet store per record: what each step reads', () => {
  it('a plain ratchet message reads the peer session and no key record; a seal on an existing session reads none either', async () => {
    const everyone = new Map<string, Party>();
    const alice = party('alice', new MemoryRatchetStore(), everyone);
    const bob = party('bob', new MemoryRatchetStore(), everyone);
    await exportLocalKeys(bob.inner, ed25519SigningKeyFromSeed(bob.secret), Date.now()); // bob's first keys exist, as after his first login
    await open(bob, alice, await seal(alice, bob, 'hello'));
    await open(alice, bob, await seal(bob, alice, 'hi')); // alice's next messages are plain ones

    bob.calls.length = 0;
    await open(bob, alice, await seal(alice, bob, 'plain 1'));
    await open(bob, alice, await seal(alice, bob, 'plain 2'));
    expect(methods(bob.calls)).toEqual(['loadSession', 'saveSession', 'loadSession', 'saveSession']);

    bob.calls.length = 0;
    await open(alice, bob, await seal(bob, alice, 'answer'));
    expect(methods(bob.calls)).toEqual(['loadSession', 'saveSession']);
    expect(bob.received).toEqual(['hello', 'plain 1', 'plain 2']);
    expect(alice.received).toEqual(['hi', 'answer']);
  });

  it('an initial message reads the identity (once per process) and exactly the prekeys it names; its one-time keys go with the session save', async () => {
    const everyone = new Map<string, Party>();
    const bob = party('bob', new MemoryRatchetStore(), everyone);
    await exportLocalKeys(bob.inner, ed25519SigningKeyFromSeed(bob.secret), Date.now());
    await refill(bob, 5);
    const carol = party('carol', new MemoryRatchetStore(), everyone);
    const dave = party('dave', new MemoryRatchetStore(), everyone);
    bob.calls.length = 0;

    for (const [i, sender] of [carol, dave].entries()) {
      const from = bob.calls.length;
      await open(bob, sender, await seal(sender, bob, `first from ${sender.name}`));
      const calls = bob.calls.slice(from);
      const prekeyReads = calls.filter(([m]) => m === 'loadPreKey').map(([, kind, id]) => [kind, id]);
      // Bundles named signed prekey 1, and the lowest unused one-time keys of each kind.
      expect(prekeyReads).toEqual([['signed', 1], ['kem', 2 + i], ['oneTime', 1 + i]]);
      expect(calls.filter(([m]) => KEY_READS.has(m) && m !== 'loadPreKey').map(([m]) => m)).toEqual(i === 0 ? ['loadIdentity'] : []);
      // Deleted one record each, in the transaction that saves the session, and nothing after it.
      expect(methods(calls).at(-1)).toBe('saveSession');
      expect(calls.at(-1)![4]).toEqual({ oneTimeId: 1 + i, kemOneTimeId: 2 + i });
    }
    expect(bob.received).toEqual(['first from carol', 'first from dave']);
    expect((await bob.inner.listOneTimePreKeys('oneTime')).map((k) => k.id)).toEqual([3, 4, 5]);
  });

  it('an initial message under the last-resort key deletes nothing and records its use with the session save', async () => {
    const everyone = new Map<string, Party>();
    const bob = party('bob', new MemoryRatchetStore(), everyone);
    await exportLocalKeys(bob.inner, ed25519SigningKeyFromSeed(bob.secret), Date.now()); // no one-time keys: the bundle names the last-resort key
    const carol = party('carol', new MemoryRatchetStore(), everyone);
    bob.calls.length = 0;
    await open(bob, carol, await seal(carol, bob, 'under the last-resort key'));
    expect(methods(bob.calls).at(-1)).toBe('saveSession');
    const used = bob.calls.at(-1)![4] as PreKeysUsed;
    expect(Object.keys(used)).toEqual(['lastResortUse']);
    expect(await bob.inner.isLastResortUseRecorded(used.lastResortUse!.useId)).toBe(true);
    expect(bob.received).toEqual(['under the last-resort key']);
  });
});

/** A store whose session saves all lose the race once: another process saved first. */
function losingOnce(inner: RatchetStore): RatchetStore {
  let lost = false;
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'saveSession') {
        return async (peer: string, session: PeerSessionPickle, expected: number, used?: PreKeysUsed) => {
          if (!lost) {
            lost = true;
            // The other process's save: a session that has not seen this message, and a newer version.
            expect(await target.saveSession(peer, { v: 1, record: pickleSessionRecord(new SessionRecord()), delivered: [] }, expected)).toBe(true);
            return false;
          }
          return target.saveSession(peer, session, expected, used);
        };
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('an initial message whose session save loses the race', () => {
  it('keeps its one-time keys until the retried save succeeds, then deletes them once', async () => {
    const everyone = new Map<string, Party>();
    const inner = new MemoryRatchetStore();
    const bob = party('bob', losingOnce(inner), everyone);
    bob.inner = inner;
    await exportLocalKeys(inner, ed25519SigningKeyFromSeed(bob.secret), Date.now());
    await refill(bob, 2);
    const carol = party('carol', new MemoryRatchetStore(), everyone);
    const initial = await seal(carol, bob, 'raced');
    // The first attempt lost: its used keys must still be there for the retry to decrypt again.
    await expect(open(bob, carol, initial)).resolves.toEqual({ status: 'accepted' });
    expect(bob.received).toEqual(['raced']);
    expect((await inner.listOneTimePreKeys('oneTime')).map((k) => k.id)).toEqual([2]);
    expect((await inner.listOneTimePreKeys('kem')).map((k) => k.id)).toEqual([3]);
  });
});

/** The schema 0.1.1 and 0.2 left (0.1: the first statement only; its rows read the same). */
const OLD_SCHEMA = [
  `CREATE TABLE secrets (key TEXT PRIMARY KEY, data BLOB NOT NULL) STRICT, WITHOUT ROWID;`,
  `ALTER TABLE secrets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
];

/** Writes `ratchet.sqlite` as 0.1 / 0.2 did: every key in one sealed "keys" row, sessions beside it. */
async function writeOldFile(path: string, secret: Uint8Array, pickle: LocalKeysPickle, session: PeerSessionPickle): Promise<void> {
  const db = await openLocalDatabase(path, OLD_SCHEMA);
  const rows = new RowSealer(secret, 'bob', STORAGE_KEY_INFO);
  for (const [name, value, version] of [['keys', pickle, 7], ['session:carol', session, 3]] as const) {
    const key = rows.keyOf(name);
    db.prepare('INSERT INTO secrets (key, data, version) VALUES (?, ?, ?)').run(key, rows.seal(key, value), version);
  }
  db.close();
}

describe.each([
  ['0.1 (no last-resort uses, no handed-out marks)', false],
  ['0.2 (with last-resort uses and handed-out marks)', true],
] as const)('a ratchet.sqlite written by %s', (_name, recent) => {
  it('is rewritten as records in place when opened: same keys, same sessions, no pickle left, and it keeps working', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-ratchet-migrate-'));
    dirs.push(dir);
    const path = join(dir, 'ratchet.sqlite');
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const old = await LocalKeys.generate(ed25519SigningKeyFromSeed(secret), 1_000);
    for (const k of await generateOneTimePreKeys(1, 4)) old.oneTime.set(k.id, k);
    for (const id of [2, 3]) old.kem.set(id, await generateKemPreKey(old.identity, id, 'one-time', { clock: () => 1_000 }));
    old.nextIds = { signed: 2, oneTime: 5, kem: 4 };
    const use = { kemPreKeyId: 1, signedPreKeyId: 1, baseKey: new Uint8Array(32).fill(5) };
    if (recent) {
      await old.recordLastResortUse(use);
      old.handedOut.oneTime.set(1, 0); // noticed at time 0: a mark must survive even when it is 0
      old.handedOut.kem.set(3, 2_000);
    }
    let pickle = old.pickle();
    if (!recent) {
      const { lastResortUses: _u, handedOut: _h, ...v01 } = pickle;
      pickle = v01;
    }
    const session: PeerSessionPickle = { v: 1, record: { sessions: [] } as unknown as PeerSessionPickle['record'], delivered: [['srv-1', 'm-1']] };
    await writeOldFile(path, secret, pickle, session);

    const store = await SqliteRatchetStore.open(path, secret, 'bob');
    stores.push(store);
    const keys = await exportLocalKeys(store, ed25519SigningKeyFromSeed(secret), Date.now());
    expect(keys.identity.dhKeyPair.publicKey).toEqual(old.identity.dhKeyPair.publicKey);
    expect([...keys.oneTime.keys()]).toEqual([1, 2, 3, 4]);
    expect([...keys.kem.keys()]).toEqual([1, 2, 3]);
    expect(keys.kem.get(1)!.kind).toBe('last-resort');
    expect(keys.kem.get(3)!.publicKey).toEqual(old.kem.get(3)!.publicKey);
    expect(keys.oneTime.get(4)!.keyPair.publicKey).toEqual(old.oneTime.get(4)!.keyPair.publicKey);
    expect(await store.loadKeyState()).toEqual({ currentSignedId: 1, lastResortId: 1, nextIds: { signed: 2, oneTime: 5, kem: 4 } });
    expect(keys.pickle().handedOut).toEqual(recent ? { oneTime: [[1, 0]], kem: [[3, 2_000]] } : { oneTime: [], kem: [] });
    expect(await store.isLastResortUseRecorded(lastResortUseId(use))).toBe(recent);
    expect(await store.loadSession('carol')).toEqual({ value: session, version: 3 });
    // Ids keep growing from where the pickle left them: a late initial message never meets another key.
    expect(await store.reservePreKeyIds('oneTime', 1)).toBe(5);
    store.close();

    const raw = new Database(path, { readonly: true });
    const rows = new RowSealer(secret, 'bob', STORAGE_KEY_INFO);
    expect(raw.prepare('SELECT 1 FROM secrets WHERE key = ?').get(rows.keyOf('keys'))).toBeUndefined();
    expect(raw.pragma('user_version', { simple: true })).toBe(4);
    raw.close();

    // Reopened (the migration does not run twice), the user receives an initial message naming keys the
    // old pickle held, and its one-time keys are deleted.
    const reopened = await SqliteRatchetStore.open(path, secret, 'bob');
    stores.push(reopened);
    const everyone = new Map<string, Party>();
    const bob = party('bob', reopened, everyone, secret);
    const dave = party('dave', new MemoryRatchetStore(), everyone);
    await open(bob, dave, await seal(dave, bob, 'after the upgrade'));
    expect(bob.received).toEqual(['after the upgrade']);
    expect((await reopened.listOneTimePreKeys('oneTime')).map((k) => k.id)).toEqual([2, 3, 4]);
    expect((await reopened.listOneTimePreKeys('kem')).map((k) => k.id)).toEqual([3]);
  });
});

/** A fresh store of each implementation, holding a new user's first keys. */
async function freshStore(kind: 'memory' | 'sqlite' | 'indexeddb', secret: Uint8Array): Promise<RatchetStore> {
  let store: RatchetStore = kind === 'indexeddb' ? (await newIdbAccount()).ratchet() : new MemoryRatchetStore();
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-ratchet-records-'));
    dirs.push(dir);
    const sqlite = await SqliteRatchetStore.open(join(dir, 'ratchet.sqlite'), secret, 'bob');
    stores.push(sqlite);
    store = sqlite;
  }
  await exportLocalKeys(store, ed25519SigningKeyFromSeed(secret), 0);
  return store;
}

describe.each(['memory', 'sqlite', 'indexeddb'] as const)('%s ratchet store: records beside the keys', (kind) => {
  it('handed-out marks are set, cleared and expire per record; the cap takes the earliest handed-out first', async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const store = await freshStore(kind, secret);
    const count = MAX_LOCAL_ONE_TIME_PREKEYS + 2;
    const first = await store.reservePreKeyIds('oneTime', count);
    const keys = await generateOneTimePreKeys(first, count);
    await store.addPreKeys('oneTime', keys.map(oneTimeToPickle));
    const all = keys.map((k) => k.id);
    // The server lists all but the first three: those are handed out from now (t = 10).
    await reconcileOneTimeKeys(store, { oneTimeIds: all.slice(3, 200) }, 10);
    expect((await store.listOneTimePreKeys('oneTime')).filter((k) => k.handedOutSince !== undefined)).toEqual(all.slice(0, 3).map((id) => ({ id, handedOutSince: 10 })));
    // Listed again: the mark was a race with an upload.
    await reconcileOneTimeKeys(store, { oneTimeIds: [all[2]!, ...all.slice(3, 200)] }, 20);
    expect((await store.listOneTimePreKeys('oneTime')).filter((k) => k.handedOutSince !== undefined).map((k) => k.id)).toEqual(all.slice(0, 2));
    // Two over the cap: the two handed-out keys go, however low the other ids.
    expect(await capOneTimeKeys(store)).toBe(true);
    expect((await store.listOneTimePreKeys('oneTime')).map((k) => k.id)).toEqual(all.slice(2));
    // A mark expires ONE_TIME_PREKEY_GRACE_MS after it was set.
    await reconcileOneTimeKeys(store, { oneTimeIds: all.slice(3, 200) }, 30);
    await reconcileOneTimeKeys(store, { oneTimeIds: all.slice(3, 200) }, 30 + ONE_TIME_PREKEY_GRACE_MS - 1);
    expect(await store.loadPreKey('oneTime', all[2]!)).toBeDefined();
    await reconcileOneTimeKeys(store, { oneTimeIds: all.slice(3, 200) }, 30 + ONE_TIME_PREKEY_GRACE_MS);
    expect(await store.loadPreKey('oneTime', all[2]!)).toBeUndefined();
  });

  it('a recorded last-resort use is forgotten once its signed prekey is deleted (a replay can no longer decrypt)', async () => {
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const store = await freshStore(kind, secret);
    const { currentSignedId, lastResortId } = (await store.loadKeyState())!;
    const signed = (await store.loadPreKey('signed', currentSignedId))!;
    const second = await store.reservePreKeyIds('signed', 1);
    await store.addPreKeys('signed', [{ ...signed, id: second }]);
    const use = (signedPreKeyId: number, byte: number) => lastResortUseId({ kemPreKeyId: lastResortId, signedPreKeyId, baseKey: new Uint8Array(32).fill(byte) });
    await store.recordLastResortUse(use(second, 1), lastResortId, second);
    expect(await store.isLastResortUseRecorded(use(second, 1))).toBe(true);
    expect(await store.removePreKey('signed', second)).toBe(true); // rotated out after its grace period
    await store.recordLastResortUse(use(currentSignedId, 2), lastResortId, currentSignedId);
    expect(await store.isLastResortUseRecorded(use(second, 1))).toBe(false);
    expect(await store.isLastResortUseRecorded(use(currentSignedId, 2))).toBe(true);
  });
});
