/**
 * Groups through the client's GroupManager (src/client/groups/), three users with two devices each, over
 * the in-memory Delivery Service of test/helpers/fake-group-delivery.ts: create, add, remove, update and
 * leave; a removed member cannot read what follows; two commits for one epoch end with one winner and one
 * rebase, everyone in the same epoch with the same members; an offline device and a restarted one catch up.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode } from '../../../src/crypto/bytes.js';
import { addressText } from '../../../src/client/address.js';
import { processGroupMessage } from '../../../src/e2ee/mls/group-messages.js';
import { deserializeGroupState } from '../../../src/e2ee/mls/group-state-codec.js';
import { openMlsDevice } from '../../../src/e2ee/mls/mls-device.js';
import { GroupPeople, type GroupDevice } from '../../helpers/group-people.js';

const texts = (d: GroupDevice, groupId: string) => d.messages.filter((m) => m.groupId === groupId).map((m) => `${addressText(m.from)}: ${m.text}`);

describe('group client: three users, two devices each', () => {
  let people: GroupPeople;
  let everyone: GroupDevice[];
  let team: string;

  /** Every active member of `team` at one epoch with one roster; returns it. */
  async function agreed(members: readonly GroupDevice[]): Promise<{ epoch: number; roster: string[] }> {
    const infos = await Promise.all(members.map((d) => d.manager.groupInfo(team)));
    const epochs = new Set(infos.map((i) => i.epoch));
    const rosters = new Set(infos.map((i) => i.members.map(addressText).sort().join(',')));
    expect(epochs.size, `epochs ${[...epochs].join(' ')}`).toBe(1);
    expect(rosters.size, [...rosters].join(' | ')).toBe(1);
    return { epoch: infos[0]!.epoch, roster: infos[0]!.members.map(addressText).sort() };
  }

  beforeAll(async () => {
    people = await GroupPeople.create({ alice: 2, bob: 2, carol: 2 });
    everyone = people.devices;
    team = await people.device('alice', 1).manager.createGroup('team', ['bob', 'carol']);
    await people.settle();
  });

  it('alice creates "team" with bob and carol: all six devices join, named, at one epoch', async () => {
    const { roster } = await agreed(everyone);
    expect(roster).toEqual(['alice/1', 'alice/2', 'bob/1', 'bob/2', 'carol/1', 'carol/2']);
    for (const d of everyone.filter((x) => x.name !== 'alice/1')) {
      expect(d.memberships.find((m) => m.joined)?.name, d.name).toBe('team');
      expect(await d.manager.groups()).toEqual([{ groupId: team, name: 'team', active: true }]);
    }
  });

  it('every device reads every other device, and knows which user and device sent it', async () => {
    for (const sender of everyone) await sender.manager.sendMessage(team, `hi from ${sender.name}`);
    await people.settle();
    for (const reader of everyone) {
      const expected = everyone.filter((s) => s !== reader).map((s) => `${s.name}: hi from ${s.name}`);
      expect(texts(reader, team).sort(), reader.name).toEqual(expected.sort());
    }
    const m = people.device('bob', 2).messages.find((x) => x.from.user === 'carol' && x.from.device === 1)!;
    expect(m).toMatchObject({ groupId: team, name: 'team', text: 'hi from carol/1' });
  });

  it('an update by one member moves everyone to the next epoch, and they still read each other', async () => {
    const before = (await agreed(everyone)).epoch;
    await people.device('carol', 1).manager.updateKeys(team);
    await people.settle();
    expect((await agreed(everyone)).epoch).toBe(before + 1);
    await people.device('carol', 1).manager.sendMessage(team, 'after my update');
    await people.settle();
    for (const d of everyone.filter((x) => x.name !== 'carol/1')) expect(texts(d, team)).toContain('carol/1: after my update');
  });

  it('two members commit for one epoch at once: one wins, the other rebases and retries, and all agree', async () => {
    const before = (await agreed(everyone)).epoch;
    const refusedBefore = people.server.commits.filter((c) => !c.accepted).length;
    people.server.holdCommits(2);
    await Promise.all([people.device('alice', 2).manager.updateKeys(team), people.device('bob', 1).manager.updateKeys(team)]);
    await people.settle();
    expect(people.server.commits.filter((c) => !c.accepted).length - refusedBefore).toBe(1);
    expect((await agreed(everyone)).epoch).toBe(before + 2);
    for (const d of everyone) expect(d.refused, d.name).toEqual([]);
  });

  it('two members adding the same user at once: one add lands, the other finds nothing left to do', async () => {
    const dave = await people.addDevice('dave');
    people.server.holdCommits(2);
    const [byAlice, byBob] = await Promise.all([people.device('alice', 1).manager.addUsers(team, ['dave']), people.device('bob', 2).manager.addUsers(team, ['dave'])]);
    expect([byAlice, byBob].sort()).toEqual([false, true]);
    await people.settle();
    everyone.push(dave);
    expect((await agreed(everyone)).roster).toContain('dave/1');
    await dave.manager.sendMessage(team, 'hello, I am new');
    await people.settle();
    for (const d of everyone.filter((x) => x !== dave)) expect(texts(d, team)).toContain('dave/1: hello, I am new');
  });

  it('an offline device catches up from its queue: every commit and message, in order', async () => {
    const carol2 = people.device('carol', 2);
    carol2.online = false;
    await people.device('alice', 1).manager.sendMessage(team, 'while carol/2 was away');
    await people.device('bob', 1).manager.updateKeys(team);
    await people.device('bob', 2).manager.sendMessage(team, 'and after an update');
    await people.settle();
    expect(people.server.queued(carol2.address)).toBe(3);
    carol2.online = true;
    await people.settle();
    expect(texts(carol2, team).slice(-2)).toEqual(['alice/1: while carol/2 was away', 'bob/2: and after an update']);
    await agreed(everyone);
  });

  it('a restarted device goes on from its stored state', async () => {
    const bob2 = people.restart(people.device('bob', 2));
    everyone.splice(everyone.findIndex((d) => d.name === 'bob/2'), 1, bob2);
    await people.device('alice', 2).manager.sendMessage(team, 'to the restarted bob/2');
    await people.settle();
    expect(texts(bob2, team)).toEqual(['alice/2: to the restarted bob/2']);
    await bob2.manager.sendMessage(team, 'bob/2 is back');
    await people.settle();
    expect(texts(people.device('alice', 1), team)).toContain('bob/2: bob/2 is back');
  });

  it('alice removes bob: his devices learn it, and cannot read what is sent after the removal', async () => {
    const bobs = [people.device('bob', 1), people.device('bob', 2)];
    // What each of bob's devices held just before: the copy a thief of the device would have.
    const held = await Promise.all(bobs.map(async (b) => (await b.store.loadGroup(base64urlDecode(team)))!.row.state));
    expect(await people.device('alice', 1).manager.removeUsers(team, ['bob'])).toBe(true);
    await people.settle();
    for (const b of bobs) {
      expect(b.memberships.at(-1), b.name).toMatchObject({ groupId: team, left: true });
      expect((await b.manager.groups())[0]!.active).toBe(false);
    }
    const stay = everyone.filter((d) => !bobs.includes(d));
    expect((await agreed(stay)).roster.some((a) => a.startsWith('bob/'))).toBe(false);

    await people.device('carol', 1).manager.sendMessage(team, 'bob is gone');
    await people.settle();
    for (const [i, b] of bobs.entries()) {
      expect(texts(b, team), b.name).not.toContain('carol/1: bob is gone');
      // Handed the message anyway (a server that ignores the routing), neither the state before the
      // removal nor the one after opens it.
      const entry = people.server.groups.get(team)!.log.at(-1)!;
      await b.manager.receive(entry);
      expect(texts(b, team)).not.toContain('carol/1: bob is gone');
      const mls = await openMlsDevice({ username: 'bob', deviceId: b.address.device }, b.signingKey, (u) => people.lists.get(u));
      const opened = await processGroupMessage(mls, deserializeGroupState(mls, held[i]!), entry.message).then(
        (r) => r.kind,
        () => 'refused',
      );
      expect(opened, b.name).not.toBe('application');
    }
    for (const d of stay.filter((x) => x.name !== 'carol/1')) expect(texts(d, team)).toContain('carol/1: bob is gone');
    everyone = stay;
  });

  it('carol leaves: her devices stop at once, and a member commits the removal of both', async () => {
    const carols = [people.device('carol', 1), people.device('carol', 2)];
    await carols[0]!.manager.leaveGroup(team);
    await people.settle();
    for (const c of carols) expect((await c.manager.groups())[0]!.active, c.name).toBe(false);
    const stay = everyone.filter((d) => !carols.includes(d));
    expect((await agreed(stay)).roster).toEqual(['alice/1', 'alice/2', 'dave/1']);
    await expect(carols[1]!.manager.sendMessage(team, 'still here?')).rejects.toMatchObject({ code: 'not_group_member' });
    everyone = stay;
  });
});
