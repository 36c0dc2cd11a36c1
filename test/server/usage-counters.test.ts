/**
 * The SQLite store keeps its queue usage in memory (usage-counters.ts): the figures must agree with the
 * queue table after a restart, and a write transaction that rolls back must leave them as they were.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteServerStore, SQLITE_FILE_NAME } from '../../src/server/store/sqlite-store.js';
import { UsageCounters } from '../../src/server/store/usage-counters.js';
import { input, quota, stored } from './store-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-usage-'));
  dirs.push(dir);
  return dir;
}

describe('queue usage kept in memory by the SQLite store', () => {
  it('is the same after the store is reopened as before it closed', async () => {
    const dir = dataDir();
    const store = new SqliteServerStore(dir);
    const a = stored(await store.enqueue(input({ sender: 'alice', recipient: 'bob', recipientDevice: 1, clientId: 'c1' }), quota));
    stored(await store.enqueue(input({ sender: 'alice', recipient: 'bob', recipientDevice: 2, clientId: 'c2' }), quota));
    stored(await store.enqueue(input({ sender: 'carol', recipient: 'bob', recipientDevice: 1, clientId: 'c3' }), quota));
    await store.acknowledge('bob', 1, [a.id], 5, 10_000_000);
    const before = {
      user: await store.queueUsage('bob'),
      one: await store.deviceQueueUsage('bob', 1),
      two: await store.deviceQueueUsage('bob', 2),
      alice: await store.senderQueueUsage('alice', 'bob', 2),
      carol: await store.senderQueueUsage('carol', 'bob', 1),
      server: await store.serverQueueBytes(),
    };
    expect(before.user.count).toBe(2);
    await store.close();

    const reopened = new SqliteServerStore(dir);
    try {
      expect({
        user: await reopened.queueUsage('bob'),
        one: await reopened.deviceQueueUsage('bob', 1),
        two: await reopened.deviceQueueUsage('bob', 2),
        alice: await reopened.senderQueueUsage('alice', 'bob', 2),
        carol: await reopened.senderQueueUsage('carol', 'bob', 1),
        server: await reopened.serverQueueBytes(),
      }).toEqual(before);
    } finally {
      await reopened.close();
    }
  });

  it('is put back when the transaction that changed it rolls back', async () => {
    const dir = dataDir();
    await new SqliteServerStore(dir).close();
    const db = new Database(join(dir, SQLITE_FILE_NAME));
    try {
      const usage = UsageCounters.fromQueue(db);
      usage.add('bob', 1, 'alice', 1, 100);
      expect(() =>
        usage.during(() => {
          usage.add('bob', 1, 'alice', 2, 50);
          usage.add('bob', 1, 'alice', -1, -100);
          usage.add('dave', 3, 'alice', 1, 7);
          throw new Error('rolled back');
        }),
      ).toThrow('rolled back');
      expect(usage.device('bob', 1)).toEqual({ count: 1, bytes: 100 });
      expect(usage.user('bob')).toEqual({ count: 1, bytes: 100 });
      expect(usage.pair('bob', 1, 'alice')).toEqual({ count: 1, bytes: 100 });
      expect(usage.device('dave', 3)).toEqual({ count: 0, bytes: 0 });
      expect(usage.pairsFrom('alice')).toEqual([{ recipient: 'bob', device: 1 }]);
      expect(usage.serverBytes()).toBe(100);
    } finally {
      db.close();
    }
  });
});
