/**
 * A server database written by e2ee-chat 0.1 (test/fixtures/v0.1/server.sqlite, made by
 * scripts/make-v01-fixtures.ts with the 0.1 code) opens in this server: migration 6 moves every row to
 * device 1 in one transaction (docs/design/devices-v2.md §9.1, §11.1), and what 0.1 queued, owed,
 * accepted and published is served as device 1's.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_TTL_MS } from '../../src/protocol/limits.js';
import type { EnqueueInput } from '../../src/server/store/server-store.js';
import { SQLITE_MIGRATIONS } from '../../src/server/store/sqlite-migrations.js';
import { SQLITE_FILE_NAME, SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { removeDir } from '../helpers/test-server.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v0.1', 'server.sqlite');
/** When the fixture was written (its README): envelopes were sent a second apart from T0 + 1 s. */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);
/** A moment within the fixture's 30 days: nothing in it has expired yet. */
const NOW = T0 + 24 * 60 * 60 * 1000;
const quota = { maxCount: 100_000, maxBytes: 256 * 1024 * 1024 };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A copy of the fixture as a data folder, and what 0.1 wrote in it, read with plain SQL before any migration. */
function v01DataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-v01-'));
  dirs.push(dir);
  const file = join(dir, SQLITE_FILE_NAME);
  copyFileSync(FIXTURE, file);
  const db = new Database(file);
  try {
    const all = <T>(sql: string) => db.prepare(sql).all() as T[];
    return {
      dir,
      file,
      version: db.pragma('user_version', { simple: true }) as number,
      users: all<{ username: string; signing_key: string }>('SELECT username, signing_key FROM users ORDER BY username'),
      queue: all<{ seq: number; id: string; sender: string; recipient: string; client_id: string; sent_at: number; expires_at: number; envelope: string }>(
        'SELECT seq, id, sender, recipient, client_id, sent_at, expires_at, envelope FROM queue ORDER BY seq',
      ),
      usage: all<{ recipient: string; count: number; bytes: number }>('SELECT recipient, count, bytes FROM queue_usage'),
      receipts: all<{ seq: number; sender: string; id: string; client_id: string; recipient: string; delivered_at: number; status: string; reason: string | null }>(
        'SELECT seq, sender, id, client_id, recipient, delivered_at, status, reason FROM receipts ORDER BY seq',
      ),
      accepted: all<{ sender: string; client_id: string; id: string; sent_at: number }>('SELECT sender, client_id, id, sent_at FROM accepted'),
      identities: all<{ username: string; identity_key: string; binding: string; signed_prekey: string; last_resort_kem_prekey: string }>('SELECT * FROM prekey_identities ORDER BY username'),
      oneTime: all<{ username: string; kind: string; id: number; public_key: string }>('SELECT username, kind, id, public_key FROM one_time_prekeys ORDER BY username, kind, id'),
      serverBytes: (db.prepare('SELECT bytes FROM server_usage').get() as { bytes: number }).bytes,
    };
  } finally {
    db.close();
  }
}

describe('a v0.1 server database', () => {
  it('is the 0.1 schema, with something of every kind in it', () => {
    const v01 = v01DataDir();
    expect(v01.version).toBe(5);
    expect(v01.users.map((u) => u.username)).toEqual(['alice', 'bob', 'carol']);
    expect(v01.queue.map((q) => [q.sender, q.recipient])).toEqual([['alice', 'bob'], ['alice', 'bob'], ['alice', 'bob'], ['carol', 'bob']]);
    expect(v01.receipts.map((r) => [r.sender, r.status, r.reason])).toEqual([['bob', 'delivered', null], ['bob', 'unreadable', 'unsupported']]);
    expect(v01.accepted).toHaveLength(7);
    expect(v01.identities.map((i) => i.username)).toEqual(['bob', 'carol']);
  });

  it('migrates to device 1: queued envelopes, receipts and prekeys survive and are served as device 1\'s', async () => {
    const v01 = v01DataDir();
    const store = new SqliteServerStore(v01.dir);
    try {
      // Users as they were: device 1 keeps the registered keys, and nobody has a device list yet (served as {1}).
      for (const u of v01.users) {
        expect((await store.getUser(u.username))?.signingKey).toEqual(JSON.parse(u.signing_key));
        expect(await store.getDeviceList(u.username)).toBeUndefined();
      }
      // bob's queue, byte for byte and in order, for bob/1 from the senders' device 1.
      const pending = await store.pending('bob', 1, 0, 100, NOW);
      expect(pending).toEqual(
        v01.queue.map((q) => ({
          seq: q.seq,
          id: q.id,
          sender: q.sender,
          senderDevice: 1,
          recipient: q.recipient,
          recipientDevice: 1,
          clientId: q.client_id,
          sentAt: q.sent_at,
          expiresAt: q.expires_at,
          envelope: q.envelope,
        })),
      );
      expect(await store.pending('bob', 2, 0, 100, NOW)).toEqual([]);
      // Usage carried over, now per user, per device, per sender and device, and for the server.
      const bobBytes = v01.queue.reduce((n, q) => n + q.envelope.length, 0);
      expect(await store.queueUsage('bob')).toEqual({ count: 4, bytes: bobBytes });
      expect(v01.usage.find((u) => u.recipient === 'bob')).toMatchObject({ count: 4, bytes: bobBytes });
      expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 4, bytes: bobBytes });
      expect(await store.senderQueueUsage('alice', 'bob', 1)).toMatchObject({ count: 3 });
      expect(await store.senderQueueUsage('carol', 'bob', 1)).toMatchObject({ count: 1 });
      expect(await store.serverQueueBytes()).toBe(v01.serverBytes);
      // The receipts owed to bob are owed to bob/1, for alice/1's copies.
      expect(await store.pendingReceipts('bob', 1, 0, 100)).toEqual(
        v01.receipts.map((r) => ({
          seq: r.seq,
          id: r.id,
          clientId: r.client_id,
          sender: 'bob',
          senderDevice: 1,
          recipient: r.recipient,
          recipientDevice: 1,
          deliveredAt: r.delivered_at,
          status: r.status,
          ...(r.reason !== null && { reason: r.reason }),
        })),
      );
      // Prekeys are device 1's, and its bundle hands out the lowest one-time keys first.
      for (const i of v01.identities) {
        const kept = (kind: string) => v01.oneTime.filter((k) => k.username === i.username && k.kind === kind).map((k) => k.id);
        expect(await store.preKeyCounts(i.username, 1)).toEqual({
          identityKey: i.identity_key,
          signedPreKeyId: JSON.parse(i.signed_prekey).id,
          lastResortKemPreKeyId: JSON.parse(i.last_resort_kem_prekey).id,
          oneTime: kept('x25519').length,
          kemOneTime: kept('mlkem1024').length,
          oneTimeIds: kept('x25519'),
          kemOneTimeIds: kept('mlkem1024'),
        });
        expect(await store.preKeyCounts(i.username, 2)).toMatchObject({ identityKey: null });
      }
      const bundle = await store.takePreKeyBundles('bob', [1]);
      const firstOneTime = v01.oneTime.find((k) => k.username === 'bob' && k.kind === 'x25519')!;
      expect(bundle).toMatchObject({
        status: 'taken',
        bundles: [{ device: 1, identity: { dhKey: v01.identities[0]!.identity_key, binding: v01.identities[0]!.binding }, oneTimePreKey: { id: firstOneTime.id, publicKey: firstOneTime.public_key } }],
      });
      // bob/1 takes his backlog: the envelopes leave, and alice/1 and carol/1 are owed receipts.
      const receipts = await store.acknowledge('bob', 1, pending.map((m) => m.id), NOW, NOW + DEFAULT_QUEUE_TTL_MS);
      expect(receipts.map((r) => [r.sender, r.senderDevice, r.recipientDevice, r.status])).toEqual(pending.map((m) => [m.sender, 1, 1, 'delivered']));
      expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
      expect(await store.serverQueueBytes()).toBe(v01.serverBytes - bobBytes);
    } finally {
      await store.close();
    }
    const migrated = new Database(v01.file, { readonly: true });
    try {
      expect(migrated.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    } finally {
      migrated.close();
    }
  });

  it("answers resends of 0.1 sends from device 1 to device 1 as duplicates until the records expire, and only those", async () => {
    const v01 = v01DataDir();
    const store = new SqliteServerStore(v01.dir);
    try {
      const resend = (a: (typeof v01.accepted)[number], over: Partial<EnqueueInput> = {}): EnqueueInput => ({
        id: `resent-${a.id}`,
        sender: a.sender,
        senderDevice: 1,
        // The recipient 0.1 stored it for: still queued, settled with a receipt owed, or (the one fully settled) carol.
        recipient: [...v01.queue, ...v01.receipts].find((q) => q.client_id === a.client_id)?.recipient ?? 'carol',
        recipientDevice: 1,
        clientId: a.client_id,
        sentAt: NOW,
        expiresAt: NOW + DEFAULT_QUEUE_TTL_MS,
        envelope: '{"resent":true}',
        ...over,
      });
      // Every 0.1 acceptance, queued or long delivered, is answered with its first server id and time.
      for (const a of v01.accepted) {
        expect(await store.enqueue(resend(a), quota)).toEqual({ status: 'duplicate', id: a.id, sentAt: a.sent_at });
      }
      expect(await store.queueUsage('bob')).toMatchObject({ count: 4 });
      // The 0.1 records name no device: they cover (sender, 1) → (*, 1) and nothing else.
      const queued = v01.accepted.find((a) => a.client_id === v01.queue[0]!.client_id)!;
      expect((await store.enqueue(resend(queued, { id: 'from-device-2', senderDevice: 2 }), quota)).status).toBe('stored');
      expect((await store.enqueue(resend(queued, { id: 'to-device-2', recipientDevice: 2 }), quota)).status).toBe('stored');
      // Once expired and swept, the same id is a new message.
      const expiry = Math.max(...v01.queue.map((q) => q.expires_at)) + 1;
      expect(await store.sweepExpired(expiry)).toBe(4);
      expect((await store.enqueue(resend(queued, { id: 'after-expiry', sentAt: expiry, expiresAt: expiry + DEFAULT_QUEUE_TTL_MS }), quota)).status).toBe('stored');
    } finally {
      await store.close();
    }
  });

  it('is left as 0.1 wrote it when migration 6 fails part way: the whole migration is one transaction', () => {
    const v01 = v01DataDir();
    // A table in the way of one of migration 6's later statements.
    const db = new Database(v01.file);
    db.exec('CREATE TABLE accepted2 (in_the_way INTEGER)');
    db.close();
    expect(() => new SqliteServerStore(v01.dir)).toThrow(/accepted2/);
    const after = new Database(v01.file, { readonly: true });
    try {
      expect(after.pragma('user_version', { simple: true })).toBe(5);
      const columns = (table: string) => (after.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as Array<{ name: string }>).map((c) => c.name);
      expect(columns('queue')).not.toContain('recipient_device');
      expect(columns('prekey_identities')).not.toContain('device_id');
      expect(columns('pair_usage')).toEqual(['recipient', 'sender', 'count', 'bytes']);
      expect(after.prepare("SELECT name FROM sqlite_master WHERE name IN ('devices', 'device_usage', 'device_lists')").all()).toEqual([]);
      expect((after.prepare('SELECT count(*) AS n FROM queue').get() as { n: number }).n).toBe(v01.queue.length);
    } finally {
      after.close();
    }
  });
});
