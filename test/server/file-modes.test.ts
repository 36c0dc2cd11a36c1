/**
 * The server's SQLite files (database, -wal, -shm) hold the social graph and the queued ciphertext:
 * owner-only whatever the mode of a data folder that already existed.
 */
import { chmodSync, mkdtempSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SQLITE_FILE_NAME, SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { removeDir } from '../helpers/test-server.js';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe.skipIf(process.platform === 'win32')('server data file modes', () => {
  it('creates the database, -wal and -shm 0600 in a pre-existing 0755 folder', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'e2ee-chat-modes-'));
    const dir = join(parent, 'data');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const store = new SqliteServerStore(dir);
    try {
      // A write makes SQLite create the WAL (the shared-memory file exists from the first read).
      await store.createUser({
        username: 'mode',
        signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) },
        encryptionKey: { kty: 'RSA', n: 'A'.repeat(342), e: 'AQAB' },
        signingKeyThumbprint: 't1',
        encryptionKeyThumbprint: 't2',
        registeredAt: 1,
      });
      const db = join(dir, SQLITE_FILE_NAME);
      expect([modeOf(db), modeOf(`${db}-wal`), modeOf(`${db}-shm`)].map((m) => m.toString(8))).toEqual(['600', '600', '600']);
      expect(modeOf(dir).toString(8)).toBe('755'); // the folder is the operator's; only our files are tightened
    } finally {
      await store.close();
      removeDir(parent);
    }
  });

  it('tightens database files an older server left 0644', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-modes-'));
    const db = join(dir, SQLITE_FILE_NAME);
    writeFileSync(db, '');
    chmodSync(db, 0o644);
    const store = new SqliteServerStore(dir);
    try {
      expect(modeOf(db).toString(8)).toBe('600');
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
});
