/**
 * The GroupStore contract (src/client/groups/group-store.ts), for the memory store, the SQLite one in
 * `ratchet.sqlite` and the browser's IndexedDB one (fake-indexeddb here): rows come back as saved, saves are compare-and-swap across two connections of one
 * file, KeyPackage private halves are one row each and deleted once, and nothing is in the file in clear.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from '../../../src/crypto/bytes.js';
import type { GroupRow, GroupStore, KeyPackageRow } from '../../../src/client/groups/group-store.js';
import { MemoryGroupStore } from '../../../src/client/groups/memory-group-store.js';
import { SqliteRatchetStore } from '../../../src/client/node/sqlite-ratchet-store.js';
import { newIdbAccount, rawText, reopenIdbAccount } from '../../helpers/browser-stores.js';
import { ACCOUNT_SCHEMA_VERSION, STORES, upgradeAccountDatabase } from '../../../src/client/browser/account-database.js';
import { openDatabase, requestResult, transact } from '../../../src/client/browser/idb.js';

const dirs: string[] = [];
const open: SqliteRatchetStore[] = [];
const idb: IDBDatabase[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const db of idb.splice(0)) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Two handles on one store: for SQLite two connections to one file (two processes of one user). */
async function twoHandles(kind: 'memory' | 'sqlite' | 'indexeddb'): Promise<{ a: GroupStore; b: GroupStore; path?: string; username?: string }> {
  if (kind === 'memory') {
    const store = new MemoryGroupStore();
    return { a: store, b: store };
  }
  if (kind === 'indexeddb') {
    const first = await newIdbAccount();
    const second = await reopenIdbAccount(first.username);
    idb.push(first.db, second.db);
    return { a: first.groups(), b: second.groups(), username: first.username };
  }
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-groups-'));
  dirs.push(dir);
  const path = join(dir, 'ratchet.sqlite');
  const secret = randomBytes(32);
  const first = await SqliteRatchetStore.open(path, secret, 'alice');
  const second = await SqliteRatchetStore.open(path, secret, 'alice');
  open.push(first, second);
  return { a: first.groups(), b: second.groups(), path };
}

function row(groupId: Uint8Array, marker: number, extra: Partial<GroupRow> = {}): GroupRow {
  return { groupId, state: Uint8Array.of(1, marker, 2, 3), lastSeq: marker, ...extra };
}

describe.each(['memory', 'sqlite', 'indexeddb'] as const)('%s group store', (kind) => {
  it('a group row comes back as saved, with its pending commit, refused commit, unsent texts and its name in the listing', async () => {
    const { a } = await twoHandles(kind);
    const groupId = randomBytes(32);
    const saved = row(groupId, 7, {
      pending: { epoch: 3, commit: randomBytes(40), welcome: randomBytes(50), add: [{ user: 'bob', device: 2 }], remove: [], state: randomBytes(60) },
      leaving: ['carol'],
      refusedCommit: { epoch: 3, seq: 9, from: { user: 'carol', device: 2 }, reason: 'a commit brings a device its user\'s list does not vouch for' },
      unsent: [{ message: randomBytes(70), epoch: 3, text: 'not seen ordered yet', sentAt: 1_795_000_000_000 }],
    });
    expect(await a.loadGroup(groupId)).toBeUndefined();
    expect(await a.saveGroup(saved, 'team', 0)).toBe(true);
    expect(await a.loadGroup(groupId)).toEqual({ row: saved, version: 1 });
    expect(await a.listGroups()).toEqual([{ groupId, name: 'team', inactive: false }]);
  });

  it('saves are compare-and-swap: of two writers of one version, one wins and the other sees the newer row', async () => {
    const { a, b } = await twoHandles(kind);
    const groupId = randomBytes(32);
    expect(await a.saveGroup(row(groupId, 1), undefined, 0)).toBe(true);
    expect(await b.saveGroup(row(groupId, 99), undefined, 0)).toBe(false);
    const seen = (await b.loadGroup(groupId))!;
    expect(await a.saveGroup(row(groupId, 2), undefined, seen.version)).toBe(true);
    expect(await b.saveGroup(row(groupId, 3), undefined, seen.version)).toBe(false);
    const now = (await b.loadGroup(groupId))!;
    expect(now).toEqual({ row: row(groupId, 2), version: 2 });
    expect(await b.saveGroup(row(groupId, 3, { inactive: true }), 'old team', now.version)).toBe(true);
    expect(await a.listGroups()).toEqual([{ groupId, name: 'old team', inactive: true }]);
  });

  it('KeyPackage private halves: one row per ref, deleted once, last-resort ones listed', async () => {
    const { a, b } = await twoHandles(kind);
    const refs = [randomBytes(64), randomBytes(64)];
    const pkg = (lastResort: boolean): KeyPackageRow => ({ message: randomBytes(100), initPrivateKey: randomBytes(32), hpkePrivateKey: randomBytes(32), lastResort, createdAt: 1_800_000_000_000 });
    const oneTime = pkg(false);
    const lastResort = pkg(true);
    await a.putKeyPackage(refs[0]!, oneTime);
    await a.putKeyPackage(refs[1]!, lastResort);
    expect(await b.loadKeyPackage(refs[0]!)).toEqual(oneTime);
    expect(await b.lastResortKeyPackages()).toEqual([{ ref: refs[1], createdAt: lastResort.createdAt }]);
    expect(await a.deleteKeyPackage(refs[0]!)).toBe(true);
    expect(await b.deleteKeyPackage(refs[0]!)).toBe(false);
    expect(await b.loadKeyPackage(refs[0]!)).toBeUndefined();
  });
});

describe('sqlite group store at rest', () => {
  it('the file holds neither a group id, a name, a state nor a private key in the clear', async () => {
    const { a, path } = await twoHandles('sqlite');
    const groupId = randomBytes(32);
    const state = randomBytes(200);
    const privateKey = randomBytes(32);
    await a.saveGroup({ groupId, state, lastSeq: 0 }, 'secret-team-name', 0);
    await a.putKeyPackage(randomBytes(64), { message: randomBytes(100), initPrivateKey: privateKey, hpkePrivateKey: randomBytes(32), lastResort: false, createdAt: 1 });
    const raw = new Database(path!, { readonly: true });
    const dump = Buffer.concat(
      ['mls_groups', 'mls_key_packages'].flatMap((t) => (raw.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[]).flatMap((r) => Object.values(r).map((v) => Buffer.from(String(v instanceof Buffer ? v.toString('latin1') : v), 'latin1')))),
    );
    raw.close();
    for (const secret of [groupId, state.subarray(0, 32), privateKey]) {
      expect(dump.includes(Buffer.from(secret))).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('base64url')))).toBe(false);
    }
    expect(dump.includes(Buffer.from('secret-team-name'))).toBe(false);
  });
});

describe('indexeddb group store at rest', () => {
  it('the database holds neither a group id, a name, a state nor a private key in the clear', async () => {
    const { a, username } = await twoHandles('indexeddb');
    const groupId = randomBytes(32);
    const state = randomBytes(200);
    const privateKey = randomBytes(32);
    await a.saveGroup({ groupId, state, lastSeq: 0 }, 'secret-team-name', 0);
    await a.putKeyPackage(randomBytes(64), { message: randomBytes(100), initPrivateKey: privateKey, hpkePrivateKey: randomBytes(32), lastResort: false, createdAt: 1 });
    const text = await rawText(username!);
    for (const secret of [groupId, state.subarray(0, 32), privateKey]) {
      expect(text.includes(Buffer.from(secret).toString('latin1'))).toBe(false);
      expect(text.includes(Buffer.from(secret).toString('base64url'))).toBe(false);
    }
    expect(text.includes('secret-team-name')).toBe(false);
  });
});

describe('indexeddb account database upgrade', () => {
  it('a version-1 database gains the group stores and keeps what it held', async () => {
    const name = `e2ee-chat/upgrade-${process.pid}-${Date.now()}`;
    const v1 = await openDatabase(indexedDB, name, 1, (db) => db.createObjectStore(STORES.meta));
    await transact(v1, STORES.meta, 'readwrite', (tx) => requestResult(tx.objectStore(STORES.meta).put('kept', 'probe')));
    v1.close();
    const v2 = await openDatabase(indexedDB, name, ACCOUNT_SCHEMA_VERSION, (db, oldVersion) => {
      expect(oldVersion).toBe(1);
      upgradeAccountDatabase(db, oldVersion);
    });
    try {
      expect(ACCOUNT_SCHEMA_VERSION).toBe(3);
      expect(Array.from({ length: v2.objectStoreNames.length }, (_, i) => v2.objectStoreNames.item(i))).toEqual(expect.arrayContaining([STORES.meta, STORES.groups, STORES.keyPackages]));
      expect(await transact(v2, STORES.meta, 'readonly', (tx) => requestResult(tx.objectStore(STORES.meta).get('probe')))).toBe('kept');
    } finally {
      v2.close();
    }
  });
});
