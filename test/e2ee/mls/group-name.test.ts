/**
 * The group's human name travels in its GroupContext (src/e2ee/mls/group-name.ts): a joiner reads it
 * from the Welcome, and it survives every later commit.
 */
import { describe, expect, it } from 'vitest';
import { commitAdd, commitSelfUpdate, createDeviceGroup } from '../../../src/e2ee/mls/group-commits.js';
import { joinFromWelcome } from '../../../src/e2ee/mls/group-join.js';
import { groupNameExtension, groupNameOf } from '../../../src/e2ee/mls/group-name.js';
import { processGroupMessage } from '../../../src/e2ee/mls/group-messages.js';
import { createDeviceKeyPackage } from '../../../src/e2ee/mls/key-package.js';
import { MlsWorld } from './mls-world.js';

describe('group name in the GroupContext', () => {
  it('a joiner reads the name from the Welcome, and a later commit keeps it', async () => {
    const world = await MlsWorld.create({ alice: 1, bob: 1 });
    const alice = world.device('alice', 1);
    const bob = world.device('bob', 1);
    const state = await createDeviceGroup(alice.mls, undefined, 'team ✓');
    expect(groupNameOf(state)).toBe('team ✓');
    const pkg = await createDeviceKeyPackage(bob.mls);
    const add = await commitAdd(alice.mls, state, [pkg.message]);
    const joined = await joinFromWelcome(bob.mls, add.welcome!, pkg);
    expect(groupNameOf(joined)).toBe('team ✓');
    const update = await commitSelfUpdate(alice.mls, add.pendingState);
    const after = await processGroupMessage(bob.mls, joined, update.commit);
    expect(after.kind === 'commit' && groupNameOf(after.state)).toBe('team ✓');
  });

  it('a group without a name has none, and names out of bounds are refused', async () => {
    const world = await MlsWorld.create({ alice: 1 });
    expect(groupNameOf(await createDeviceGroup(world.device('alice', 1).mls))).toBeUndefined();
    expect(() => groupNameExtension('')).toThrow(RangeError);
    expect(() => groupNameExtension('x'.repeat(129))).toThrow(RangeError);
  });
});
