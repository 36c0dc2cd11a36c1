/**
 * The ServerStore contract for the MLS Delivery Service (docs/design/groups-mls.md §4), against every
 * store: KeyPackages handed out once (and the last-resort one again and again), the per-device cap;
 * groups with one total order of commits, routing membership, each log entry stored once with a
 * reference in each member device's queue, quotas that refuse a write whole, and expiry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isGroupRefClientId, groupRefOf } from '../../src/server/store/group-deliveries.js';
import type { GroupCommitInput, GroupSendInput, GroupWriteLimits, GroupWriteResult, MemberAddress } from '../../src/server/store/group-records.js';
import type { ServerStore } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, durableBackends, input, quota } from './store-fixtures.js';

afterEach(cleanupStores);

const G = 'g'.repeat(43);
const alice1: MemberAddress = { user: 'alice', device: 1 };
const alice2: MemberAddress = { user: 'alice', device: 2 };
const bob1: MemberAddress = { user: 'bob', device: 1 };
const carol1: MemberAddress = { user: 'carol', device: 1 };
const limits: GroupWriteLimits = { quota, maxMembers: 4, logMaxBytes: 10_000 };

let ids = 0;
const base = (from: MemberAddress, epoch: number, now = 1_000) => ({ groupId: G, from, epoch, sentAt: now, expiresAt: now + 1_000_000, newId: () => `gid${++ids}` });
const commit = (from: MemberAddress, epoch: number, add: MemberAddress[] = [], remove: MemberAddress[] = [], over: Partial<GroupCommitInput> = {}): GroupCommitInput => ({
  ...base(from, epoch),
  commit: `commit-${from.user}${from.device}-e${epoch}`,
  ...(add.length > 0 && { welcome: `welcome-e${epoch}` }),
  add,
  remove,
  ...over,
});
const send = (from: MemberAddress, epoch: number, message = 'hello', over: Partial<GroupSendInput> = {}): GroupSendInput => ({ ...base(from, epoch), message, ...over });

function accepted(r: GroupWriteResult) {
  if (r.status !== 'accepted') throw new Error(`expected accepted, got ${JSON.stringify(r)}`);
  return r;
}

/** alice/1 creates the group and adds alice/2 and bob/1: epoch 1, log seq 1. */
async function threeMembers(store: ServerStore) {
  expect(await store.createGroup(G, alice1, 1, 10)).toBe('created');
  return accepted(await store.commitGroup(commit(alice1, 0, [alice2, bob1]), limits));
}

const addr = (q: { recipient: string; recipientDevice: number }) => `${q.recipient}/${q.recipientDevice}`;

describe.each(backends)('%s server store: KeyPackages', (_name, make) => {
  it('hands each one-time package out once, oldest first, then the last-resort one every time', async () => {
    const store = await make();
    expect(await store.putKeyPackages('bob', 1, ['kp1', 'kp2'], 'last', 10)).toEqual({ status: 'stored', stored: 2, oneTime: 2 });
    expect(await store.putKeyPackages('bob', 2, ['other'], undefined, 10)).toEqual({ status: 'stored', stored: 1, oneTime: 1 });
    expect(await store.keyPackageCounts('bob', 1)).toEqual({ oneTime: 2, lastResort: true });
    expect(await store.claimKeyPackages('bob', [1, 2])).toEqual([
      { device: 1, keyPackage: 'kp1', lastResort: false, remaining: 1 },
      { device: 2, keyPackage: 'other', lastResort: false, remaining: 0 },
    ]);
    expect(await store.claimKeyPackages('bob', [1, 2])).toEqual([{ device: 1, keyPackage: 'kp2', lastResort: false, remaining: 0 }]);
    expect(await store.claimKeyPackages('bob', [1])).toEqual([{ device: 1, keyPackage: 'last', lastResort: true, remaining: 0 }]);
    expect(await store.claimKeyPackages('bob', [1])).toEqual([{ device: 1, keyPackage: 'last', lastResort: true, remaining: 0 }]);
    await store.putKeyPackages('bob', 1, [], 'newer', 10);
    expect(await store.claimKeyPackages('bob', [1])).toMatchObject([{ keyPackage: 'newer', lastResort: true }]);
    await store.close();
  });

  it('refuses an upload past the cap whole, and concurrent claims never share a package', async () => {
    const store = await make();
    await store.putKeyPackages('bob', 1, ['a', 'b', 'c'], undefined, 4);
    expect(await store.putKeyPackages('bob', 1, ['d', 'e'], 'lr', 4)).toEqual({ status: 'limit', oneTime: 3 });
    expect(await store.keyPackageCounts('bob', 1)).toEqual({ oneTime: 3, lastResort: false });
    const claims = await Promise.all(Array.from({ length: 5 }, () => store.claimKeyPackages('bob', [1])));
    const got = claims.flat().map((c) => c.keyPackage);
    expect(got.sort()).toEqual(['a', 'b', 'c']);
    await store.close();
  });
});

describe.each(backends)('%s server store: groups', (_name, make) => {
  it('creates a group whose one member is the creator, once per id, within the creator cap', async () => {
    const store = await make();
    expect(await store.createGroup(G, alice1, 1, 2)).toBe('created');
    expect(await store.createGroup(G, bob1, 1, 2)).toBe('exists');
    expect(await store.createGroup('h'.repeat(43), alice2, 1, 2)).toBe('created');
    expect(await store.createGroup('i'.repeat(43), alice1, 1, 2)).toBe('limit');
    expect(await store.getGroup(G)).toMatchObject({ epoch: 0, lastSeq: 0, members: [{ user: 'alice', device: 1, joinedSeq: 0 }] });
    await store.close();
  });

  it('accepts a commit in the current epoch only: of two for one epoch exactly one wins', async () => {
    const store = await make();
    await threeMembers(store);
    const results = await Promise.all([store.commitGroup(commit(alice2, 1), limits), store.commitGroup(commit(bob1, 1), limits)]);
    expect(results.map((r) => r.status).sort()).toEqual(['accepted', 'stale']);
    expect(results.find((r) => r.status === 'stale')).toEqual({ status: 'stale', epoch: 2 });
    expect(await store.commitGroup(commit(alice1, 1), limits)).toEqual({ status: 'stale', epoch: 2 });
    expect(await store.commitGroup(commit(alice1, 3), limits)).toEqual({ status: 'stale', epoch: 2 });
    expect((await store.getGroup(G))!.epoch).toBe(2);
    expect((await store.groupLog(G, 0, 10, 0)).map((e) => [e.seq, e.kind, e.epoch])).toEqual([
      [1, 'commit', 0],
      [2, 'commit', 1],
    ]);
    await store.close();
  });

  it('routes a commit to the members before it and its Welcome to the added devices, in the same write', async () => {
    const store = await make();
    const first = await threeMembers(store);
    expect(first.deliveries.map((q) => [addr(q), groupRefOf(q)!.kind])).toEqual([
      ['alice/2', 'welcome'],
      ['bob/1', 'welcome'],
    ]);
    const second = accepted(await store.commitGroup(commit(bob1, 1, [carol1], [alice2]), limits));
    expect(second.epoch).toBe(2);
    expect(second.deliveries.map((q) => [addr(q), groupRefOf(q)!.kind]).sort()).toEqual([
      ['alice/1', 'message'],
      ['alice/2', 'message'],
      ['carol/1', 'welcome'],
    ]);
    expect((await store.pending('carol', 1, 0, 10, 0)).map((q) => groupRefOf(q))).toEqual([{ groupId: G, seq: 2, kind: 'welcome' }]);
    const group = (await store.getGroup(G))!;
    expect(group.members.map((m) => `${m.user}/${m.device}@${m.joinedSeq}`).sort()).toEqual(['alice/1@0', 'bob/1@1', 'carol/1@2']);
    const [entry] = await store.groupLogEntries([{ groupId: G, seq: 2 }]);
    expect(entry).toMatchObject({ kind: 'commit', sender: 'bob', senderDevice: 1, message: 'commit-bob1-e1', welcome: 'welcome-e1' });
    await store.close();
  });

  it('refuses writes by non-members and membership changes that do not fit, changing nothing', async () => {
    const store = await make();
    expect(await store.commitGroup(commit(alice1, 0), limits)).toEqual({ status: 'unknown_group' });
    await threeMembers(store);
    expect(await store.commitGroup(commit(carol1, 1), limits)).toEqual({ status: 'not_member' });
    expect(await store.sendGroupMessage(send(carol1, 1), limits)).toEqual({ status: 'not_member' });
    expect(await store.commitGroup(commit(alice1, 1, [bob1]), limits)).toMatchObject({ status: 'bad_members' });
    expect(await store.commitGroup(commit(alice1, 1, [], [carol1]), limits)).toMatchObject({ status: 'bad_members' });
    expect(await store.commitGroup(commit(alice1, 1, [], [alice1]), limits)).toMatchObject({ status: 'bad_members' });
    const many = [2, 3].map((device) => ({ user: 'carol', device }));
    expect(await store.commitGroup(commit(alice1, 1, many), { ...limits, maxMembers: 4 })).toMatchObject({ status: 'group_limit' });
    const group = (await store.getGroup(G))!;
    expect([group.epoch, group.lastSeq, group.members.length]).toEqual([1, 1, 3]);
    expect(await store.pending('carol', 2, 0, 10, 0)).toEqual([]);
    await store.close();
  });

  it('stores an application message once, with a reference in every other member device’s queue; past epochs yes, future no', async () => {
    const store = await make();
    await threeMembers(store);
    const sent = accepted(await store.sendGroupMessage(send(alice1, 1, 'hi all'), limits));
    expect(sent.entry).toMatchObject({ seq: 2, kind: 'application', epoch: 1, message: 'hi all' });
    expect(sent.deliveries.map(addr).sort()).toEqual(['alice/2', 'bob/1']);
    for (const q of sent.deliveries) {
      expect(q.envelope).not.toContain('hi all');
      expect(isGroupRefClientId(q.clientId)).toBe(true);
    }
    expect(accepted(await store.sendGroupMessage(send(bob1, 0, 'old epoch'), limits)).entry.seq).toBe(3);
    expect(await store.sendGroupMessage(send(bob1, 2), limits)).toEqual({ status: 'stale', epoch: 1 });
    expect((await store.groupLog(G, 1, 10, 0)).map((e) => e.message)).toEqual(['hi all', 'old epoch']);
    expect((await store.groupLog(G, 0, 1, 0)).map((e) => e.seq)).toEqual([1]);
    await store.close();
  });

  it('settling a reference owes no receipt, and the queue quota refuses a group write whole', async () => {
    const store = await make();
    await threeMembers(store);
    const [ref] = (await store.pending('bob', 1, 0, 10, 0)).filter((q) => groupRefOf(q));
    expect(await store.acknowledge('bob', 1, [ref!.id], 2_000, 10_000_000)).toEqual([]);
    expect(await store.pendingReceipts('alice', 1, 0, 10)).toEqual([]);
    // alice/2 has not taken its Welcome yet: a cap of one envelope per queue refuses the next group
    // message for everyone, though bob/1's queue has room.
    await store.enqueue(input({ recipient: 'carol', recipientDevice: 1 }), quota);
    const tight = { ...limits, quota: { maxCount: 1, maxBytes: 1_000_000 } };
    expect(await store.sendGroupMessage(send(alice1, 1), tight)).toMatchObject({ status: 'quota_exceeded', to: 'alice', device: 2 });
    expect(await store.pending('bob', 1, 0, 10, 0)).toEqual([]);
    expect((await store.getGroup(G))!.lastSeq).toBe(1);
    expect(await store.pending('alice', 2, 0, 10, 0)).toHaveLength(1); // its Welcome only
    await store.close();
  });

  it('caps the bytes of a group’s log, and frees them when entries expire', async () => {
    const store = await make();
    await threeMembers(store);
    const small = { ...limits, logMaxBytes: 200 };
    accepted(await store.sendGroupMessage({ ...send(alice1, 1, 'x'.repeat(150)), expiresAt: 5_000 }, small));
    expect(await store.sendGroupMessage(send(alice1, 1, 'y'.repeat(40)), small)).toMatchObject({ status: 'log_full' });
    await store.sweepExpired(6_000);
    expect(await store.groupLog(G, 0, 10, 6_000)).toHaveLength(1);
    expect(await store.groupLogEntries([{ groupId: G, seq: 2 }])).toEqual([]);
    accepted(await store.sendGroupMessage(send(alice1, 1, 'y'.repeat(40)), small));
    await store.close();
  });

  it("holds every group's log together to the server's storage cap, across groups, and frees it when entries expire", async () => {
    const store = await make();
    await threeMembers(store);
    const capped = { ...limits, quota: { ...quota, serverMaxBytes: 2_000 } };
    accepted(await store.sendGroupMessage({ ...send(alice1, 1, 'x'.repeat(1_500)), expiresAt: 5_000 }, capped));
    // Another group, far below its own log cap: refused for the server's sake, and nothing is written.
    const G2 = 'h'.repeat(43);
    expect(await store.createGroup(G2, carol1, 1, 10)).toBe('created');
    const refused = await store.sendGroupMessage({ ...send(carol1, 0, 'y'.repeat(600)), groupId: G2 }, capped);
    expect(refused).toMatchObject({ status: 'server_full' });
    expect(await store.groupLog(G2, 0, 10, 1_000)).toEqual([]);
    expect((await store.getGroup(G2))!.lastSeq).toBe(0);
    await store.sweepExpired(6_000);
    accepted(await store.sendGroupMessage({ ...send(carol1, 0, 'y'.repeat(600)), groupId: G2 }, capped));
    await store.close();
  });
});

describe.each(durableBackends)('%s server store: groups survive a restart', (_name, place) => {
  it('keeps the epoch, members, log and KeyPackages', async () => {
    const open = place();
    const store = await open();
    await threeMembers(store);
    await store.putKeyPackages('bob', 1, ['kp'], 'lr', 10);
    await store.close();
    const again = await open();
    expect(await again.getGroup(G)).toMatchObject({ epoch: 1, lastSeq: 1 });
    expect((await again.groupLog(G, 0, 10, 0))[0]).toMatchObject({ welcome: 'welcome-e0' });
    expect(await again.keyPackageCounts('bob', 1)).toEqual({ oneTime: 1, lastResort: true });
    await again.close();
  });
});
