/** How the CLI words group traffic (group-lines.ts) and finds the group a user names (group-resolve.ts). */
import { describe, expect, it } from 'vitest';
import { entryJson, groupChangeText, groupLabel, groupMessageText, usersWithDevices } from '../../src/cli/group-lines.js';
import { groupChangeEntry as changeEntry, groupTextEntry as textEntry } from '../../src/client/groups/group-history.js';
import { resolveGroup } from '../../src/cli/group-resolve.js';
import { ChatError } from '../../src/protocol/errors.js';

const ID = 'MPmSVCT5QOGcG62PiWSKTsov31gJx2ybkGFPzKyiycw';

describe('group lines', () => {
  it('a message reads [alice @ team] text; a group without a name shows the start of its id', () => {
    expect(groupMessageText('alice', 'team', ID, 'hello')).toBe('[alice @ team] hello');
    expect(groupMessageText('alice', undefined, ID, 'hello')).toBe('[alice @ #MPmSVCT5] hello');
    expect(groupLabel('', ID)).toBe('#MPmSVCT5');
  });

  it('escapes control characters in names and texts, and indents the lines of a long message under its text', () => {
    const head = '[alice @ te\\u{1b}[2Jam] ';
    expect(groupMessageText('alice', 'te\u001b[2Jam', ID, 'one\ntwo')).toBe(`${head}one\n${' '.repeat(head.length)}two`);
    expect(groupMessageText('bob', 'team', ID, 'a\n[eve @ team] forged')).toBe('[bob @ team] a\n             [eve @ team] forged');
  });

  it('membership notices name users with their devices', () => {
    expect(usersWithDevices([{ user: 'bob', device: 2 }, { user: 'carol', device: 1 }, { user: 'bob', device: 1 }])).toEqual(['bob (devices 1, 2)', 'carol (device 1)']);
    const base = { groupId: ID, name: 'team', epoch: 4, added: [], removed: [], joined: false, left: false };
    expect(groupChangeText({ ...base, added: [{ user: 'bob', device: 1 }], removed: [{ user: 'carol', device: 1 }, { user: 'carol', device: 2 }] })).toEqual(['* bob (device 1) joined team', '* carol (devices 1, 2) left team']);
    expect(groupChangeText({ ...base, joined: true, added: [{ user: 'alice', device: 1 }] })).toEqual(['* you joined team (members: alice (device 1))']);
    expect(groupChangeText({ ...base, left: true })).toEqual(['* you are no longer in team']);
    expect(groupChangeText(base)).toEqual(['* team has new keys (epoch 4)']);
  });

  it('entries have ids that make a second copy the same entry, and NDJSON shapes with every field', () => {
    const m = textEntry({ groupId: ID, name: 'team', from: { user: 'bob', device: 2 }, text: 'hi', sentAt: 5, seq: 9 }, 'in');
    expect(m.id).toBe(textEntry({ groupId: ID, name: 'team', from: { user: 'bob', device: 2 }, text: 'hi', sentAt: 5, seq: 9 }, 'in').id);
    expect(entryJson(m)).toEqual({ type: 'group-message', id: m.id, groupId: ID, group: 'team', direction: 'in', from: 'bob', device: 2, seq: 9, sentAt: 5, body: 'hi' });
    const c = changeEntry({ groupId: ID, name: undefined, epoch: 3, added: [], removed: [{ user: 'carol', device: 1 }], left: true }, 7);
    expect(c.id).not.toBe(changeEntry({ groupId: ID, name: undefined, epoch: 3, added: [], removed: [] }, 7).id);
    expect(entryJson(c)).toEqual({ type: 'group-membership', id: c.id, groupId: ID, group: null, epoch: 3, added: [], removed: [{ user: 'carol', device: 1 }], joined: false, left: true, at: 7 });
  });
});

describe('resolveGroup', () => {
  const groups = [
    { groupId: 'AAAAxxxx1', name: 'team', active: true },
    { groupId: 'BBBBxxxx2', name: 'team', active: true },
    { groupId: 'CCCCxxxx3', name: 'solo', active: true },
    { groupId: 'DDDDxxxx4', name: 'old', active: false },
  ];
  const client = { groups: async () => groups };

  it('a unique name, a full id, or the start of an id (with or without #) names a group', async () => {
    expect((await resolveGroup(client, 'solo')).groupId).toBe('CCCCxxxx3');
    expect((await resolveGroup(client, 'BBBBxxxx2')).groupId).toBe('BBBBxxxx2');
    expect((await resolveGroup(client, '#AAAA')).groupId).toBe('AAAAxxxx1');
    expect((await resolveGroup(client, 'AAAAx')).groupId).toBe('AAAAxxxx1');
  });

  it('a shared name is refused, listing the ids that tell the groups apart', async () => {
    const err = await resolveGroup(client, 'team').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect((err as ChatError).code).toBe('bad_request');
    expect((err as ChatError).message).toContain('#AAAAxxxx (team), #BBBBxxxx (team)');
  });

  it('a group this device left is found only where asked for; too short a prefix names nothing', async () => {
    await expect(resolveGroup(client, 'old')).rejects.toMatchObject({ code: 'unknown_group' });
    expect((await resolveGroup(client, 'old', { inactiveToo: true })).groupId).toBe('DDDDxxxx4');
    await expect(resolveGroup(client, 'AAA')).rejects.toMatchObject({ code: 'unknown_group' });
  });
});
