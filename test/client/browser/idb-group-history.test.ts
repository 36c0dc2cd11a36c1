/**
 * The group history of the browser (src/client/browser/idb-group-history.ts) in fake-indexeddb: an entry
 * is recorded once by its id, a group's conversation reads back oldest first up to a limit, incoming
 * entries wait until marked shown, nothing of an entry shows in the stored bytes, and a version-2
 * database gains the store and keeps its groups.
 */
import { describe, expect, it } from 'vitest';
import { ACCOUNT_SCHEMA_VERSION, STORES, upgradeAccountDatabase } from '../../../src/client/browser/account-database.js';
import { groupChangeEntry, groupTextEntry } from '../../../src/client/groups/group-history.js';
import { IdbGroupHistory } from '../../../src/client/browser/idb-group-history.js';
import { openDatabase, requestResult, transact } from '../../../src/client/browser/idb.js';
import { freshAccountName, newIdbAccount, rawText } from '../../helpers/browser-stores.js';

const text = (groupId: string, seq: number, body: string, direction: 'in' | 'out' = 'in') =>
  groupTextEntry({ groupId, name: 'secret-team-name', from: { user: 'bob', device: 2 }, text: body, sentAt: 1000 + seq, seq }, direction);

describe('the browser group history', () => {
  it('records an entry once, reads a group back oldest first within its limit, and keeps groups apart', async () => {
    const account = await newIdbAccount();
    const history = new IdbGroupHistory(account.db, account.vault.sealer);
    expect(await history.record(text('g1', 1, 'one'), { displayed: false })).toBe('new');
    expect(await history.record(text('g1', 1, 'one'), { displayed: false })).toBe('duplicate');
    await history.record(text('g2', 1, 'elsewhere'), { displayed: false });
    await history.record(groupChangeEntry({ groupId: 'g1', name: 'team', epoch: 3, added: [{ user: 'carol', device: 1 }], removed: [] }, 5000), { displayed: false });
    await history.record(text('g1', 2, 'two', 'out'), { displayed: true });
    expect((await history.history('g1', 10)).map((e) => (e.kind === 'message' ? e.text : `epoch ${e.epoch}`))).toEqual(['one', 'epoch 3', 'two']);
    expect((await history.history('g1', 2)).map((e) => e.id)).toEqual(['e:g1:3:changed', 'm:g1:2']);
    expect((await history.history('g2', 10)).map((e) => e.kind === 'message' && e.text)).toEqual(['elsewhere']);
    account.db.close();
  });

  it('incoming entries wait to be shown until marked displayed', async () => {
    const account = await newIdbAccount();
    const history = new IdbGroupHistory(account.db, account.vault.sealer);
    await history.record(text('g1', 1, 'one'), { displayed: false });
    await history.record(text('g1', 2, 'mine', 'out'), { displayed: true });
    await history.record(text('g2', 1, 'other'), { displayed: false });
    expect((await history.undisplayed()).map((e) => e.id)).toEqual(['m:g1:1', 'm:g2:1']);
    await history.markDisplayed(['m:g1:1']);
    expect((await history.undisplayed()).map((e) => e.id)).toEqual(['m:g2:1']);
    account.db.close();
  });

  it('stores neither texts, names, group ids nor senders in the clear', async () => {
    const account = await newIdbAccount();
    const history = new IdbGroupHistory(account.db, account.vault.sealer);
    await history.record(text('group-id-in-clear', 1, 'a secret text'), { displayed: false });
    account.db.close();
    const raw = await rawText(account.username);
    for (const secret of ['a secret text', 'secret-team-name', 'group-id-in-clear', 'bob']) expect(raw.includes(secret)).toBe(false);
  });

  it('a version-2 database gains the group history and keeps its groups', async () => {
    const name = `e2ee-chat/${freshAccountName('upgrade')}`;
    const v2 = await openDatabase(indexedDB, name, 2, (db, oldVersion) => upgradeAccountDatabase2(db, oldVersion));
    await transact(v2, STORES.groups, 'readwrite', (tx) => requestResult(tx.objectStore(STORES.groups).put({ name: 'kept', rev: 1 })));
    v2.close();
    const v3 = await openDatabase(indexedDB, name, ACCOUNT_SCHEMA_VERSION, (db, oldVersion) => {
      expect(oldVersion).toBe(2);
      upgradeAccountDatabase(db, oldVersion);
    });
    try {
      expect(v3.objectStoreNames.contains(STORES.groupHistory)).toBe(true);
      expect(await transact(v3, STORES.groups, 'readonly', (tx) => requestResult(tx.objectStore(STORES.groups).get('kept')))).toEqual({ name: 'kept', rev: 1 });
    } finally {
      v3.close();
    }
  });
});

/** The layout as version 2 made it: every store but the group history. */
function upgradeAccountDatabase2(db: IDBDatabase, oldVersion: number): void {
  upgradeAccountDatabase(db, oldVersion);
  db.deleteObjectStore(STORES.groupHistory);
}
