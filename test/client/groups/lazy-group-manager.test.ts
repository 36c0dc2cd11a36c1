/**
 * The group code loaded on demand (src/client/groups/lazy-group-manager.ts), over the in-memory Delivery
 * Service: a device in no group, its KeyPackages on the server, answers everything a login and a 1:1 user
 * ask without loading it; a Welcome and texts delivered while it loads are handled once it is there, in
 * order; a load that fails fails what waited on it, and the next need loads it again. How it is loaded is
 * the one thing a test replaces: the real GroupManager behind a gate the test opens.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { addressText } from '../../../src/client/address.js';
import { GroupManager, type GroupManagerOptions } from '../../../src/client/groups/group-manager.js';
import type { GroupMembershipEvent, GroupMessageEvent } from '../../../src/client/groups/group-runtime.js';
import { LazyGroupManager, type OpenGroupManager } from '../../../src/client/groups/lazy-group-manager.js';
import { GroupPeople, type GroupDevice } from '../../helpers/group-people.js';

/** The group code's loads as a test sees them: counted, and held back while `hold` is set. */
class Loads {
  count = 0;
  failNext: Error | undefined;
  #hold: { asked: () => void; released: Promise<void> } | undefined;

  readonly open: OpenGroupManager = async (options) => {
    this.count++;
    const failure = this.failNext;
    this.failNext = undefined;
    if (this.#hold) {
      this.#hold.asked();
      await this.#hold.released;
    }
    if (failure) throw failure;
    return new GroupManager(options);
  };

  /** Holds the next loads back; resolves `asked` at the first, and lets them all go at `release()`. */
  hold(): { asked: Promise<void>; release: () => void } {
    let asked!: () => void;
    let release!: () => void;
    const askedPromise = new Promise<void>((resolve) => (asked = resolve));
    this.#hold = { asked, released: new Promise<void>((resolve) => (release = resolve)) };
    return {
      asked: askedPromise,
      release: () => {
        this.#hold = undefined;
        release();
      },
    };
  }
}

describe('the group code, loaded when a group needs it', () => {
  let people: GroupPeople;
  let alice: GroupDevice;
  let loads: Loads;
  let bob: LazyGroupManager;
  const heard: GroupMessageEvent[] = [];
  const memberships: GroupMembershipEvent[] = [];

  beforeEach(async () => {
    // bob/1 uploaded its KeyPackages as a GroupManager; it comes back (a restart, a reload) as a lazy one over the same store.
    people = await GroupPeople.create({ alice: 1, bob: 1 });
    alice = people.device('alice', 1);
    const bobDevice = people.device('bob', 1);
    heard.length = 0;
    memberships.length = 0;
    const lists = async (user: string) => people.lists.get(user) ?? null;
    const options: GroupManagerOptions = {
      self: bobDevice.address,
      signingKey: bobDevice.signingKey,
      store: bobDevice.store,
      history: bobDevice.history,
      delivery: people.server.connection(bobDevice.address),
      lists: { held: lists, refresh: lists },
      events: { message: (e) => heard.push(e), membership: (e) => memberships.push(e), refused: () => {}, debug: () => {} },
    };
    loads = new Loads();
    bob = new LazyGroupManager(options, loads.open);
    people.server.attach(bobDevice.address, bob);
  });

  it('a device in no group with its KeyPackages on the server: lists, finds, syncs, follows a new list and keeps its stock without loading it', async () => {
    expect(await bob.groups()).toEqual([]);
    await expect(bob.findGroup('team')).rejects.toMatchObject({ code: 'unknown_group' });
    await bob.catchUpAll();
    await bob.deviceListChanged('alice', people.lists.get('alice')!);
    expect(await bob.keyPackages.maintain()).toEqual({ oneTime: 20, lastResort: true });
    await bob.idle();
    expect(loads.count).toBe(0);
    expect(bob.loaded).toBe(false);
  });

  it('a Welcome and texts delivered while it loads wait for it, then are handled in order', async () => {
    const team = await alice.manager.createGroup('team', ['bob']);
    await alice.manager.sendMessage(team, 'one');
    await alice.manager.sendMessage(team, 'two');
    const gate = loads.hold();
    const delivered = people.server.deliver({ user: 'bob', device: 1 });
    await gate.asked;
    // Held at the load, which the test controls: nothing of the group can have been handled yet.
    expect(memberships).toEqual([]);
    expect(heard).toEqual([]);
    gate.release();
    expect(await delivered).toBe(3);
    await bob.idle();
    expect(loads.count).toBe(1);
    expect(memberships.map((m) => m.joined === true && m.name)).toEqual(['team']);
    expect(heard.map((m) => `${addressText(m.from)}: ${m.text}`)).toEqual(['alice/1: one', 'alice/1: two']);
    expect(await bob.groups()).toEqual([{ groupId: team, name: 'team', active: true }]);
    // Now in a group, a login's sync goes through the group code (already loaded: no second load).
    await bob.catchUpAll();
    expect(loads.count).toBe(1);
  });

  it('a load that fails fails what waited on it, and the next need loads it again', async () => {
    loads.failNext = new Error('the chunk did not come');
    await expect(bob.createGroup('first try', ['alice'])).rejects.toThrow('the chunk did not come');
    expect(bob.loaded).toBe(false);
    const team = await bob.createGroup('second try', ['alice']);
    expect(loads.count).toBe(2);
    await people.settle();
    expect(alice.memberships.find((m) => m.joined)).toMatchObject({ groupId: team, name: 'second try' });
  });
});
