/**
 * A member's leave request is settled before anyone who has read it sends to the group. The member that
 * commits a leave at once is the lowest leaf among those staying (group-inbound.ts); when that member is
 * away, the others must not keep writing to a group the leaver can still read: each commits the removal
 * itself before its own next message, so the leaver's last state opens nothing said after it asked to go.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { addressText } from '../../../src/client/address.js';
import { base64urlDecode } from '../../../src/crypto/bytes.js';
import { processGroupMessage } from '../../../src/e2ee/mls/group-messages.js';
import { deserializeGroupState } from '../../../src/e2ee/mls/group-state-codec.js';
import { openMlsDevice } from '../../../src/e2ee/mls/mls-device.js';
import { GroupPeople, type GroupDevice } from '../../helpers/group-people.js';

describe('leaving while the member who would commit it is away', () => {
  let people: GroupPeople;
  let team: string;
  let alice: GroupDevice;
  let bob: GroupDevice;
  let carol: GroupDevice;

  beforeAll(async () => {
    people = await GroupPeople.create({ alice: 1, bob: 1, carol: 1 });
    [alice, bob, carol] = [people.device('alice', 1), people.device('bob', 1), people.device('carol', 1)];
    team = await alice.manager.createGroup('team', ['bob', 'carol']);
    await people.settle();
  });

  it('the next member to send commits the removal first, and the leaver cannot read what it sends', async () => {
    // alice created the group: hers is leaf 0, the one that would commit carol's leave. She is away.
    alice.online = false;
    const held = (await carol.store.loadGroup(base64urlDecode(team)))!.row.state;
    await carol.manager.leaveGroup(team);
    await people.settle();
    expect((await carol.manager.groups())[0]!.active).toBe(false);
    const epochBefore = (await bob.manager.groupInfo(team)).epoch;
    const aliceCommits = () => people.server.groups.get(team)!.log.filter((e) => e.kind === 'commit' && addressText(e.from) === 'alice/1').length;
    const aliceCommitsBefore = aliceCommits();
    expect((await bob.manager.groupInfo(team)).members.map(addressText).sort()).toEqual(['alice/1', 'bob/1', 'carol/1']);

    await bob.manager.sendMessage(team, 'just the two of us now');
    const info = await bob.manager.groupInfo(team);
    expect(info.members.map(addressText).sort()).toEqual(['alice/1', 'bob/1']);
    expect(info.epoch).toBe(epochBefore + 1);
    const log = people.server.groups.get(team)!.log;
    expect(log.slice(-2).map((e) => [e.kind, addressText(e.from)])).toEqual([
      ['commit', 'bob/1'],
      ['application', 'bob/1'],
    ]);

    // carol's last state, as a thief of her device would hold it, does not open bob's message.
    const mls = await openMlsDevice({ username: 'carol', deviceId: 1 }, carol.signingKey, (u) => people.lists.get(u));
    const opened = await processGroupMessage(mls, deserializeGroupState(mls, held), log.at(-1)!.message).then(
      (r) => r.kind,
      () => 'refused',
    );
    expect(opened).not.toBe('application');

    // alice comes back: she finds the removal done, commits nothing more, and reads bob.
    alice.online = true;
    await people.settle();
    expect(alice.messages.map((m) => `${addressText(m.from)}: ${m.text}`)).toContain('bob/1: just the two of us now');
    expect((await alice.manager.groupInfo(team)).epoch).toBe(info.epoch);
    expect(aliceCommits()).toBe(aliceCommitsBefore);
    for (const d of [alice, bob]) expect(d.refused, d.name).toEqual([]);
  });
});
