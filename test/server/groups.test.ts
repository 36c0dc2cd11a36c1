/**
 * The MLS Delivery Service over real sockets (docs/design/groups-mls.md §4, PROTOCOL.md §22), with
 * opaque bytes standing in for MLS messages: the server reads none of them. KeyPackages are handed out
 * once across concurrent claims, then the last-resort one; commits are totally ordered per group; only
 * members write or read; a Welcome waits in an offline device's queue; an application message is stored
 * once and reaches every other member device once; quotas refuse a write whole.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/server/config.js';
import { DeviceSockets, type RecordingSocket } from '../helpers/devices.js';
import { call } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

function serverWith(overrides: Partial<ServerConfig> = {}) {
  const ctx = { srv: undefined as unknown as TestServer };
  const net = new DeviceSockets(() => ctx.srv.url);
  beforeAll(async () => {
    ctx.srv = await startTestServer(overrides);
  });
  afterAll(async () => {
    net.closeAll();
    await ctx.srv.stop();
    removeDir(ctx.srv.dataDir);
  });
  return { ctx, net };
}

/** Opaque bytes as base64url: a stand-in for a KeyPackage, commit, Welcome or PrivateMessage. */
const opaque = (n = 64) => randomBytes(n).toString('base64url');
const newGroupId = () => randomBytes(32).toString('base64url');
const codeOf = (ack: { ok: boolean; error?: { code: string } }) => (ack.ok ? 'ok' : ack.error!.code);
const at = (user: string, device: number) => ({ user, device });

async function ok(socket: RecordingSocket, event: string, payload: unknown) {
  const ack = await call(socket.socket, event, payload);
  if (!ack.ok) throw new Error(`${event} refused: ${JSON.stringify(ack.error)}`);
  return ack as Record<string, unknown>;
}

describe('KeyPackage directory', () => {
  const { net } = serverWith();

  it('hands each one-time package out once across concurrent claims, then the last-resort one, and says when a device runs low', async () => {
    const { account: bob, primary: b1 } = await net.registered('kp-bob');
    const b2dev = await net.link(bob, b1);
    const b2 = await net.device(bob, b2dev.id);
    const packages = Array.from({ length: 12 }, () => opaque(300));
    const lastResort = opaque(300);
    expect(await ok(b2, 'mls.keypackages.upload', { packages, lastResort })).toMatchObject({ stored: 12, oneTime: 12 });
    expect(await ok(b1, 'mls.keypackages.upload', { packages: [], lastResort: opaque(300) })).toMatchObject({ stored: 0, oneTime: 0 });
    expect(await ok(b2, 'mls.keypackages.count', {})).toMatchObject({ oneTime: 12, lastResort: true });

    const claimers = await Promise.all(['kp-c1', 'kp-c2', 'kp-c3'].map((name) => net.registered(name)));
    const answers = await Promise.all(
      claimers.flatMap(({ primary }) => Array.from({ length: 5 }, () => call(primary.socket, 'mls.keypackages.claim', { user: 'kp-bob', listVersion: 2 }))),
    );
    expect(answers.every((a) => a.ok)).toBe(true);
    const forDevice2 = answers.map((a) => (a.packages as Array<{ device: number; keyPackage: string; lastResort: boolean }>).find((p) => p.device === 2)!);
    const oneTime = forDevice2.filter((p) => !p.lastResort).map((p) => p.keyPackage);
    expect(oneTime.sort()).toEqual([...packages].sort()); // each of the 12 exactly once
    expect(forDevice2.filter((p) => p.lastResort).map((p) => p.keyPackage)).toEqual([lastResort, lastResort, lastResort]);
    // Device 1 had only its last-resort package: every claim got it.
    for (const a of answers) expect((a.packages as Array<{ device: number; lastResort: boolean }>)[0]).toMatchObject({ device: 1, lastResort: true });
    const low = await b2.waitFor<{ oneTime: number }>('mls.keypackages.low');
    expect(low[0]!.oneTime).toBeLessThan(10);
    expect(await ok(b2, 'mls.keypackages.count', {})).toMatchObject({ oneTime: 0, lastResort: true });
  });

  it('refuses a claim against another list version with devices_changed, a user without packages, and an upload past the cap', async () => {
    const { account: dan, primary: d1 } = await net.registered('kp-dan');
    const { primary: eve } = await net.registered('kp-eve');
    expect(codeOf(await call(eve.socket, 'mls.keypackages.claim', { user: 'kp-dan', listVersion: 1 }))).toBe('no_key_packages');
    await net.link(dan, d1);
    const stale = await call(eve.socket, 'mls.keypackages.claim', { user: 'kp-dan', listVersion: 1 });
    expect(stale).toMatchObject({ ok: false, error: { code: 'devices_changed', details: { users: [{ username: 'kp-dan', missing: [1, 2], stale: [] }] } } });
    expect(codeOf(await call(eve.socket, 'mls.keypackages.claim', { user: 'kp-nobody', listVersion: null }))).toBe('unknown_user');
    // A user's own claim leaves out the claiming device.
    await ok(d1, 'mls.keypackages.upload', { packages: [opaque(), opaque()] });
    expect(codeOf(await call(d1.socket, 'mls.keypackages.claim', { user: 'kp-dan', listVersion: 2 }))).toBe('no_key_packages');
    const forty = Array.from({ length: 40 }, () => opaque(100));
    await ok(d1, 'mls.keypackages.upload', { packages: forty });
    await ok(d1, 'mls.keypackages.upload', { packages: forty.slice(0, 38) });
    expect(codeOf(await call(d1.socket, 'mls.keypackages.upload', { packages: forty.slice(0, 21) }))).toBe('key_package_limit');
    expect(await ok(d1, 'mls.keypackages.count', {})).toMatchObject({ oneTime: 80 });
    expect(codeOf(await call(d1.socket, 'mls.keypackages.upload', { packages: [opaque(4097)] }))).toBe('bad_request');
  });
});

describe('KeyPackage claims: a budget of their own', () => {
  // The bundle fetches' budget kept low, the claims' at its default (sized for the largest group).
  const { net } = serverWith({ bundleFetchPerRequesterBurst: 3, bundleFetchPerRequesterPerMinute: 1 });

  it('lets one person claim the members of a group larger than the bundle budget at once, and spends no bundle token', async () => {
    const members = await Promise.all(Array.from({ length: 12 }, (_, i) => net.registered(`kc-member${i}`)));
    for (const m of members) await ok(m.primary, 'mls.keypackages.upload', { packages: [opaque(300)] });
    const { primary: creator } = await net.registered('kc-creator');
    const answers = await Promise.all(members.map((m) => call(creator.socket, 'mls.keypackages.claim', { user: m.account.username, listVersion: 1 })));
    expect(answers.map(codeOf)).toEqual(members.map(() => 'ok'));
    // The bundle fetches' own budget (3) is whole: claims never drew on it.
    const bundles = [];
    for (const m of members.slice(0, 4)) bundles.push(codeOf(await call(creator.socket, 'prekeys.bundle', { username: m.account.username, devices: [1] })));
    expect(bundles.slice(0, 3).every((c) => c !== 'rate_limited')).toBe(true);
    expect(bundles[3]).toBe('rate_limited');
  });
});

describe('KeyPackage claims over their budget', () => {
  const { net } = serverWith({ keyPackageClaimsPerRequesterBurst: 2, keyPackageClaimsPerRequesterPerMinute: 1 });

  it('are refused as rate_limited, and nothing is handed out', async () => {
    const members = await Promise.all(Array.from({ length: 3 }, (_, i) => net.registered(`kb-member${i}`)));
    for (const m of members) await ok(m.primary, 'mls.keypackages.upload', { packages: [opaque(300)] });
    const { primary: creator } = await net.registered('kb-creator');
    const codes = [];
    for (const m of members) codes.push(codeOf(await call(creator.socket, 'mls.keypackages.claim', { user: m.account.username, listVersion: 1 })));
    expect(codes).toEqual(['ok', 'ok', 'rate_limited']);
    expect(await ok(members[2]!.primary, 'mls.keypackages.count', {})).toMatchObject({ oneTime: 1 });
  });
});

describe('groups', () => {
  const { ctx, net } = serverWith();

  /** alice (devices 1, 2) creates a group and adds bob/1: epoch 1. */
  async function aliceAndBob(prefix: string) {
    const { account: alice, primary: a1 } = await net.registered(`${prefix}-alice`);
    const a2dev = await net.link(alice, a1);
    const a2 = await net.device(alice, a2dev.id);
    const { account: bob, primary: b1 } = await net.registered(`${prefix}-bob`);
    const groupId = newGroupId();
    expect(await ok(a1, 'group.create', { groupId })).toMatchObject({ epoch: 0 });
    const welcome = opaque(500);
    const added = [at(alice.username, 2), at(bob.username, 1)];
    expect(await ok(a1, 'group.commit', { groupId, epoch: 0, commit: opaque(), welcome, add: added, remove: [] })).toMatchObject({ epoch: 1, seq: 1 });
    await a2.waitFor('group.welcome');
    await b1.waitFor('group.welcome');
    return { alice, bob, a1, a2, b1, groupId, welcome };
  }

  it('accepts exactly one of two commits made in the same epoch; the other is group_epoch_stale with the current epoch', async () => {
    const { a2, b1, groupId } = await aliceAndBob('race');
    const [x, y] = await Promise.all([
      call(a2.socket, 'group.commit', { groupId, epoch: 1, commit: opaque(), add: [], remove: [] }),
      call(b1.socket, 'group.commit', { groupId, epoch: 1, commit: opaque(), add: [], remove: [] }),
    ]);
    expect([x, y].filter((a) => a.ok)).toEqual([expect.objectContaining({ epoch: 2, seq: 2 })]);
    expect([x, y].find((a) => !a.ok)).toMatchObject({ error: { code: 'group_epoch_stale', details: { epoch: 2 } } });
    // The loser rebases: it commits again in epoch 2.
    const loser = x.ok ? b1 : a2;
    expect(await ok(loser, 'group.commit', { groupId, epoch: 2, commit: opaque(), add: [], remove: [] })).toMatchObject({ epoch: 3, seq: 3 });
    expect(await ok(b1, 'group.info', { groupId })).toMatchObject({ epoch: 3 });
  });

  it('a removed member gets the commit that removed it, and nothing after; it can no longer write or read', async () => {
    const { bob, a1, a2, b1, groupId } = await aliceAndBob('removed');
    const removal = await ok(a1, 'group.commit', { groupId, epoch: 1, commit: opaque(), add: [], remove: [at(bob.username, 1)] });
    const [seen] = await b1.waitFor<Record<string, unknown>>('group.message');
    expect(seen).toMatchObject({ seq: removal.seq, kind: 'commit', epoch: 1 });
    const later = await ok(a1, 'group.send', { groupId, epoch: 2, message: opaque() });
    await a2.waitFor('group.message', 2); // the barrier: alice/2 got the removal and the message after it
    expect(b1.of<{ seq: number }>('group.message').map((m) => m.seq)).toEqual([removal.seq]);
    // Nor is anything after its removal waiting in its queue (the write and its references are one transaction).
    const queued = await ctx.srv.store.pending(bob.username, 1, 0, 10, Date.now());
    expect(queued.map((q) => q.clientId).filter((c) => c.includes(`:${later.seq}:`))).toEqual([]);
    expect(later.seq).toBe(Number(removal.seq) + 1);
    expect(codeOf(await call(b1.socket, 'group.send', { groupId, epoch: 2, message: opaque() }))).toBe('not_group_member');
    expect(codeOf(await call(b1.socket, 'group.sync', { groupId, afterSeq: 0 }))).toBe('not_group_member');
    expect(await ok(a1, 'group.info', { groupId })).toMatchObject({ epoch: 2, members: [at('removed-alice', 1), at('removed-alice', 2)] });
  });

  it('refuses every group event from a non-member, and bad input changes nothing', async () => {
    const { a1, groupId } = await aliceAndBob('outside');
    const { primary: eve } = await net.registered('outside-eve');
    for (const [event, payload] of [
      ['group.send', { groupId, epoch: 1, message: opaque() }],
      ['group.commit', { groupId, epoch: 1, commit: opaque(), add: [], remove: [] }],
      ['group.sync', { groupId, afterSeq: 0 }],
      ['group.info', { groupId }],
    ] as const) {
      expect(codeOf(await call(eve.socket, event, payload)), event).toBe('not_group_member');
    }
    expect(codeOf(await call(eve.socket, 'group.info', { groupId: newGroupId() }))).toBe('unknown_group');
    expect(codeOf(await call(eve.socket, 'group.create', { groupId }))).toBe('group_exists');
    expect(codeOf(await call(a1.socket, 'group.commit', { groupId, epoch: 1, commit: opaque(), welcome: opaque(), add: [at('outside-eve', 2)], remove: [] }))).toBe(
      'unknown_device',
    );
    expect(codeOf(await call(a1.socket, 'group.commit', { groupId, epoch: 1, commit: opaque(), add: [at('outside-eve', 1)], remove: [] }))).toBe('bad_request');
    expect(codeOf(await call(a1.socket, 'group.commit', { groupId, epoch: 1, commit: opaque(), add: [], remove: [at('outside-eve', 1)] }))).toBe('bad_request');
    expect(codeOf(await call(a1.socket, 'group.send', { groupId, epoch: 2, message: opaque() }))).toBe('group_epoch_stale');
    expect(codeOf(await call(a1.socket, 'group.send', { groupId, epoch: 1, message: 'not base64url!' }))).toBe('bad_request');
    expect(await ok(a1, 'group.info', { groupId })).toMatchObject({ epoch: 1 });
    expect(await ok(a1, 'group.sync', { groupId, afterSeq: 0 })).toMatchObject({ messages: [expect.objectContaining({ seq: 1, kind: 'commit' })], epoch: 1 });
    expect(eve.of('group.message')).toEqual([]);
  });

  it('keeps a Welcome in an offline device’s queue until it connects; it then reads the log after its commit', async () => {
    const { alice, bob, a1, b1, groupId } = await aliceAndBob('offline');
    const b2dev = await net.link(bob, b1); // bob/2 exists but is not connected
    const welcome = opaque(2000);
    const commit = opaque(300);
    await ok(a1, 'group.commit', { groupId, epoch: 1, commit, welcome, add: [at(bob.username, b2dev.id)], remove: [] });
    const after = await ok(a1, 'group.send', { groupId, epoch: 2, message: opaque(100) });
    const b2 = await net.device(bob, b2dev.id);
    const [w] = await b2.waitFor<Record<string, unknown>>('group.welcome');
    expect(w).toMatchObject({ groupId, seq: 2, welcome, from: at(alice.username, 1) });
    const [m] = await b2.waitFor<Record<string, unknown>>('group.message');
    expect(m).toMatchObject({ groupId, seq: after.seq, kind: 'application', epoch: 2 });
    // The Welcome came first, in queue order; both are settled by their ids like messages.
    expect(b2.events.filter((e) => e.event.startsWith('group.')).map((e) => e.event)).toEqual(['group.welcome', 'group.message']);
    await ok(b2, 'ack', { ids: [w!.id, m!.id] });
    expect(await ctx.srv.store.pending(bob.username, b2dev.id, 0, 10, Date.now())).toEqual([]);
    const sync = await ok(b2, 'group.sync', { groupId, afterSeq: 0 });
    expect((sync.messages as Array<{ seq: number }>).map((e) => e.seq)).toEqual([after.seq]);
    // Settling a group delivery owes alice no receipt.
    expect(a1.of('receipt')).toEqual([]);
  });

  it('stores an application message once and delivers it to every other member device once', async () => {
    const { alice, a1, a2, b1, groupId } = await aliceAndBob('once');
    const message = opaque(1000);
    const sent = await ok(a1, 'group.send', { groupId, epoch: 1, message });
    // A second message is the barrier: once it arrived, anything of the first would have arrived before it.
    const barrier = await ok(a1, 'group.send', { groupId, epoch: 1, message: opaque(10) });
    for (const device of [a2, b1]) {
      const got = await device.waitFor<Record<string, unknown>>('group.message', 2);
      expect(got.map((g) => g.seq)).toEqual([sent.seq, barrier.seq]);
      expect(got[0]).toMatchObject({ groupId, epoch: 1, kind: 'application', message, from: at(alice.username, 1) });
    }
    expect(a1.of('group.message')).toEqual([]);
    const db = (ctx.srv.store as unknown as { db: { prepare(sql: string): { get(...a: unknown[]): unknown } } }).db;
    expect(db.prepare('SELECT count(*) AS n FROM group_log WHERE message = ?').get(message)).toEqual({ n: 1 });
    expect(db.prepare('SELECT count(*) AS n FROM queue WHERE instr(envelope, ?) > 0').get(message.slice(0, 40))).toEqual({ n: 0 });
    // One reference per other member device (alice/2, bob/1), naming the entry.
    expect(db.prepare('SELECT count(*) AS n FROM queue WHERE client_id = ?').get(`group:${groupId}:${sent.seq}:message`)).toEqual({ n: 2 });
  });
});

describe('group quotas', () => {
  const { net } = serverWith({ queueMaxCount: 2 });

  it('refuses a group message whole when a member device’s queue is full, naming it', async () => {
    const { primary: a1 } = await net.registered('quota-alice');
    const { account: bob, primary: b1 } = await net.registered('quota-bob');
    const groupId = newGroupId();
    await ok(a1, 'group.create', { groupId });
    await ok(a1, 'group.commit', { groupId, epoch: 0, commit: opaque(), welcome: opaque(), add: [at(bob.username, 1)], remove: [] });
    b1.socket.close(); // bob keeps his Welcome and one message unread: his queue is full
    await ok(a1, 'group.send', { groupId, epoch: 1, message: opaque() });
    const refused = await call(a1.socket, 'group.send', { groupId, epoch: 1, message: opaque() });
    expect(refused).toMatchObject({ ok: false, error: { code: 'quota_exceeded', details: { to: bob.username, device: 1 } } });
    const sync = await ok(a1, 'group.sync', { groupId, afterSeq: 0 });
    expect((sync.messages as unknown[]).length).toBe(2);
  });
});
