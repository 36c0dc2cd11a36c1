/**
 * What the IndexedDB stores owe to their transactions (src/client/browser/idb.ts, record-rows.ts): a
 * step that fails writes nothing; the multi-record steps are all or nothing; a change racing another on
 * the same record is redone on the newer record, never written over it; and history reads from the
 * newest back, stopping at its limit.
 */
import { describe, expect, it } from 'vitest';
import { STORES } from '../../../src/client/browser/account-database.js';
import { requestResult, transact } from '../../../src/client/browser/idb.js';
import type { HistoryRecord, OutboxEntry } from '../../../src/client/stores.js';
import { newIdbAccount, reopenIdbAccount } from '../../helpers/browser-stores.js';

const outgoing = (id: string): HistoryRecord => ({ id, direction: 'out', peer: 'bob', body: id, sentAt: 1, status: 'outbox' });
const entry = (id: string): OutboxEntry => ({ id, to: 'bob', messages: [{ to: 'bob', device: 1, envelope: { type: 'ratchet', v: 1, body: 'AAAA' } }], createdAt: 1 });
const count = (db: IDBDatabase, store: string) => transact(db, store, 'readonly', (tx) => requestResult(tx.objectStore(store).count()));

describe('IndexedDB store transactions', () => {
  it('a transaction whose body throws after writing writes nothing', async () => {
    const alice = await newIdbAccount();
    const failing = transact(alice.db, STORES.meta, 'readwrite', async (tx) => {
      await requestResult(tx.objectStore(STORES.meta).put({ n: 1 }, 'scratch'));
      throw new Error('changed its mind');
    });
    await expect(failing).rejects.toThrow('changed its mind');
    expect(await transact(alice.db, STORES.meta, 'readonly', (tx) => requestResult(tx.objectStore(STORES.meta).get('scratch')))).toBeUndefined();
  });

  it('addOutgoing is both rows or neither: an id already in the outbox writes no history record beside it', async () => {
    const alice = await newIdbAccount();
    const messages = alice.messages();
    await messages.addOutgoing(entry('m1'), outgoing('m1'));
    await expect(messages.addOutgoing(entry('m1'), outgoing('m1-other'))).rejects.toMatchObject({ name: 'ConstraintError' });
    expect(await count(alice.db, STORES.outbox)).toBe(1);
    expect(await count(alice.db, STORES.messages)).toBe(1);
    expect(await messages.get('m1-other', 'out')).toBeUndefined();
  });

  it('receipts for every copy at once, from two connections, all land: a change that lost the race is redone on the newer record', async () => {
    const alice = await newIdbAccount();
    const other = await reopenIdbAccount(alice.username);
    const devices = [1, 2, 3, 4, 5, 6];
    const copies = devices.map((device) => ({ to: 'bob', device, status: 'queued' as const, serverId: `srv-${device}` }));
    await alice.messages().addOutgoing(entry('m1'), { ...outgoing('m1'), status: 'queued', copies });
    await Promise.all(devices.map((device) => (device % 2 ? alice : other).messages().markCopy('m1', { to: 'bob', device }, { status: 'delivered' })));
    const record = await alice.messages().get('m1', 'out');
    expect(record?.copies?.map((c) => c.status)).toEqual(devices.map(() => 'delivered'));
    expect(record?.status).toBe('delivered');
  });

  it('settleOutgoing removes the entry and records the delivery in one step, seen alike from another connection', async () => {
    const alice = await newIdbAccount();
    await alice.messages().addOutgoing(entry('m1'), outgoing('m1'));
    await alice.messages().settleOutgoing('m1', [{ to: 'bob', device: 1, status: 'sent', serverId: 'srv-1', serverTime: 5 }]);
    const other = (await reopenIdbAccount(alice.username)).messages();
    expect(await other.outboxEntries()).toEqual([]);
    expect(await other.get('m1', 'out')).toMatchObject({ status: 'sent', serverId: 'srv-1', serverTime: 5 });
  });

  it('history(limit) and recent(limit) read from the newest back and stop: a long history is not opened whole', async () => {
    const alice = await newIdbAccount();
    const messages = alice.messages();
    const records = Array.from({ length: 300 }, (_, n): HistoryRecord => ({ id: `m${n}`, direction: 'in', peer: n % 2 ? 'bob' : 'carol', body: `${n}`, sentAt: n, status: 'received' }));
    await messages.recordHistory(records);
    let opened = 0;
    const open = alice.vault.sealer.open.bind(alice.vault.sealer);
    alice.vault.sealer.open = (async (...args: Parameters<typeof open>) => (opened++, open(...args))) as typeof open;
    expect((await messages.history({ peer: 'bob', limit: 3 })).map((r) => r.body)).toEqual(['295', '297', '299']);
    expect(opened).toBeLessThanOrEqual(32); // the first batch
    opened = 0;
    expect((await messages.recent(40)).map((r) => r.body)).toEqual(records.slice(-40).map((r) => r.body));
    expect(opened).toBeLessThanOrEqual(32 + 64);
    expect(await messages.history({ peer: 'carol' })).toHaveLength(150);
  });
});
