/**
 * Envelopes kept sealed because their sender's keys changed (issue 9 leftovers): the hold is bounded per
 * peer, in total and in bytes, since the directory that decides what is held is the server's. Beyond the
 * bounds an envelope is still recorded unreadable (peer_key_changed) and reported once, without its
 * envelope. A held envelope that fails again after trust for another reason is recorded and reported
 * with that reason, once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { SqliteMessageStore } from '../../src/client/node/sqlite-message-store.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { unreadableRecordId, type HeldEnvelope, type HeldLimits, type MessageStore } from '../../src/client/stores.js';
import { connectTestClient, keysFor, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { newIdbAccount } from '../helpers/browser-stores.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()));
  for (const s of servers.splice(0)) {
    await s.stop();
    removeDir(s.dataDir);
  }
  for (const c of cleanups.splice(0)) c();
});

async function server(): Promise<TestServer> {
  const s = await startTestServer();
  servers.push(s);
  return s;
}

async function user(url: string, name: string, opts: Parameters<typeof connectTestClient>[2] = {}): Promise<TestClient> {
  const c = await connectTestClient(url, name, { ratchet: new MemoryRatchetStore(), ...opts });
  clients.push(c);
  return c;
}

const envelope = (serverId: string, from: string, body = 'AAAA'): HeldEnvelope => ({ serverId, from, to: 'alice', sentAt: 1, envelope: { type: 'ratchet', v: 1, body } });
const sid = (n: number) => String(n).padStart(22, 'S');

async function sqliteStore(heldLimits: HeldLimits): Promise<SqliteMessageStore> {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-held-'));
  const store = await SqliteMessageStore.open(join(dir, 'state.db'), new Uint8Array(32).fill(7), 'alice', { heldLimits });
  cleanups.push(() => (store.close(), rmSync(dir, { recursive: true, force: true })));
  return store;
}

describe.each([
  ['MemoryMessageStore', async (limits: HeldLimits): Promise<MessageStore> => new MemoryMessageStore({ heldLimits: limits })],
  ['SqliteMessageStore', sqliteStore],
  ['IdbMessageStore', async (heldLimits: HeldLimits): Promise<MessageStore> => (await newIdbAccount()).messages({ heldLimits })],
])('%s.hold', (_name, open) => {
  it('keeps at most perPeer envelopes from one sender and total from all; a repeated hold is no new one', async () => {
    const store = await open({ perPeer: 2, total: 3, totalBytes: 1 << 20 });
    expect(await store.hold(envelope(sid(1), 'mallory'))).toBe('held');
    expect(await store.hold(envelope(sid(1), 'mallory'))).toBe('held');
    expect(await store.hold(envelope(sid(2), 'mallory'))).toBe('held');
    expect(await store.hold(envelope(sid(3), 'mallory'))).toBe('full');
    expect(await store.hold(envelope(sid(4), 'trent'))).toBe('held');
    expect(await store.hold(envelope(sid(5), 'oscar'))).toBe('full');
    expect((await store.held('mallory')).map((h) => h.serverId)).toEqual([sid(1), sid(2)]);
    expect((await store.held('oscar')).map((h) => h.serverId)).toEqual([]);
    // Room again once one is released.
    await store.release(sid(1));
    expect(await store.hold(envelope(sid(5), 'oscar'))).toBe('held');
  });

  it('rejudgeUnreadable records a new reason once and shows the record again; the same reason changes nothing', async () => {
    const store = await open({ perPeer: 2, total: 2, totalBytes: 1 << 20 });
    const id = unreadableRecordId(sid(1));
    const record = { id, direction: 'in', peer: 'mallory', body: '', sentAt: 1, serverId: sid(1), status: 'unreadable', reason: 'peer_key_changed' } as const;
    expect(await store.recordIncoming(record)).toBe('new');
    await store.markDisplayed([id]);
    expect(await store.rejudgeUnreadable(id, 'peer_key_changed')).toBe(false);
    expect(await store.undisplayed()).toEqual([]);
    expect(await store.rejudgeUnreadable(id, 'decryption_failed')).toBe(true);
    expect(await store.rejudgeUnreadable(id, 'decryption_failed')).toBe(false);
    expect((await store.undisplayed()).map((r) => [r.id, r.reason])).toEqual([[id, 'decryption_failed']]);
    expect(await store.rejudgeUnreadable(unreadableRecordId(sid(2)), 'unsupported')).toBe(false);
  });

  it('keeps at most totalBytes of envelopes', async () => {
    const store = await open({ perPeer: 100, total: 100, totalBytes: 2000 });
    const big = 'B'.repeat(600);
    const results = [];
    for (let i = 1; i <= 5; i++) results.push(await store.hold(envelope(sid(i), `peer${i}`, big)));
    expect(results.filter((r) => r === 'held').length).toBeGreaterThanOrEqual(2);
    expect(results.slice(results.indexOf('full'))).toEqual(results.slice(results.indexOf('full')).map(() => 'full'));
    expect(results.at(-1)).toBe('full');
  });
});

describe('held envelopes through the client', () => {
  /**
   * walt pins vera and xena on one server; on a second server (a directory that now serves other keys
   * for them) both send with new keys, so walt refuses and holds their envelopes.
   */
  async function rekeyedPeers(limits: HeldLimits) {
    const first = await server();
    const second = await server();
    const peers = new MemoryPeerKeyStore();
    const messages = new MemoryMessageStore({ heldLimits: limits });
    const walt = await user(first.url, 'walt', { peers, messages });
    for (const name of ['vera', 'xena']) {
      const peer = await user(first.url, name);
      await peer.client.send('walt', `hi from ${name}`);
    }
    await walt.waitFor(2);
    const waltAgain = await user(second.url, 'walt', { keys: walt.identity.keys, peers, messages });
    const newVera = await user(second.url, 'vera', { keys: await keysFor(true) });
    const newXena = await user(second.url, 'xena', { keys: await keysFor(true) });
    return { waltAgain, newVera, newXena, messages };
  }

  it('beyond the per-peer and total limits an envelope is recorded unreadable (peer_key_changed) without its envelope, and reported once', async () => {
    const { waltAgain, newVera, newXena, messages } = await rekeyedPeers({ perPeer: 2, total: 3, totalBytes: 1 << 20 });
    for (const text of ['v1', 'v2', 'v3']) await newVera.client.send('walt', text);
    for (const text of ['x1', 'x2']) await newXena.client.send('walt', text);
    const refused = await waltAgain.waitForRejected(5);
    // vera: two kept, the third over the per-peer limit; xena: one kept, the second over the total.
    expect(refused.map((r) => [r.from, r.reason, r.held])).toEqual([
      ['vera', 'peer_key_changed', true],
      ['vera', 'peer_key_changed', true],
      ['vera', 'peer_key_changed', false],
      ['xena', 'peer_key_changed', true],
      ['xena', 'peer_key_changed', false],
    ]);
    expect((await messages.held('vera')).map((h) => h.serverId)).toEqual([refused[0]!.serverId, refused[1]!.serverId]);
    expect((await messages.held('xena')).map((h) => h.serverId)).toEqual([refused[3]!.serverId]);
    // In the history (shown once by whichever command shows messages), marked as not kept.
    expect(await messages.get(unreadableRecordId(refused[2]!.serverId), 'in')).toMatchObject({ status: 'unreadable', reason: 'peer_key_changed', held: false });
    expect((await messages.get(unreadableRecordId(refused[0]!.serverId), 'in'))!.held).toBeUndefined();

    // Trust opens the kept ones, in order; the one not kept stays unreadable and is not reported again.
    await waltAgain.client.trustPeer('vera', await waltAgain.client.fetchKeys('vera'));
    expect(waltAgain.received.map((m) => m.body)).toEqual(['v1', 'v2']);
    expect(waltAgain.rejected).toHaveLength(5);
    // Opened, they left the hold (making room for others).
    expect(await messages.held('vera')).toEqual([]);
  });

  it('a held envelope that fails again after trust for another reason is recorded with that reason and reported once', async () => {
    const { waltAgain, newVera, messages } = await rekeyedPeers({ perPeer: 10, total: 10, totalBytes: 1 << 20 });
    await newVera.client.send('walt', 'kept');
    const [refused] = await waltAgain.waitForRejected(1);
    expect(refused).toMatchObject({ reason: 'peer_key_changed', held: true });
    // The held copy is damaged (a flipped byte in its ciphertext, as a lying server could have sent it):
    // after trust it no longer fails for the keys but for decryption.
    const [held] = await messages.held('vera');
    await messages.release(held!.serverId);
    const body = (held!.envelope as { body: string }).body;
    const flipped = body.slice(0, -8) + (body.at(-8) === 'A' ? 'B' : 'A') + body.slice(-7);
    expect(await messages.hold({ ...held!, envelope: { type: 'ratchet', v: 1, body: flipped } })).toBe('held');

    await waltAgain.client.trustPeer('vera', await waltAgain.client.fetchKeys('vera'));
    await waitUntil(() => (waltAgain.rejected.length === 2 ? true : undefined), 5000, 'the second report');
    expect(waltAgain.rejected.map((r) => [r.serverId, r.reason])).toEqual([
      [refused!.serverId, 'peer_key_changed'],
      [refused!.serverId, 'decryption_failed'],
    ]);
    const record = await messages.get(unreadableRecordId(refused!.serverId), 'in');
    expect(record).toMatchObject({ status: 'unreadable', reason: 'decryption_failed' });
    // Shown again (undisplayed) with the new reason, and judged for good: no longer held.
    expect((await messages.undisplayed()).map((r) => r.id)).toContain(unreadableRecordId(refused!.serverId));
    expect(await messages.held('vera')).toEqual([]);
    // Opening again tells nothing new.
    expect(await waltAgain.client.openHeld('vera')).toBe(0);
    expect(waltAgain.rejected).toHaveLength(2);
    expect(waltAgain.received).toHaveLength(0);
  });
});
