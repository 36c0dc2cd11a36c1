/**
 * Groups through ChatClient against a server that lies on the wire (test/helpers/hostile-server.ts in
 * front of a real server): three users, each a ChatClient connected through the liar, which drops,
 * holds, reorders, duplicates and replays `group.message` pushes, rewrites `group.sync` and
 * `mls.keypackages.claim` answers, injects Welcomes and malformed frames, and refuses every commit as
 * stale. Each case asserts what a user sees: messages shown once and in order, refusals reported, rosters
 * unchanged by forgeries, and the group still usable afterwards.
 *
 * The same behaviours against an in-memory Delivery Service are hostile-groups.test.ts's; this file checks
 * them through the real wire (schemas, the receive loop, acknowledgements) and the real server's log.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../../src/client/chat-client.js';
import { addressText } from '../../../src/client/address.js';
import { MAX_COMMIT_ATTEMPTS } from '../../../src/client/groups/group-commit-loop.js';
import type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from '../../../src/client/groups/group-runtime.js';
import { MemoryGroupStore } from '../../../src/client/groups/memory-group-store.js';
import { base64urlDecode, base64urlEncode, randomBytes } from '../../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../../src/crypto/ed25519-keygen.js';
import { ed25519SigningKeyFromSeed } from '../../../src/crypto/signing-key.js';
import { commitAdd, createDeviceGroup, GROUP_ID_BYTES } from '../../../src/e2ee/mls/group-commits.js';
import { createDeviceKeyPackage } from '../../../src/e2ee/mls/key-package.js';
import { openMlsDevice } from '../../../src/e2ee/mls/mls-device.js';
import type { DeviceList } from '../../../src/protocol/device-list-payload.js';
import type { GroupLogEntry, GroupMessageEvent as GroupMessageFrame, GroupWelcomeEvent } from '../../../src/protocol/group-schemas.js';
import { verifiedList } from '../../e2ee/mls/mls-world.js';
import { FORWARD } from '../../helpers/hostile-server.js';
import { useHostileServer } from '../../helpers/server-fixtures.js';
import { connectTestClient, waitUntil, type TestClient } from '../../helpers/test-clients.js';

interface Person {
  readonly name: string;
  readonly t: TestClient;
  readonly client: ChatClient;
  readonly heard: GroupMessageEvent[];
  readonly changes: GroupMembershipEvent[];
  readonly refused: GroupRefusalEvent[];
  readonly debug: string[];
}

const WAIT_MS = 15_000;
/** The names the three users register under (one server per file: names are unique in it). */
const NAMES = ['hw-alice', 'hw-bob', 'hw-carol'] as const;

describe('groups through ChatClient and a hostile server in front of a real one', () => {
  const servers = useHostileServer();
  const people = new Map<string, Person>();
  let alice: Person;
  let bob: Person;
  let carol: Person;
  /** Hooks a test set; removed after it, so each test starts with an honest server. */
  const undo: Array<() => void> = [];
  const hook = (remove: () => void): (() => void) => (undo.push(remove), remove);

  beforeAll(async () => {
    for (const name of NAMES) {
      const t = servers.track(await connectTestClient(servers.hostile.url, name, { groups: new MemoryGroupStore() }));
      const p: Person = { name, t, client: t.client, heard: [], changes: [], refused: [], debug: [] };
      t.client.on('groupMessage', (m) => p.heard.push(m));
      t.client.on('groupMembership', (c) => p.changes.push(c));
      t.client.on('groupRefused', (r) => p.refused.push(r));
      t.client.on('debug', (d) => p.debug.push(d.message));
      people.set(name, p);
    }
    [alice, bob, carol] = NAMES.map((n) => people.get(n)!) as [Person, Person, Person];
  });

  afterEach(() => {
    for (const remove of undo.splice(0)) remove();
    for (const name of NAMES) if (servers.hostile.heldCount(name) > 0) servers.hostile.release(name);
  });

  const texts = (p: Person, group: string) => p.heard.filter((m) => m.groupId === group).map((m) => m.text);
  const refusals = (p: Person, group: string) => p.refused.filter((r) => r.groupId === group).map((r) => r.error.code);
  const heard = (p: Person, group: string, text: string) =>
    waitUntil(() => p.heard.find((m) => m.groupId === group && m.text === text), WAIT_MS, `${p.name} to hear "${text}"`);
  const epochOf = async (p: Person, group: string) => (await p.client.groupInfo(group)).epoch;
  const rosterOf = async (p: Person, group: string) => (await p.client.groupInfo(group)).members.map(addressText).sort();
  /** Waits until every one of `who` holds `group` at `epoch`. */
  const allAt = (group: string, epoch: number, who: readonly Person[] = [alice, bob, carol]) =>
    waitUntil(async () => ((await Promise.all(who.map((p) => epochOf(p, group)))).every((e) => e === epoch) ? true : undefined), WAIT_MS, `all at epoch ${epoch}`);
  const commitsBy = (user: string) => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'group.commit' && f.user === user).length;
  const ackedBy = (user: string, id: string) =>
    servers.hostile.frames.some((f) => f.kind === 'request' && f.event === 'ack' && f.user === user && ((f.payload as { ids?: string[] }).ids ?? []).includes(id));

  /** A group of alice's with `members`, everyone joined. */
  async function newGroup(name: string, members: readonly Person[] = [bob, carol]): Promise<string> {
    const group = await alice.client.createGroup(name, members.map((p) => p.name));
    for (const p of members) await waitUntil(() => p.changes.find((c) => c.groupId === group && c.joined), WAIT_MS, `${p.name} to join "${name}"`);
    return group;
  }

  /** Drops the next commit of `group` pushed to `p`; resolves once it was dropped (the hook is then removed). */
  function dropNextCommitTo(p: Person, group: string): Promise<GroupMessageFrame> {
    return new Promise((resolve) => {
      const stop = hook(
        servers.hostile.onPush('group.message', (m, conn) => {
          if (conn.username !== p.name || m.groupId !== group || m.kind !== 'commit') return [m];
          stop();
          resolve(m as GroupMessageFrame);
          return [];
        }),
      );
    });
  }

  it('a pushed commit dropped: the next message shows the gap, the member syncs, ends in the same epoch and reads on', async () => {
    const group = await newGroup('dropped-commit');
    const before = await epochOf(alice, group);
    const dropped = dropNextCommitTo(carol, group);
    await alice.client.updateGroupKeys(group);
    await dropped;
    await allAt(group, before + 1, [alice, bob]);
    expect(await epochOf(carol, group)).toBe(before);
    await bob.client.sendGroupMessage(group, 'after the commit carol was not sent');
    await heard(carol, group, 'after the commit carol was not sent');
    expect(await epochOf(carol, group)).toBe(before + 1);
    await alice.client.sendGroupMessage(group, 'and later');
    await heard(carol, group, 'and later');
    expect(texts(carol, group)).toEqual(['after the commit carol was not sent', 'and later']);
    expect(refusals(carol, group)).toEqual([]);
  });

  it('pushes held and released in reverse (a commit and messages after it): each message is shown once, in order', async () => {
    const group = await newGroup('reordered');
    const before = await epochOf(alice, group);
    servers.hostile.hold(carol.name);
    await alice.client.updateGroupKeys(group);
    await allAt(group, before + 1, [alice, bob]);
    await bob.client.sendGroupMessage(group, 'one');
    await alice.client.sendGroupMessage(group, 'two');
    await waitUntil(() => (servers.hostile.heldCount(carol.name) >= 3 ? true : undefined), WAIT_MS, 'three pushes held for carol');
    expect(texts(carol, group)).toEqual([]);
    servers.hostile.release(carol.name, (held) => [...held].reverse());
    // Barrier: a message pushed after the released ones is handled after them.
    await bob.client.sendGroupMessage(group, 'three');
    await heard(carol, group, 'three');
    expect(texts(carol, group)).toEqual(['one', 'two', 'three']);
    expect(await epochOf(carol, group)).toBe(before + 1);
    expect(refusals(carol, group)).toEqual([]);
  });

  it('a pushed group.message duplicated at once and replayed later (the commit too): shown once', async () => {
    const group = await newGroup('replayed');
    const before = await epochOf(alice, group);
    const copies: unknown[] = [];
    const stop = hook(servers.hostile.onPush('group.message', (m, conn) => (conn.username === carol.name && m.groupId === group ? (copies.push(m), [m, m]) : [m])));
    await bob.client.sendGroupMessage(group, 'said once');
    await heard(carol, group, 'said once');
    await alice.client.updateGroupKeys(group);
    await allAt(group, before + 1);
    stop();
    expect(copies).toHaveLength(2);
    // Later, every frame again (as the server's own queue ids: the client acknowledges, and shows nothing).
    for (const m of copies) expect(servers.hostile.push(carol.name, 'group.message', m)).toBe(1);
    await alice.client.sendGroupMessage(group, 'barrier');
    await heard(carol, group, 'barrier');
    expect(texts(carol, group)).toEqual(['said once', 'barrier']);
    expect(refusals(carol, group)).toEqual([]);
    expect(await epochOf(carol, group)).toBe(before + 1);
  });

  it("a group.sync answer padded with another group's entries and entries already read, out of order: those are skipped, and the member recovers", async () => {
    const group = await newGroup('sync-padded');
    const other = await newGroup('sync-other');
    await alice.client.sendGroupMessage(group, 'before');
    await heard(carol, group, 'before');
    await bob.client.sendGroupMessage(other, 'in the other group');
    await heard(carol, other, 'in the other group');
    const carolConn = servers.hostile.connectionsOf(carol.name)[0]!;
    const otherAnswer = await carolConn.ask('group.sync', { groupId: other, afterSeq: 0 });
    const oldAnswer = await carolConn.ask('group.sync', { groupId: group, afterSeq: 0 });
    if (!otherAnswer.ok || !oldAnswer.ok) throw new Error('the real server refused a sync');
    const foreign = otherAnswer.messages as GroupLogEntry[];
    const alreadyRead = oldAnswer.messages as GroupLogEntry[];
    expect(foreign.length).toBeGreaterThan(0);
    expect(alreadyRead.length).toBeGreaterThan(0);
    let lied = 0;
    hook(
      servers.hostile.onAnswer('group.sync', (answer, payload, conn) => {
        if (conn.username !== carol.name || (payload as { groupId?: string }).groupId !== group || !answer.ok) return answer;
        lied++;
        const real = answer.messages as GroupLogEntry[];
        // Foreign entries first, an entry already read between the real ones (which keep their order).
        const padded = [...foreign, ...real.flatMap((e, i) => (i === 0 ? [e, alreadyRead[0]!] : [e])), ...foreign.slice(0, 1)];
        return { ...answer, messages: padded };
      }),
    );
    const before = await epochOf(alice, group);
    const dropped = dropNextCommitTo(carol, group);
    await alice.client.updateGroupKeys(group);
    await dropped;
    await allAt(group, before + 1, [alice, bob]);
    await bob.client.sendGroupMessage(group, 'read through the padding');
    await heard(carol, group, 'read through the padding');
    expect(lied).toBeGreaterThan(0);
    expect(carol.debug.some((m) => m.includes('for another group or from before'))).toBe(true);
    expect(await epochOf(carol, group)).toBe(before + 1);
    expect(texts(carol, group)).toEqual(['before', 'read through the padding']);
    expect(refusals(carol, group)).toEqual([]);
    // The other group is untouched by its entries having been offered under this one.
    expect(texts(carol, other)).toEqual(['in the other group']);
    await bob.client.sendGroupMessage(other, 'the other group goes on');
    await heard(carol, other, 'the other group goes on');
  });

  /** Carol's group.sync answers for `group` rewritten by `rewrite`; returns the hook's remover and a count. */
  function lieToCarolsSync(group: string, rewrite: (real: GroupLogEntry[]) => GroupLogEntry[]) {
    const lies = { count: 0 };
    const stop = hook(
      servers.hostile.onAnswer('group.sync', (answer, payload, conn) => {
        if (conn.username !== carol.name || (payload as { groupId?: string }).groupId !== group || !answer.ok) return answer;
        lies.count++;
        return { ...answer, messages: rewrite(answer.messages as GroupLogEntry[]) };
      }),
    );
    return { stop, lies };
  }

  it('a group.sync answer in reverse order: sorted, and the member reads on in the right epoch', async () => {
    const group = await newGroup('sync-reversed');
    const { lies } = lieToCarolsSync(group, (real) => [...real].reverse());
    const before = await epochOf(alice, group);
    const dropped = dropNextCommitTo(carol, group);
    await alice.client.updateGroupKeys(group);
    await dropped;
    await allAt(group, before + 1, [alice, bob]);
    await bob.client.sendGroupMessage(group, 'beyond the reordered commit');
    await heard(carol, group, 'beyond the reordered commit');
    expect(lies.count).toBeGreaterThan(0);
    expect(await epochOf(carol, group)).toBe(before + 1);
    expect(texts(carol, group)).toEqual(['beyond the reordered commit']);
    expect(refusals(carol, group)).toEqual([]);
  });

  it('a group.sync answer that omits the commit: nothing past the hole is shown or skipped; once the server answers honestly, the member reads everything', async () => {
    const group = await newGroup('sync-omitted');
    const { stop, lies } = lieToCarolsSync(group, (real) => real.filter((e) => e.kind !== 'commit'));
    const before = await epochOf(alice, group);
    const debugBefore = carol.debug.length;
    const dropped = dropNextCommitTo(carol, group);
    await alice.client.updateGroupKeys(group);
    await dropped;
    await allAt(group, before + 1, [alice, bob]);
    await bob.client.sendGroupMessage(group, 'beyond the hidden commit');
    await waitUntil(
      () => (carol.debug.slice(debugBefore).some((m) => m.includes('the log skips from seq') || m.includes('the log holds no commit that leads there')) ? true : undefined),
      WAIT_MS,
      'carol to report the hole in the log',
    );
    expect(lies.count).toBeGreaterThan(0);
    expect(texts(carol, group)).toEqual([]);
    expect(refusals(carol, group)).toEqual([]);
    // Not corrupted: the epoch carol could verify, with its roster, still opens.
    expect(await epochOf(carol, group)).toBe(before);
    expect(await rosterOf(carol, group)).toEqual([alice, bob, carol].map((p) => `${p.name}/1`).sort());

    // The server tells the truth again: carol's place in the log stayed before the hole, so the next push
    // past it makes her sync the commit and everything after it, each once and in order.
    stop();
    await alice.client.sendGroupMessage(group, 'after the lie');
    await heard(carol, group, 'after the lie');
    expect(texts(carol, group)).toEqual(['beyond the hidden commit', 'after the lie']);
    expect(await epochOf(carol, group)).toBe(before + 1);
    expect(refusals(carol, group)).toEqual([]);
    await carol.client.sendGroupMessage(group, 'carol is back');
    await heard(bob, group, 'carol is back');
  });

  it("a forged add: the claim answer's KeyPackage is another key under the device's name, or another user's: refused; a device the list does not name is never added", async () => {
    const group = await newGroup('forged-add', [bob]);
    // The server's own devices calling themselves hw-carol/1 and /2, with keys of their own.
    const rogueSeeds = [randomBytes(32), randomBytes(32)];
    const rogueList = verifiedList(carol.name, rogueSeeds.map((seed, i) => ({ deviceId: i + 1, signingKey: ed25519PublicKeyFromSecret(seed) })));
    const rogueMls = async (device: number) => openMlsDevice({ username: carol.name, deviceId: device }, ed25519SigningKeyFromSeed(rogueSeeds[device - 1]!), async (u) => (u === carol.name ? rogueList : undefined));
    const impostor = base64urlEncode((await createDeviceKeyPackage(await rogueMls(1))).message);
    const extra = base64urlEncode((await createDeviceKeyPackage(await rogueMls(2))).message);
    // bob's package from the group's creation, as the server handed it to alice.
    const bobsClaim = servers.hostile.answersTo('mls.keypackages.claim', (p) => (p as { user?: string }).user === bob.name).at(-1)!.real as { packages: { keyPackage: string }[] };
    const bobsPackage = bobsClaim.packages[0]!.keyPackage;
    const substitute = (packages: (real: { device: number; keyPackage: string; lastResort: boolean }[]) => unknown[]) =>
      hook(
        servers.hostile.onAnswer('mls.keypackages.claim', (answer, payload, conn) =>
          conn.username === alice.name && (payload as { user?: string }).user === carol.name && answer.ok ? { ...answer, packages: packages(answer.packages as never) } : answer,
        ),
      );
    const commits = commitsBy(alice.name);

    const stopImpostor = substitute(() => [{ device: 1, keyPackage: impostor, lastResort: false }]);
    await expect(alice.client.addToGroup(group, [carol.name])).rejects.toMatchObject({ code: 'group_member_refused' });
    stopImpostor();
    const stopBobs = substitute(() => [{ device: 1, keyPackage: bobsPackage, lastResort: false }]);
    await expect(alice.client.addToGroup(group, [carol.name])).rejects.toMatchObject({ code: 'group_member_refused' });
    stopBobs();
    expect(commitsBy(alice.name)).toBe(commits);
    for (const p of [alice, bob]) expect(await rosterOf(p, group), p.name).toEqual([alice.name, bob.name].map((n) => `${n}/1`).sort());
    expect((await carol.client.groups()).map((g) => g.groupId)).not.toContain(group);

    // The real package, and one more for a device carol's verified list does not name: only hw-carol/1 is added.
    substitute((real) => [...real, { device: 2, keyPackage: extra, lastResort: false }]);
    expect(await alice.client.addToGroup(group, [carol.name])).toBe(true);
    await waitUntil(() => carol.changes.find((c) => c.groupId === group && c.joined), WAIT_MS, 'carol to join');
    const epoch = await epochOf(alice, group);
    await allAt(group, epoch);
    for (const p of [alice, bob, carol]) expect(await rosterOf(p, group), p.name).toEqual(NAMES.map((n) => `${n}/1`).sort());
    expect(refusals(bob, group)).toEqual([]);
  });

  it('a Welcome for another KeyPackage, and one into a group holding a rogue member: refused, settled, never shown as joined', async () => {
    const group = await newGroup('welcome-source', [bob]);
    const carolGroupsBefore = (await carol.client.groups()).length;
    const debugBefore = carol.debug.length;
    // bob's real Welcome, pushed to carol as if hers.
    const bobsWelcome = servers.hostile.pushesOf('group.welcome', bob.name).map((args) => args[0] as GroupWelcomeEvent).find((w) => w.groupId === group)!;
    const strayId = base64urlEncode(randomBytes(16));
    servers.hostile.push(carol.name, 'group.welcome', { ...bobsWelcome, id: strayId });
    await waitUntil(() => (ackedBy(carol.name, strayId) ? true : undefined), WAIT_MS, "carol to settle the Welcome for bob's KeyPackage");
    expect(carol.debug.slice(debugBefore).some((m) => m.includes("naming none of this device's KeyPackages"))).toBe(true);

    // A group of the server's making: a rogue hw-bob/7 (a key of its own) adds carol's real KeyPackage.
    // Claimed on alice's connection (a device never gets its own user's device's package from a claim of its own).
    const carolConn = servers.hostile.connectionsOf(alice.name)[0]!;
    // Asked at no version, the server names the one it holds.
    const mismatch = await carolConn.ask('mls.keypackages.claim', { user: carol.name, listVersion: null });
    const version = Number(/at version (\d+)/.exec(mismatch.ok ? '' : mismatch.error.message)?.[1]);
    const claim = await carolConn.ask('mls.keypackages.claim', { user: carol.name, listVersion: version });
    if (!claim.ok) throw new Error(`the real server refused the claim: ${claim.error.message}`);
    const carolsPackage = base64urlDecode(claim.packages[0]!.keyPackage);
    const rogueSeed = randomBytes(32);
    const lists = new Map<string, DeviceList>([
      // The list the rogue believes: bob's real device, and hw-bob/7 (which bob's verified list does not name).
      [bob.name, await verifiedList(bob.name, [{ deviceId: 1, signingKey: base64urlDecode(bob.t.identity.keys.signing.x) }, { deviceId: 7, signingKey: ed25519PublicKeyFromSecret(rogueSeed) }])],
      [carol.name, await verifiedList(carol.name, [{ deviceId: 1, signingKey: base64urlDecode(carol.t.identity.keys.signing.x) }])],
    ]);
    const rogue = await openMlsDevice({ username: bob.name, deviceId: 7 }, ed25519SigningKeyFromSeed(rogueSeed), async (u) => lists.get(u));
    const rogueGroupId = randomBytes(GROUP_ID_BYTES);
    const made = await commitAdd(rogue, await createDeviceGroup(rogue, rogueGroupId, 'rogue'), [carolsPackage]);
    const rogueId = base64urlEncode(randomBytes(16));
    servers.hostile.push(carol.name, 'group.welcome', {
      id: rogueId,
      groupId: base64urlEncode(rogueGroupId),
      seq: 1,
      welcome: base64urlEncode(made.welcome!),
      from: { user: bob.name, device: 7 },
      sentAt: Date.now(),
    });
    const refusal = await waitUntil(() => carol.refused.find((r) => r.groupId === base64urlEncode(rogueGroupId)), WAIT_MS, 'carol to refuse the rogue Welcome');
    expect(refusal.error.code).toBe('group_member_refused');
    await waitUntil(() => (ackedBy(carol.name, rogueId) ? true : undefined), WAIT_MS, 'carol to settle the rogue Welcome');
    expect(carol.changes.filter((c) => c.joined && (c.groupId === group || c.groupId === base64urlEncode(rogueGroupId)))).toEqual([]);
    expect((await carol.client.groups()).length).toBe(carolGroupsBefore);
  });

  it('malformed group frames injected: dropped by the schema and reported, the client goes on, and honest messages still flow', async () => {
    const group = await newGroup('malformed');
    await bob.client.sendGroupMessage(group, 'first');
    await heard(carol, group, 'first');
    const real = servers.hostile.pushesOf('group.message', carol.name).map((args) => args[0] as GroupMessageFrame).findLast((m) => m.groupId === group && m.kind === 'application')!;
    const malformedBefore = carol.debug.filter((m) => m.includes('malformed "group.')).length;
    const garbage: Array<['group.message' | 'group.welcome', unknown]> = [
      ['group.message', null],
      ['group.message', 42],
      ['group.message', 'x'.repeat(1_000_000)],
      ['group.message', { ...real, kind: 'proposal' }],
      ['group.message', { ...real, message: 'A'.repeat(2_000_000) }],
      ['group.message', { ...real, groupId: '!'.repeat(43) }],
      ['group.message', { ...real, message: 'not*base64url' }],
      ['group.message', { ...real, seq: String(real.seq + 1) }],
      ['group.message', { ...real, from: { user: bob.name, device: 1, admin: true }, seq: -1 }],
      ['group.welcome', { id: real.id, groupId: group, seq: 1, welcome: '%%%', from: real.from, sentAt: 1 }],
      ['group.welcome', [real]],
    ];
    for (const [event, payload] of garbage) expect(servers.hostile.push(carol.name, event, payload)).toBe(1);
    // Extra members on a real frame: the schema strips them; it is then the same entry again, shown once.
    servers.hostile.push(carol.name, 'group.message', { ...real, admin: true, members: [{ user: 'mallory', device: 1 }] });
    await bob.client.sendGroupMessage(group, 'still flowing');
    await heard(carol, group, 'still flowing');
    expect(carol.debug.filter((m) => m.includes('malformed "group.')).length - malformedBefore).toBe(garbage.length);
    expect(texts(carol, group)).toEqual(['first', 'still flowing']);
    expect(refusals(carol, group)).toEqual([]);
    await carol.client.sendGroupMessage(group, 'carol still sends');
    await heard(alice, group, 'carol still sends');
  });

  it('group_epoch_stale answered falsely to every group.commit: the change fails after MAX_COMMIT_ATTEMPTS, and the group stays usable', async () => {
    const group = await newGroup('stale-forever');
    const before = await epochOf(alice, group);
    hook(
      servers.hostile.onRequest('group.commit', (_payload, conn) =>
        // The epoch it names is far ahead: a hint the client never trusts beyond "sync".
        conn.username === alice.name ? { ok: false, error: { code: 'group_epoch_stale', message: 'another commit took this epoch', details: { epoch: before + 1000 } } } : FORWARD,
      ),
    );
    const commits = commitsBy(alice.name);
    await expect(alice.client.updateGroupKeys(group)).rejects.toMatchObject({ code: 'group_epoch_stale' });
    expect(commitsBy(alice.name) - commits).toBe(MAX_COMMIT_ATTEMPTS);
    for (const remove of undo.splice(0)) remove();
    // Nothing changed, nothing is left pending: alice still talks in her epoch, and her next change lands.
    expect(await epochOf(alice, group)).toBe(before);
    await alice.client.sendGroupMessage(group, 'still here');
    await heard(bob, group, 'still here');
    await heard(carol, group, 'still here');
    await alice.client.updateGroupKeys(group);
    await allAt(group, before + 1);
    await carol.client.sendGroupMessage(group, 'in the next epoch');
    await heard(alice, group, 'in the next epoch');
  });
});
