/**
 * A text this device sent to a group is never lost to it, and never goes twice: the text is saved with the
 * state that encrypted it (GroupRow.unsent) until it is seen ordered. An answer lost after the server
 * ordered it: the log shows it at the next sync and it is recorded as sent, once, and not sent again. A
 * request that never reached the server: sent again, the same bytes, at the next login (or before the
 * next text), read once by everyone, recorded once. Both survive a restart of the device.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { addressText } from '../../../src/client/address.js';
import { ChatError } from '../../../src/protocol/errors.js';
import type { GroupHistoryEntry } from '../../../src/client/groups/group-history.js';
import { GroupPeople, type GroupDevice } from '../../helpers/group-people.js';

const said = (d: GroupDevice) => d.messages.map((m) => `${addressText(m.from)}: ${m.text}`);
const sent = (entries: readonly GroupHistoryEntry[]) => entries.flatMap((e) => (e.kind === 'message' && e.direction === 'out' ? [`${e.seq} ${e.text}`] : []));

describe('texts whose send failed halfway', () => {
  let people: GroupPeople;
  let team: string;
  let alice: GroupDevice;
  let bob: GroupDevice;

  beforeEach(async () => {
    people = await GroupPeople.create({ alice: 1, bob: 1 });
    [alice, bob] = [people.device('alice', 1), people.device('bob', 1)];
    team = await alice.manager.createGroup('team', ['bob']);
    await people.settle();
  });

  const log = () => people.server.groups.get(team)!.log.filter((e) => e.kind === 'application').map((e) => `${e.seq} ${addressText(e.from)}`);

  it('an answer lost after the server ordered the text: recorded as sent from the log, once, and not sent again', async () => {
    people.server.loseSendAnswers.add('alice/1');
    await expect(alice.manager.sendMessage(team, 'ordered, answer lost')).rejects.toMatchObject({ code: 'not_connected' });
    await people.settle();
    expect(said(bob)).toEqual(['alice/1: ordered, answer lost']);
    expect(sent(await alice.history.history(team))).toEqual([]);

    // The device dies and comes back: the text is in its saved row, and its login's sync finds it ordered.
    alice = people.restart(alice);
    await alice.manager.catchUpAll();
    const [first] = log();
    expect(sent(await alice.history.history(team))).toEqual([`${first!.split(' ')[0]} ordered, answer lost`]);

    await alice.manager.sendMessage(team, 'and the next one');
    await people.settle();
    expect(log()).toHaveLength(2);
    expect(said(bob)).toEqual(['alice/1: ordered, answer lost', 'alice/1: and the next one']);
    expect(sent(await alice.history.history(team)).map((l) => l.replace(/^\d+ /, ''))).toEqual(['ordered, answer lost', 'and the next one']);
    expect(bob.refused).toEqual([]);
  });

  it('a request that never reached the server: sent again as is at the next login, read once, recorded once', async () => {
    people.server.loseSendRequests.add('alice/1');
    await expect(alice.manager.sendMessage(team, 'lost on the way')).rejects.toMatchObject({
      code: 'not_connected',
      message: expect.stringContaining('the text is kept, and goes at the next login or before the next text to this group'),
    });
    await people.settle();
    expect(log()).toEqual([]);
    expect(said(bob)).toEqual([]);

    alice = people.restart(alice);
    await alice.manager.catchUpAll();
    await people.settle();
    expect(log()).toHaveLength(1);
    const [seq] = log()[0]!.split(' ');
    expect(said(bob)).toEqual(['alice/1: lost on the way']);
    expect(sent(await alice.history.history(team))).toEqual([`${seq} lost on the way`]);
    // Nothing left to send: another login sends nothing more.
    await alice.manager.catchUpAll();
    expect(log()).toHaveLength(1);
  });

  it('a text the server refuses is not kept: it never goes later behind the sender\'s back', async () => {
    // The server refuses this one send (a member's queue full, say); the next goes through.
    let refuseNext = true;
    people.server.refuseSend = (from) => {
      if (addressText(from) !== 'alice/1' || !refuseNext) return undefined;
      refuseNext = false;
      return new ChatError('quota_exceeded', 'a member device holds too much');
    };
    await expect(alice.manager.sendMessage(team, 'refused')).rejects.toMatchObject({ code: 'quota_exceeded' });
    await alice.manager.sendMessage(team, 'accepted');
    await alice.manager.catchUpAll();
    await people.settle();
    expect(said(bob)).toEqual(['alice/1: accepted']);
    expect(sent(await alice.history.history(team)).map((l) => l.replace(/^\d+ /, ''))).toEqual(['accepted']);
  });

  it('texts unsent while offline go out before the next one, in the order they were written', async () => {
    people.server.loseSendRequests.add('alice/1');
    await expect(alice.manager.sendMessage(team, 'first')).rejects.toMatchObject({ code: 'not_connected' });
    await alice.manager.sendMessage(team, 'second');
    await people.settle();
    expect(said(bob)).toEqual(['alice/1: first', 'alice/1: second']);
    const seqs = log().map((l) => l.split(' ')[0]);
    expect(sent(await alice.history.history(team))).toEqual([`${seqs[0]} first`, `${seqs[1]} second`]);
  });
});
