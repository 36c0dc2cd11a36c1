/**
 * The SQLite store never checkpoints inside a commit (that would fsync on the event loop): a worker
 * thread does it (wal-checkpointer.ts). Its work shows in the database file, which receives the pages
 * the WAL held while the store keeps running.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteServerStore, SQLITE_FILE_NAME } from '../../src/server/store/sqlite-store.js';
import { waitUntil } from '../helpers/test-clients.js';
import { input, stored } from './store-fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('WAL checkpoints', () => {
  it('move committed pages into the database file from a worker while the store is open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-checkpoint-'));
    dirs.push(dir);
    const store = new SqliteServerStore(dir);
    try {
      const file = join(dir, SQLITE_FILE_NAME);
      const before = statSync(file).size;
      const big = 'A'.repeat(8000);
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.enqueue(input({ clientId: `checkpoint-${i}`.padEnd(16, 'x'), envelope: big }), { maxCount: 1000, maxBytes: 10_000_000 })).map((p) => p.then(stored)));
      // 200 × 8 KB is far past what the schema alone takes: only a checkpoint puts it in the main file.
      await waitUntil(() => (statSync(file).size > before + 1_000_000 ? true : undefined), 10_000, 'the database file to receive the checkpointed pages');
      expect((await store.pending('bob', 1, 0, 1000, 0)).length).toBe(200);
    } finally {
      await store.close();
    }
  });
});
