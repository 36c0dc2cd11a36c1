/**
 * Queue quotas against a hostile registered user: one sender cannot fill a victim's queue (a
 * per-(sender, recipient) cap, `sender_quota_exceeded`), and no crowd of senders can fill the server's
 * disk (a server-wide byte cap, `server_full`). Each refusal changes nothing and leaves room for others.
 */
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { ServerConfig } from '../../src/server/config.js';
import { SQLITE_MIGRATIONS } from '../../src/server/store/sqlite-migrations.js';
import { SQLITE_FILE_NAME, SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const ENVELOPE = hybridEnvelope({ blocks: 4 });
const ENVELOPE_BYTES = JSON.stringify(ENVELOPE).length;

function quotaServer(overrides: Partial<ServerConfig>) {
  const ctx = { srv: undefined as unknown as TestServer, keys: undefined as unknown as UserKeyPairs, sockets: [] as Socket[] };
  beforeAll(async () => {
    ctx.srv = await startTestServer(overrides);
    ctx.keys = await keysFor();
  });
  afterAll(async () => {
    for (const s of ctx.sockets) s.close();
    await ctx.srv.stop();
    removeDir(ctx.srv.dataDir);
  });
  const user = async (name: string, stayOnline = true): Promise<Socket> => {
    const s = await rawSocket(ctx.srv.url);
    ctx.sockets.push(s);
    expect((await registerRaw(s, name, ctx.keys)).ok).toBe(true);
    if (!stayOnline) s.close();
    return s;
  };
  return { ctx, user };
}

const send = (s: Socket, to: string) => call(s, 'send', { to, envelope: ENVELOPE });

describe('the per-sender queue cap (2 envelopes per sender and recipient; 5 per recipient)', () => {
  const { ctx, user } = quotaServer({ senderQueueMaxCount: 2, queueMaxCount: 5 });

  it('refuses a third envelope from one sender with sender_quota_exceeded, and another sender still reaches the victim', async () => {
    await user('victim', false);
    const mallory = await user('mallory');
    const alice = await user('alice');
    expect(await send(mallory, 'victim')).toMatchObject({ ok: true, status: 'queued' });
    expect(await send(mallory, 'victim')).toMatchObject({ ok: true, status: 'queued' });
    const refused = await send(mallory, 'victim');
    expect(refused.error?.code).toBe('sender_quota_exceeded');
    expect(refused.error?.message).toContain('2');
    expect(await ctx.srv.store.queueUsage('victim')).toEqual({ count: 2, bytes: 2 * ENVELOPE_BYTES });
    expect(await send(alice, 'victim')).toMatchObject({ ok: true, status: 'queued' });
    expect(await ctx.srv.store.senderQueueUsage('alice', 'victim', 1)).toEqual({ count: 1, bytes: ENVELOPE_BYTES });
    // The per-recipient cap still holds above the per-sender one.
    const carol = await user('carol');
    const dave = await user('dave');
    expect(await send(carol, 'victim')).toMatchObject({ ok: true });
    expect(await send(carol, 'victim')).toMatchObject({ ok: true });
    expect((await send(dave, 'victim')).error?.code).toBe('quota_exceeded');
  });
});

describe('the server-wide storage cap', () => {
  const { ctx, user } = quotaServer({ serverQueueMaxBytes: 3 * ENVELOPE_BYTES });

  it('refuses with server_full once the whole server holds the cap, whoever sends to whomever, until envelopes leave', async () => {
    for (const name of ['off1', 'off2', 'off3', 'off4']) await user(name, false);
    const s1 = await user('sender1');
    const s2 = await user('sender2');
    expect(await send(s1, 'off1')).toMatchObject({ ok: true });
    expect(await send(s2, 'off2')).toMatchObject({ ok: true });
    expect(await send(s1, 'off3')).toMatchObject({ ok: true });
    const full = await send(s2, 'off4');
    expect(full.error?.code).toBe('server_full');
    expect(await ctx.srv.store.serverQueueBytes()).toBe(3 * ENVELOPE_BYTES);
    expect(await ctx.srv.store.queueUsage('off4')).toEqual({ count: 0, bytes: 0 });
    // off1 comes online and takes its envelope: the space is free again.
    const back = await rawSocket(ctx.srv.url);
    ctx.sockets.push(back);
    const got = new Promise<{ id: string }>((resolve) => back.once('message', resolve));
    expect((await loginRaw(back, 'off1', ctx.keys)).ok).toBe(true);
    expect(await call(back, 'ack', { ids: [(await got).id] })).toMatchObject({ ok: true, acknowledged: 1 });
    expect(await send(s2, 'off4')).toMatchObject({ ok: true });
  });
});

describe('migrating a database queued before the per-sender and server-wide caps', () => {
  it('counts the envelopes already queued', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-quota-migration-'));
    try {
      const db = new Database(join(dir, SQLITE_FILE_NAME));
      for (const m of SQLITE_MIGRATIONS.slice(0, 3)) db.exec(m);
      db.pragma('user_version = 3');
      const insert = db.prepare('INSERT INTO queue (id, recipient, sender, client_id, sent_at, expires_at, size, envelope) VALUES (?, ?, ?, ?, 1, 9e15, ?, ?)');
      insert.run('id1', 'bob', 'mallory', 'c1', 10, 'x'.repeat(10));
      insert.run('id2', 'bob', 'mallory', 'c2', 20, 'x'.repeat(20));
      insert.run('id3', 'bob', 'alice', 'c3', 30, 'x'.repeat(30));
      db.close();
      const store = new SqliteServerStore(dir);
      try {
        expect(await store.senderQueueUsage('mallory', 'bob', 1)).toEqual({ count: 2, bytes: 30 });
        expect(await store.senderQueueUsage('alice', 'bob', 1)).toEqual({ count: 1, bytes: 30 });
        expect(await store.serverQueueBytes()).toBe(60);
      } finally {
        await store.close();
      }
    } finally {
      removeDir(dir);
    }
  });
});
