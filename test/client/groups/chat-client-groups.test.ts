/**
 * Groups through ChatClient against a real server (the Delivery Service of docs/design/groups-mls.md §4):
 * three users create a group, talk, change keys, race for an epoch, remove a member and leave, over real
 * socket.io connections and the server's KeyPackage directory, group log and device queues; and a user
 * with a linked second device, both of whose devices are members.
 *
 * Needs the server's group handlers (docs/design/groups-mls.md step 2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../../src/client/chat-client.js';
import { requestDeviceLink } from '../../../src/client/device-link-request.js';
import { adoptProvisioning } from '../../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../../src/client/ratchet-store.js';
import { generateUserKeyPairs } from '../../../src/crypto/keys.js';
import { addressText } from '../../../src/client/address.js';
import type { GroupMembershipEvent, GroupMessageEvent } from '../../../src/client/groups/group-runtime.js';
import { MemoryGroupHistory } from '../../../src/client/groups/memory-group-history.js';
import { MemoryGroupStore } from '../../../src/client/groups/memory-group-store.js';
import { connectTestClient, waitUntil, type TestClient } from '../../helpers/test-clients.js';
import { startTestServer, type TestServer } from '../../helpers/test-server.js';

interface Person {
  readonly name: string;
  readonly t: TestClient;
  readonly client: ChatClient;
  readonly heard: GroupMessageEvent[];
  readonly changes: GroupMembershipEvent[];
}

describe('groups through ChatClient and a real server', () => {
  let server: TestServer;
  const people: Person[] = [];
  const person = (name: string) => people.find((p) => p.name === name)!;
  let team: string;

  beforeAll(async () => {
    server = await startTestServer();
    for (const name of ['alice', 'bob', 'carol']) {
      const t = await connectTestClient(server.url, name, { groups: new MemoryGroupStore() });
      const p: Person = { name, t, client: t.client, heard: [], changes: [] };
      t.client.on('groupMessage', (m) => p.heard.push(m));
      t.client.on('groupMembership', (c) => p.changes.push(c));
      people.push(p);
    }
  });

  afterAll(async () => {
    for (const p of people) await p.client.close();
    await server?.stop();
  });

  const heard = (p: Person, text: string) => waitUntil(() => p.heard.find((m) => m.text === text), 10_000, `${p.name} to hear "${text}"`);
  const epochOf = async (p: Person) => (await p.client.groupInfo(team)).epoch;

  it('alice creates "team" with bob and carol; everyone joins and reads everyone', async () => {
    team = await person('alice').client.createGroup('team', ['bob', 'carol']);
    for (const p of [person('bob'), person('carol')]) {
      await waitUntil(() => p.changes.find((c) => c.joined), 10_000, `${p.name} to join`);
      expect(await p.client.findGroup('team')).toBe(team);
    }
    await person('bob').client.sendGroupMessage(team, 'hello team');
    expect((await heard(person('alice'), 'hello team')).from).toEqual({ user: 'bob', device: 1 });
    expect((await heard(person('carol'), 'hello team')).name).toBe('team');
    expect((await person('carol').client.groupInfo(team)).members.map(addressText).sort()).toEqual(['alice/1', 'bob/1', 'carol/1']);
  });

  it('two members update their keys at once: one commit wins, the other rebases, all end in one epoch', async () => {
    const before = await epochOf(person('alice'));
    await Promise.all([person('bob').client.updateGroupKeys(team), person('carol').client.updateGroupKeys(team)]);
    await waitUntil(async () => ((await Promise.all(people.map(epochOf))).every((e) => e === before + 2) ? true : undefined), 10_000, 'one epoch');
    await person('carol').client.sendGroupMessage(team, 'after both updates');
    await heard(person('alice'), 'after both updates');
    await heard(person('bob'), 'after both updates');
  });

  it('alice removes carol; carol is told, and hears nothing sent after', async () => {
    await person('alice').client.removeFromGroup(team, ['carol']);
    await waitUntil(() => person('carol').changes.find((c) => c.left), 10_000, 'carol to learn of her removal');
    await person('bob').client.sendGroupMessage(team, 'carol is out');
    await heard(person('alice'), 'carol is out');
    expect(person('carol').heard.map((m) => m.text)).not.toContain('carol is out');
    expect((await person('carol').client.groups())[0]!.active).toBe(false);
  });

  it('bob leaves; alice commits his removal and is alone', async () => {
    await person('bob').client.leaveGroup(team);
    await waitUntil(async () => ((await person('alice').client.groupInfo(team)).members.length === 1 ? true : undefined), 10_000, 'alice alone');
    expect((await person('alice').client.groupInfo(team)).members).toEqual([{ user: 'alice', device: 1 }]);
  });
});

describe('groups through ChatClient with a linked device', () => {
  let server: TestServer;
  const closers: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await server?.stop();
  });

  it("a group of alice's two devices and bob: each device reads the others, and knows which device wrote", async () => {
    const alice = await connectTestClient(server.url, 'gl-alice', { groups: new MemoryGroupStore() });
    const bob = await connectTestClient(server.url, 'gl-bob', { groups: new MemoryGroupStore() });
    closers.push(() => alice.client.close(), () => bob.client.close());
    // alice links a laptop, which takes part in groups from its first login.
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const pending = await requestDeviceLink({ url: server.url, username: 'gl-alice', name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    closers.push(() => pending.cancel());
    await alice.client.approveDevice(pending.code);
    const provisioned = await pending.done;
    const peers = new MemoryPeerKeyStore();
    await adoptProvisioning(peers, provisioned);
    const laptopHeard: GroupMessageEvent[] = [];
    const laptop = await ChatClient.connect(
      { url: server.url, identity: { username: 'gl-alice', device: provisioned.device, keys, account: provisioned.account }, peers, messages: new MemoryMessageStore(), ratchet, groups: new MemoryGroupStore(), groupHistory: new MemoryGroupHistory(), socketOptions: { transports: ['websocket'] } },
      (c) => c.on('groupMessage', (m) => laptopHeard.push(m)),
    );
    closers.push(() => laptop.close());
    // Its KeyPackages go up after the login, in the background.
    await laptop.groupsReady();
    const aliceHeard: GroupMessageEvent[] = [];
    const bobHeard: GroupMessageEvent[] = [];
    alice.client.on('groupMessage', (m) => aliceHeard.push(m));
    bob.client.on('groupMessage', (m) => bobHeard.push(m));

    const duo = await alice.client.createGroup('duo', ['gl-bob']);
    await waitUntil(async () => ((await laptop.groups()).length === 1 ? true : undefined), 10_000, 'the laptop to join');
    await waitUntil(async () => ((await bob.client.groups()).length === 1 ? true : undefined), 10_000, 'bob to join');
    expect((await laptop.groupInfo(duo)).members.map(addressText).sort()).toEqual(['gl-alice/1', 'gl-alice/2', 'gl-bob/1']);

    await bob.client.sendGroupMessage(duo, 'to both of alice');
    await waitUntil(() => aliceHeard.find((m) => m.text === 'to both of alice'), 10_000, 'alice/1 to hear bob');
    await waitUntil(() => laptopHeard.find((m) => m.text === 'to both of alice'), 10_000, 'alice/2 to hear bob');
    await laptop.sendGroupMessage(duo, 'from the laptop');
    expect((await waitUntil(() => bobHeard.find((m) => m.text === 'from the laptop'), 10_000, 'bob to hear the laptop')).from).toEqual({ user: 'gl-alice', device: 2 });
    expect((await waitUntil(() => aliceHeard.find((m) => m.text === 'from the laptop'), 10_000, 'alice/1 to hear the laptop')).from).toEqual({ user: 'gl-alice', device: 2 });
  });

  it('a device linked into an existing group is added by its primary once it has KeyPackages (at the primary\'s next login)', async () => {
    const alice = await connectTestClient(server.url, 'gj-alice', { groups: new MemoryGroupStore() });
    const bob = await connectTestClient(server.url, 'gj-bob', { groups: new MemoryGroupStore() });
    closers.push(() => alice.client.close(), () => bob.client.close());
    const team = await alice.client.createGroup('existing', ['gj-bob']);
    // The laptop is listed (alice's client takes the new list in and tries to add it) before it has
    // published a KeyPackage: it is left out for now.
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const pending = await requestDeviceLink({ url: server.url, username: 'gj-alice', name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    closers.push(() => pending.cancel());
    await alice.client.approveDevice(pending.code);
    const provisioned = await pending.done;
    const peers = new MemoryPeerKeyStore();
    await adoptProvisioning(peers, provisioned);
    const laptopHeard: GroupMessageEvent[] = [];
    const laptop = await ChatClient.connect(
      { url: server.url, identity: { username: 'gj-alice', device: provisioned.device, keys, account: provisioned.account }, peers, messages: new MemoryMessageStore(), ratchet, groups: new MemoryGroupStore(), groupHistory: new MemoryGroupHistory(), socketOptions: { transports: ['websocket'] }, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } },
      (c) => c.on('groupMessage', (m) => laptopHeard.push(m)),
    );
    closers.push(() => laptop.close());
    // Its KeyPackages go up after the login, in the background.
    await laptop.groupsReady();
    expect((await alice.client.groupInfo(team)).members.map(addressText)).not.toContain('gj-alice/2');
    // alice's primary logs in again (its connection dropped): the laptop, now with KeyPackages, is added.
    const reconnected = new Promise((resolve) => alice.client.on('reconnected', resolve));
    for (const [, s] of server.server.io.sockets.sockets) if (s.rooms.has('user:gj-alice')) s.conn.close();
    await reconnected;
    await waitUntil(async () => ((await laptop.groups()).length === 1 ? true : undefined), 10_000, 'the laptop to join');
    // Sent once bob's client has the commit that added the laptop: a message of the epoch before is not the laptop's to read.
    await waitUntil(async () => ((await bob.client.groupInfo(team)).members.some((m) => m.user === 'gj-alice' && m.device === 2) ? true : undefined), 10_000, 'bob to see the laptop');
    await bob.client.sendGroupMessage(team, 'hello laptop');
    await waitUntil(() => laptopHeard.find((m) => m.text === 'hello laptop'), 10_000, 'the laptop to hear bob');
  });
});
