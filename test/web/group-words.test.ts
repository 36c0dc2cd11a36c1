/**
 * How the web app words a group conversation (web/src/group-words.ts), without a browser: a text names
 * its sender, with the device past the first; a membership change becomes one notice per user ("carol
 * joined", "bob left"), never one per device; this device joining or leaving reads as "you"; the list's
 * summary line is the newest text or notice; members typed in the New group form are split once each.
 */
import { describe, expect, it } from 'vitest';
import { groupChangeEntry, groupTextEntry } from '../../src/client/browser/index.js';
import { groupItems, lastWords } from '../../web/src/group-words.js';
import { memberNames } from '../../web/src/groups-model.js';

const change = (added: [string, number][], removed: [string, number][], how: { joined?: true; left?: true } = {}) =>
  groupChangeEntry({ groupId: 'g', name: 'team', epoch: 4, added: added.map(([user, device]) => ({ user, device })), removed: removed.map(([user, device]) => ({ user, device })), ...how }, 1000);

describe('group conversation words', () => {
  it('a text names its sender, and the device when it is not the first', () => {
    const first = groupTextEntry({ groupId: 'g', name: 'team', from: { user: 'bob', device: 1 }, text: 'hi', sentAt: 5, seq: 1 }, 'in');
    const second = groupTextEntry({ groupId: 'g', name: 'team', from: { user: 'bob', device: 2 }, text: 'from my laptop', sentAt: 6, seq: 2 }, 'in');
    expect(groupItems(first, 'alice')).toEqual([{ key: 'm:g:1', kind: 'message', at: 5, sender: 'bob', direction: 'in', body: 'hi' }]);
    expect(groupItems(second, 'alice')[0]!.sender).toBe('bob (device 2)');
    expect(lastWords(second, 'alice')).toBe('bob: from my laptop');
  });

  it('a membership change is one notice per user, and this device joining or leaving is "you"', () => {
    const items = groupItems(change([['carol', 1], ['carol', 2]], [['bob', 1]]), 'alice');
    expect(items.map((i) => [i.kind, i.body])).toEqual([['notice', 'carol joined'], ['notice', 'bob left']]);
    expect(new Set(items.map((i) => i.key)).size).toBe(2);
    expect(groupItems(change([['alice', 1], ['bob', 1]], [], { joined: true }), 'alice').map((i) => i.body)).toEqual(['you joined the group']);
    expect(groupItems(change([], [], { left: true }), 'alice').map((i) => i.body)).toEqual(['you are no longer in this group']);
    expect(groupItems(change([['alice', 2]], []), 'alice').map((i) => i.body)).toEqual(['another device of yours joined']);
    expect(lastWords(change([['dave', 1]], [['bob', 1]]), 'alice')).toBe('dave joined, bob left');
  });

  it('members typed in the form are split on commas and spaces, once each', () => {
    expect(memberNames(' bob, carol  dave,,bob ')).toEqual(['bob', 'carol', 'dave']);
    expect(memberNames('  ')).toEqual([]);
  });
});
