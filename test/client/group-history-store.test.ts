/**
 * The group history stores of Node (node/sqlite-group-history.ts) and memory (groups/memory-group-history.ts):
 * entries once, in order, shown once; the file sealed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { groupChangeId, groupTextId, type GroupHistoryStore, type GroupTextEntry } from '../../src/client/groups/group-history.js';
import { MemoryGroupHistory } from '../../src/client/groups/memory-group-history.js';
import { SqliteGroupHistory } from '../../src/client/node/sqlite-group-history.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function openHistory(): Promise<{ history: SqliteGroupHistory; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-group-history-'));
  dirs.push(dir);
  const path = join(dir, 'group-history.sqlite');
  return { history: await SqliteGroupHistory.open(path, new Uint8Array(32).fill(7), 'alice'), path };
}

const text = (groupId: string, seq: number, body: string): GroupTextEntry => ({
  kind: 'message',
  id: groupTextId(groupId, seq),
  groupId,
  name: 'team',
  direction: 'in',
  from: { user: 'bob', device: 1 },
  text: body,
  sentAt: seq,
  seq,
});

const stores: [string, () => Promise<{ history: GroupHistoryStore; close(): void }>][] = [
  [
    'SqliteGroupHistory',
    async () => {
      const { history } = await openHistory();
      return { history, close: () => history.close() };
    },
  ],
  ['MemoryGroupHistory', async () => ({ history: new MemoryGroupHistory(), close: () => undefined })],
];

describe.each(stores)('%s', (_name, open) => {
  it('records an entry once, keeps each group apart in order, and the newest n with a limit', async () => {
    const { history, close } = await open();
    expect(await history.record(text('G1', 1, 'one'), { displayed: false })).toBe('new');
    expect(await history.record(text('G1', 1, 'one again'), { displayed: false })).toBe('duplicate');
    await history.record(text('G2', 1, 'elsewhere'), { displayed: true });
    await history.record(text('G1', 2, 'two'), { displayed: true });
    await history.record({ kind: 'membership', id: groupChangeId('G1', 3, 'changed'), groupId: 'G1', name: 'team', epoch: 3, added: [], removed: [{ user: 'carol', device: 1 }], joined: false, left: false, at: 9 }, { displayed: false });
    expect((await history.history('G1')).map((e) => (e.kind === 'message' ? e.text : `epoch ${e.epoch}`))).toEqual(['one', 'two', 'epoch 3']);
    expect((await history.history('G1', 2)).map((e) => e.id)).toEqual([groupTextId('G1', 2), groupChangeId('G1', 3, 'changed')]);
    close();
  });

  it('lists what was never shown until it is marked shown', async () => {
    const { history, close } = await open();
    await history.record(text('G1', 1, 'one'), { displayed: false });
    await history.record(text('G1', 2, 'two'), { displayed: true });
    await history.record(text('G1', 3, 'three'), { displayed: false });
    expect((await history.undisplayed()).map((e) => e.id)).toEqual([groupTextId('G1', 1), groupTextId('G1', 3)]);
    await history.markDisplayed([groupTextId('G1', 1)]);
    expect((await history.undisplayed()).map((e) => e.id)).toEqual([groupTextId('G1', 3)]);
    close();
  });
});

describe('SqliteGroupHistory', () => {
  it('keeps no text, name or group id in the clear', async () => {
    const { history, path } = await openHistory();
    await history.record(text('GROUPIDINTHECLEAR', 1, 'a secret sentence'), { displayed: false });
    history.close();
    const file = readFileSync(path).toString('latin1') + (() => {
      try {
        return readFileSync(`${path}-wal`).toString('latin1');
      } catch {
        return '';
      }
    })();
    for (const plain of ['a secret sentence', 'GROUPIDINTHECLEAR']) expect(file).not.toContain(plain);
  });
});
