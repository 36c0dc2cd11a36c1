/**
 * Groups through ChatClient against a real server (the Delivery Service of docs/design/groups-mls.md §4):
 * three users create a group, talk, change keys, race for an epoch, remove a member and leave, over real
 * socket.io connections and the server's KeyPackage directory, group log and device queues.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatClient } from '../../../src/client/chat-client.js';
import { addressText } from '../../../src/client/address.js';
import type { GroupMembershipEvent, GroupMessageEvent } from '../../../src/client/groups/group-runtime.js';
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
