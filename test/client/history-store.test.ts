/**
 * What the message stores give history on link (docs/PROTOCOL.md §21.3.1): the primary reads its newest
 * conversation records across all peers (`recent`, oldest first: no receipts, no history messages, nothing
 * unreadable, nothing that never left), and the new device records items that may exist already
 * (`recordHistory`: absent ones added, displayed; present ones left exactly as they are).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { SqliteMessageStore } from '../../src/client/node/sqlite-message-store.js';
import type { HistoryRecord, MessageStore } from '../../src/client/stores.js';
import { newIdbAccount } from '../helpers/browser-stores.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function sqliteStore(): Promise<MessageStore> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-history-'));
  const store = await SqliteMessageStore.open(join(dir, 'state.db'), new Uint8Array(32).fill(9), 'alice');
  cleanups.push(() => (store.close(), rmSync(dir, { recursive: true, force: true })));
  return store;
}

const id = (n: number) => `history-test-${String(n).padStart(6, '0')}`;
const incoming = (n: number, extra: Partial<HistoryRecord> = {}): HistoryRecord => ({ id: id(n), direction: 'in', peer: n % 2 ? 'bob' : 'carol', body: `in ${n}`, sentAt: n, status: 'received', ...extra });
const outgoing = (n: number, status: HistoryRecord['status'] = 'delivered', extra: Partial<HistoryRecord> = {}): HistoryRecord => ({ id: id(n), direction: 'out', peer: 'bob', body: `out ${n}`, sentAt: n, status, ...extra });

/** Writes an outgoing record the way sending does (outbox entry and record), then leaves it in `status`. */
async function sent(store: MessageStore, record: HistoryRecord, state: 'settled' | 'pending' | 'failed'): Promise<void> {
  await store.addOutgoing({ id: record.id, to: record.peer, messages: [], createdAt: record.sentAt, ...(record.kind && { kind: record.kind }) }, { ...record, status: 'outbox' });
  if (state === 'settled') await store.settleOutgoing(record.id, [{ to: record.peer, device: 1, status: 'queued', serverId: `srv-${record.id}`, serverTime: record.sentAt }]);
  if (state === 'failed') await store.failOutgoing(record.id, { code: 'unknown_user', message: 'gone', at: 1 });
}

describe.each([
  ['MemoryMessageStore', async (): Promise<MessageStore> => new MemoryMessageStore()],
  ['SqliteMessageStore', sqliteStore],
  ['IdbMessageStore', async (): Promise<MessageStore> => (await newIdbAccount()).messages()],
])('%s', (_name, open) => {
  it('recent(n): the newest n conversation records of every peer, oldest first, leaving out what is no conversation', async () => {
    const store = await open();
    await store.recordIncoming(incoming(1));
    await sent(store, outgoing(2), 'settled');
    await store.recordIncoming(incoming(3, { id: 'unreadable:srv3', status: 'unreadable', reason: 'decryption_failed', body: '' }));
    await store.recordIncoming(incoming(4));
    await sent(store, outgoing(5, 'outbox', { kind: 'receipt', body: '' }), 'settled');
    await sent(store, outgoing(6, 'outbox', { kind: 'history', peer: 'alice', body: '' }), 'settled');
    await sent(store, outgoing(7), 'failed');
    await store.recordOutgoingCopy(outgoing(8, 'sent'));
    await store.recordIncoming(incoming(9, { kind: 'receipt', body: '' }));
    await sent(store, outgoing(10), 'pending');

    const ids = async (n: number) => (await store.recent(n)).map((r) => r.id);
    expect(await ids(3)).toEqual([id(2), id(4), id(8)]);
    expect(await ids(100)).toEqual([id(1), id(2), id(4), id(8)]);
    expect(await ids(0)).toEqual([]);
    expect((await store.recent(1))[0]).toMatchObject({ id: id(8), direction: 'out', peer: 'bob', body: 'out 8', status: 'sent' });
    // The history message's record is in no conversation.
    expect((await store.history()).map((r) => r.id)).not.toContain(id(6));
  });

  it('recent(n) on a long history reads back to the n-th record', async () => {
    const store = await open();
    for (let n = 1; n <= 200; n++) await store.recordIncoming(incoming(n));
    expect((await store.recent(3)).map((r) => r.sentAt)).toEqual([198, 199, 200]);
  });

  it('recordHistory adds what is absent, displayed, and leaves what exists as it is', async () => {
    const store = await open();
    await store.recordIncoming(incoming(1, { body: 'as first received', serverId: 'srv-1' }));
    await store.recordOutgoingCopy(outgoing(2, 'sent', { body: 'as first copied' }));
    const added = await store.recordHistory([
      incoming(1, { body: 'from history' }),
      outgoing(2, 'sent', { body: 'from history' }),
      incoming(3),
      outgoing(3, 'sent'),
      outgoing(4, 'sent'),
    ]);
    // Id 3 twice, one per direction: two records.
    expect(added).toBe(3);
    expect(await store.get(id(1), 'in')).toMatchObject({ body: 'as first received', serverId: 'srv-1' });
    expect(await store.get(id(2), 'out')).toMatchObject({ body: 'as first copied' });
    expect((await store.history()).map((r) => [r.id, r.direction])).toEqual([
      [id(1), 'in'],
      [id(2), 'out'],
      [id(3), 'in'],
      [id(3), 'out'],
      [id(4), 'out'],
    ]);
    // History is not news: only the live message recorded first waits to be shown.
    expect((await store.undisplayed()).map((r) => r.id)).toEqual([id(1)]);
    expect(await store.recordHistory([incoming(3), outgoing(4, 'sent')])).toBe(0);
  });
});
