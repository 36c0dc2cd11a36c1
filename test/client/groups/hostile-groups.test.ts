/**
 * The group client against a Delivery Service that lies (test/helpers/fake-group-delivery.ts acting
 * hostile): commits pushed out of order or not at all, a KeyPackage of a device the user's verified list
 * does not name handed out as theirs, application messages replayed; and device-list changes reaching
 * the groups (design §7). Also: a commit accepted while its author lost the answer is adopted from the log.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from '../../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../../src/crypto/ed25519-keygen.js';
import { ed25519SigningKeyFromSeed } from '../../../src/crypto/signing-key.js';
import { addressText } from '../../../src/client/address.js';
import { createDeviceKeyPackage } from '../../../src/e2ee/mls/key-package.js';
import { openMlsDevice } from '../../../src/e2ee/mls/mls-device.js';
import { ChatError } from '../../../src/protocol/errors.js';
import { verifiedList } from '../../e2ee/mls/mls-world.js';
import type { QueueItem } from '../../helpers/fake-group-delivery.js';
import { GroupPeople, type GroupDevice } from '../../helpers/group-people.js';

const texts = (d: GroupDevice) => d.messages.map((m) => `${addressText(m.from)}: ${m.text}`);

describe('group client against a hostile Delivery Service', () => {
  let people: GroupPeople;
  let team: string;

  beforeEach(async () => {
    people = await GroupPeople.create({ alice: 1, bob: 2, carol: 1 });
    team = await people.device('alice', 1).manager.createGroup('team', ['bob', 'carol']);
    await people.settle();
  });

  /** The epochs of every device holding the group. */
  async function epochs(): Promise<Set<number>> {
    const holding = [];
    for (const d of people.devices) if ((await d.manager.groups()).some((g) => g.groupId === team && g.active)) holding.push(d);
    return new Set(await Promise.all(holding.map(async (d) => (await d.manager.groupInfo(team)).epoch)));
  }

  it('commits pushed in the wrong order: the device syncs the log and applies them in order', async () => {
    const bob2 = people.device('bob', 2);
    const held: QueueItem[] = [];
    people.server.onPush = (to, item) => (addressText(to) === 'bob/2' && item.kind === 'message' && item.entry.kind === 'commit' ? (held.push(item), []) : [item]);
    await people.device('alice', 1).manager.updateKeys(team);
    await people.device('carol', 1).manager.updateKeys(team);
    await people.settle();
    people.server.onPush = undefined;
    expect(held).toHaveLength(2);
    for (const item of held.reverse()) people.server.inject(bob2.address, item);
    await people.settle();
    expect(bob2.refused).toEqual([]);
    expect(await epochs()).toEqual(new Set([3]));
    await people.device('carol', 1).manager.sendMessage(team, 'all in step?');
    await people.settle();
    expect(texts(bob2)).toContain('carol/1: all in step?');
  });

  it('a commit never pushed to a device: the next message shows the gap, and the device catches up from the log', async () => {
    const bob2 = people.device('bob', 2);
    people.server.onPush = (to, item) => (addressText(to) === 'bob/2' && item.kind === 'message' && item.entry.kind === 'commit' ? [] : [item]);
    await people.device('alice', 1).manager.updateKeys(team);
    await people.settle();
    await people.device('carol', 1).manager.sendMessage(team, 'after a commit bob/2 was not sent');
    await people.settle();
    expect(texts(bob2)).toEqual(['carol/1: after a commit bob/2 was not sent']);
    expect(await epochs()).toEqual(new Set([2]));
  });

  it('a commit missing from the log as well: the message is ahead of the device and is not read, and nothing breaks', async () => {
    const bob2 = people.device('bob', 2);
    people.server.onPush = (to, item) => (addressText(to) === 'bob/2' && item.kind === 'message' && item.entry.kind === 'commit' ? [] : [item]);
    await people.device('alice', 1).manager.updateKeys(team);
    await people.settle();
    await people.device('carol', 1).manager.sendMessage(team, 'in an epoch bob/2 cannot reach');
    // The server hides the commit from bob/2's sync too (and renumbers the message right after what bob/2 has).
    const log = people.server.groups.get(team)!.log;
    const commit = log.findIndex((e) => e.kind === 'commit' && e.epoch === 1);
    const [hidden] = log.splice(commit, 1);
    for (const e of log.slice(commit)) Object.assign(e, { seq: e.seq - 1 });
    people.server.onPush = (to, item) => (addressText(to) === 'bob/2' && item.kind === 'message' ? [{ kind: 'message', entry: { ...item.entry, seq: hidden!.seq } }] : [item]);
    await people.settle();
    expect(texts(bob2)).toEqual([]);
    expect(bob2.debug.some((m) => m.includes('the log holds no commit that leads there'))).toBe(true);
    expect((await bob2.manager.groupInfo(team)).epoch).toBe(1);
  });

  it("a KeyPackage for a device dave's verified list does not name is never used: only the listed device is added", async () => {
    await people.addDevice('dave');
    // The server's own device, claiming to be dave/2, with a key of its own; dave's verified list names only dave/1.
    const rogueSeed = randomBytes(32);
    const fooled = await verifiedList('dave', [
      { deviceId: 1, signingKey: people.lists.get('dave')!.devices[0]!.signingKey },
      { deviceId: 2, signingKey: ed25519PublicKeyFromSecret(rogueSeed) },
    ]);
    const rogue = await openMlsDevice({ username: 'dave', deviceId: 2 }, ed25519SigningKeyFromSeed(rogueSeed), (u) => (u === 'dave' ? fooled : people.lists.get(u)));
    const forged = (await createDeviceKeyPackage(rogue)).message;
    people.server.onClaim = (user, answer) => (user === 'dave' ? { ...answer, packages: [...answer.packages, { device: 2, keyPackage: forged, lastResort: false }] } : answer);
    // The list the server serves names dave/2 too, but the clients' verified lists do not.
    const commitsBefore = people.server.commits.length;
    const error = await people.device('alice', 1).manager.addUsers(team, ['dave']).catch((e: unknown) => e);
    // dave/2 is not in the verified list, so it was never asked for: only dave/1 is added.
    expect(error).toBe(true);
    await people.settle();
    expect((await people.device('bob', 1).manager.groupInfo(team)).members.map(addressText)).toContain('dave/1');
    expect((await people.device('bob', 1).manager.groupInfo(team)).members.map(addressText)).not.toContain('dave/2');
    expect(people.server.commits.length).toBe(commitsBefore + 1);
  });

  it('a forged add committed by a member the server fooled: every other member refuses the commit and keeps its roster', async () => {
    const carol = people.device('carol', 1);
    // carol's client was handed a forged list of bob naming bob/7, a device of the server's, and believed it.
    const rogueSeed = randomBytes(32);
    const real = people.lists.get('bob')!;
    const forgedBob = {
      ...(await verifiedList('bob', [...real.devices.map((d) => ({ deviceId: d.deviceId, signingKey: d.signingKey })), { deviceId: 7, signingKey: ed25519PublicKeyFromSecret(rogueSeed) }])),
      version: real.version,
    };
    carol.listOverride = (u) => (u === 'bob' ? forgedBob : undefined);
    const rogue = await openMlsDevice({ username: 'bob', deviceId: 7 }, ed25519SigningKeyFromSeed(rogueSeed), (u) => (u === 'bob' ? forgedBob : people.lists.get(u)));
    const forged = (await createDeviceKeyPackage(rogue)).message;
    people.server.onClaim = (user, answer) => (user === 'bob' ? { ...answer, packages: [{ device: 7, keyPackage: forged, lastResort: false }] } : answer);
    // The forged list claims the real one's version, so the claim against the server's list goes through.
    expect(await carol.manager.addUsers(team, ['bob'])).toBe(true);
    await people.settle();
    for (const d of people.devices.filter((x) => x !== carol && x.address.user !== 'dave')) {
      expect(d.refused.map((r) => r.error.code), d.name).toEqual(['group_member_refused']);
      expect((await d.manager.groupInfo(team)).members.map(addressText), d.name).not.toContain('bob/7');
    }

    // The server went on with carol's commit, so the others' group can no longer change: a change says
    // why at once, rather than losing its epoch again and again. They still read each other.
    const alice = people.device('alice', 1);
    const info = await alice.manager.groupInfo(team);
    expect(info.forked).toMatchObject({ from: { user: 'carol', device: 1 }, reason: expect.stringContaining('device_not_listed') });
    const commitsBefore = people.server.commits.length;
    const update = await alice.manager.updateKeys(team).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(update).toBeInstanceOf(ChatError);
    expect(update).toMatchObject({ code: 'group_forked', message: expect.stringContaining('from carol/1) was refused here') });
    expect(people.server.commits.length - commitsBefore).toBe(1);
    expect((await alice.manager.groupInfo(team)).epoch).toBe(info.epoch);
    await alice.manager.sendMessage(team, 'still between us');
    await people.settle();
    for (const b of [people.device('bob', 1), people.device('bob', 2)]) expect(texts(b), b.name).toContain('alice/1: still between us');
    // A new group with the members alice trusts (and a server that stopped lying) works as any other.
    people.server.onClaim = undefined;
    const fresh = await alice.manager.createGroup('team again', ['bob']);
    await people.settle();
    expect((await people.device('bob', 2).manager.groupInfo(fresh)).forked).toBeUndefined();
  });

  it('a Welcome into a group holding a device its user\'s verified list does not name: the joiner refuses it, once, and joins nothing', async () => {
    const dave = await people.addDevice('dave');
    const carol = people.device('carol', 1);
    const rogueSeed = randomBytes(32);
    const real = people.lists.get('bob')!;
    const forgedBob = {
      ...(await verifiedList('bob', [...real.devices.map((d) => ({ deviceId: d.deviceId, signingKey: d.signingKey })), { deviceId: 7, signingKey: ed25519PublicKeyFromSecret(rogueSeed) }])),
      version: real.version,
    };
    carol.listOverride = (u) => (u === 'bob' ? forgedBob : undefined);
    const rogue = await openMlsDevice({ username: 'bob', deviceId: 7 }, ed25519SigningKeyFromSeed(rogueSeed), (u) => (u === 'bob' ? forgedBob : people.lists.get(u)));
    const forged = (await createDeviceKeyPackage(rogue)).message;
    people.server.onClaim = (user, answer) => (user === 'bob' ? { ...answer, packages: [{ device: 7, keyPackage: forged, lastResort: false }] } : answer);
    expect(await carol.manager.addUsers(team, ['bob', 'dave'])).toBe(true);
    await people.settle();
    expect(dave.refused.map((r) => r.error.code)).toEqual(['group_member_refused']);
    expect(dave.memberships).toEqual([]);
    expect(await dave.manager.groups()).toEqual([]);
  });

  it("a KeyPackage with another key under a listed device's name: refused before anything is committed", async () => {
    await people.addDevice('dave');
    const rogueSeed = randomBytes(32);
    const impostor = await openMlsDevice({ username: 'dave', deviceId: 1 }, ed25519SigningKeyFromSeed(rogueSeed), async (u) =>
      u === 'dave' ? verifiedList('dave', [{ deviceId: 1, signingKey: ed25519PublicKeyFromSecret(rogueSeed) }]) : people.lists.get(u),
    );
    const forged = (await createDeviceKeyPackage(impostor)).message;
    people.server.onClaim = (user, answer) => (user === 'dave' ? { ...answer, packages: [{ device: 1, keyPackage: forged, lastResort: false }] } : answer);
    const commitsBefore = people.server.commits.length;
    const error = await people.device('alice', 1).manager.addUsers(team, ['dave']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('group_member_refused');
    expect(people.server.commits.length).toBe(commitsBefore);
    expect(await epochs()).toEqual(new Set([1]));
  });

  it('a KeyPackage of another listed device handed out under a device id: refused', async () => {
    await people.addDevice('dave');
    await people.addDevice('dave');
    people.server.onClaim = (user, answer) => (user === 'dave' ? { ...answer, packages: answer.packages.map((p, i, all) => ({ ...p, keyPackage: all[(i + 1) % all.length]!.keyPackage })) } : answer);
    const error = await people.device('alice', 1).manager.addUsers(team, ['dave']).catch((e: unknown) => e);
    expect((error as ChatError).code).toBe('group_member_refused');
  });

  it('a replayed application message is shown once: the same entry again is a duplicate, under a new number MLS refuses it', async () => {
    const bob1 = people.device('bob', 1);
    people.server.onPush = (to, item) => (addressText(to) === 'bob/1' && item.kind === 'message' && item.entry.kind === 'application' ? [item, item] : [item]);
    await people.device('carol', 1).manager.sendMessage(team, 'say it once');
    await people.settle();
    expect(texts(bob1)).toEqual(['carol/1: say it once']);
    people.server.onPush = undefined;
    const original = people.server.groups.get(team)!.log.at(-1)!;
    const { seq: _seq, ...rest } = original;
    const replay = people.server.appendToLog(original.groupId, rest);
    people.server.inject(bob1.address, { kind: 'message', entry: replay });
    await people.settle();
    expect(texts(bob1)).toEqual(['carol/1: say it once']);
    expect(bob1.refused.map((r) => r.error.code)).toEqual(['decryption_failed']);
  });

  it('a commit lost before it reached the server stays pending, and is sent again before the next change', async () => {
    const alice = people.device('alice', 1);
    people.server.loseRequests.add('alice/1');
    await expect(alice.manager.updateKeys(team)).rejects.toMatchObject({ code: 'timeout' });
    expect(await epochs()).toEqual(new Set([1]));
    const restarted = people.restart(alice);
    await restarted.manager.updateKeys(team);
    await people.settle();
    // The pending update went first, then the new one: two commits, one epoch for everyone.
    expect(await epochs()).toEqual(new Set([3]));
    await people.device('bob', 2).manager.sendMessage(team, 'two updates later');
    await people.settle();
    expect(texts(restarted)).toContain('bob/2: two updates later');
  });

  it('a commit whose answer was lost is found in the log and adopted; the device goes on in the new epoch', async () => {
    const alice = people.device('alice', 1);
    people.server.loseAnswers.add('alice/1');
    await expect(alice.manager.updateKeys(team)).rejects.toMatchObject({ code: 'timeout' });
    await people.settle();
    // The others moved on; alice still holds the commit as pending. A restart syncs and adopts it.
    const restarted = people.restart(alice);
    await restarted.manager.catchUpAll();
    expect(await epochs()).toEqual(new Set([2]));
    await restarted.manager.sendMessage(team, 'after the lost answer');
    await people.settle();
    expect(texts(people.device('carol', 1))).toContain('alice/1: after the lost answer');
  });
});

describe('device lists reaching the groups (design §7)', () => {
  let people: GroupPeople;
  let team: string;

  beforeEach(async () => {
    people = await GroupPeople.create({ alice: 2, bob: 2 });
    team = await people.device('alice', 1).manager.createGroup('team', ['bob']);
    await people.settle();
  });

  it("a device dropped from its user's list is not heard from at once, and a member commits its removal", async () => {
    const bob2 = people.device('bob', 2);
    const list = await people.dropDevice(bob2.address);
    await bob2.manager.sendMessage(team, 'from a device bob removed');
    await people.settle();
    for (const d of people.devices.filter((x) => x !== bob2)) {
      expect(texts(d), d.name).toEqual([]);
      expect(d.refused.map((r) => r.error.code), d.name).toEqual(['group_member_refused']);
    }
    await people.device('alice', 2).manager.deviceListChanged('bob', list);
    await people.settle();
    const stay = people.devices.filter((x) => x !== bob2);
    for (const d of stay) expect((await d.manager.groupInfo(team)).members.map(addressText).sort(), d.name).toEqual(['alice/1', 'alice/2', 'bob/1']);
    expect((await bob2.manager.groups())[0]!.active).toBe(false);
  });

  it("a device added to its user's list is added to the groups by that user's other devices, and reads from then on", async () => {
    const bob3 = await people.addDevice('bob');
    await people.device('bob', 1).manager.deviceListChanged('bob', people.lists.get('bob')!);
    await people.settle();
    expect(bob3.memberships.find((m) => m.joined)).toMatchObject({ groupId: team, name: 'team' });
    await people.device('alice', 2).manager.sendMessage(team, 'hello bob/3');
    await people.settle();
    expect(texts(bob3)).toEqual(['alice/2: hello bob/3']);
    // Another member noticing the same list later finds nothing left to do.
    const commits = people.server.commits.length;
    await people.device('alice', 1).manager.deviceListChanged('bob', people.lists.get('bob')!);
    expect(people.server.commits.length).toBe(commits);
  });

  it('a device listed before it published KeyPackages is left out, then added at the next login of another of its user\'s devices', async () => {
    const bob3 = await people.addDevice('bob', false);
    await people.device('bob', 1).manager.deviceListChanged('bob', people.lists.get('bob')!);
    await people.settle();
    expect(people.device('bob', 1).debug.some((m) => m.includes('no KeyPackage for bob/3'))).toBe(true);
    expect((await people.device('alice', 1).manager.groupInfo(team)).members.map(addressText)).not.toContain('bob/3');
    await bob3.manager.keyPackages.maintain();
    await people.device('bob', 2).manager.catchUpAll();
    await people.settle();
    expect((await people.device('alice', 1).manager.groupInfo(team)).members.map(addressText)).toContain('bob/3');
    expect(bob3.memberships.find((m) => m.joined)).toMatchObject({ groupId: team });
  });

  it("a member whose held lists are older than the committer's takes the newer ones in and applies the commit", async () => {
    const bob1 = people.device('bob', 1);
    // bob/1's client holds the lists of today, and has never looked dave up.
    bob1.held = new Map(people.lists);
    const alice3 = await people.addDevice('alice');
    await people.addDevice('dave');
    await people.device('alice', 1).manager.addUsers(team, ['alice', 'dave']);
    await people.settle();
    expect(bob1.refused).toEqual([]);
    expect((await bob1.manager.groupInfo(team)).members.map(addressText).sort()).toEqual(['alice/1', 'alice/2', 'alice/3', 'bob/1', 'bob/2', 'dave/1']);
    await alice3.manager.sendMessage(team, 'from a device bob had not seen');
    await people.settle();
    expect(texts(bob1)).toContain('alice/3: from a device bob had not seen');
  });
});
