/**
 * "Nothing is lost; shown exactly once" for group messages, through ChatClient and a real server: the
 * client records a received text in the group history before it saves the group's row (after which a
 * redelivery is a replay) and before it acks. A device that dies between the record and the save finds
 * the text once after its restart (processed again, recorded once); one that dies after the save but
 * before the ack finds it in its history (the redelivery is ignored as a replay), still waiting to be
 * shown, once. This device's own texts are recorded as sent once the server ordered them.
 *
 * The death is a GroupStore whose save fails on cue (before writing, or after), then the client closed
 * without that entry acked, and a new client over the same stores: what a kill -9 at that point leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../../src/client/chat-client.js';
import type { GroupHistoryEntry } from '../../../src/client/groups/group-history.js';
import type { GroupMessageEvent } from '../../../src/client/groups/group-runtime.js';
import type { GroupRow } from '../../../src/client/groups/group-store.js';
import { MemoryGroupHistory } from '../../../src/client/groups/memory-group-history.js';
import { MemoryGroupStore } from '../../../src/client/groups/memory-group-store.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../../src/client/ratchet-store.js';
import { base64urlDecode } from '../../../src/crypto/bytes.js';
import type { UserKeyPairs } from '../../../src/crypto/keys.js';
import { connectTestClient, keysFor, waitUntil } from '../../helpers/test-clients.js';
import { startTestServer, type TestServer } from '../../helpers/test-server.js';

/** A memory GroupStore whose first save moving a group past `afterSeq` dies, before or after it writes. */
class DyingGroupStore extends MemoryGroupStore {
  #armed: { afterSeq: number; when: 'before' | 'after'; died: () => void } | undefined;

  /** Resolves when the save died. */
  dieOnNextReceive(afterSeq: number, when: 'before' | 'after'): Promise<void> {
    return new Promise((died) => (this.#armed = { afterSeq, when, died }));
  }

  override async saveGroup(row: GroupRow, name: string | undefined, expected: number): Promise<boolean> {
    const armed = this.#armed;
    if (!armed || row.lastSeq <= armed.afterSeq) return super.saveGroup(row, name, expected);
    this.#armed = undefined;
    if (armed.when === 'after') await super.saveGroup(row, name, expected);
    armed.died();
    throw new Error(`the process died ${armed.when} saving the group row`);
  }
}

/** One device of a user whose stores outlive its process. */
interface Device {
  readonly username: string;
  readonly keys: UserKeyPairs;
  readonly peers: MemoryPeerKeyStore;
  readonly messages: MemoryMessageStore;
  readonly ratchet: MemoryRatchetStore;
  readonly groups: DyingGroupStore;
  readonly history: MemoryGroupHistory;
}

const texts = (entries: readonly GroupHistoryEntry[], text: string) => entries.filter((e) => e.kind === 'message' && e.text === text);

describe('group history across a crash', () => {
  let server: TestServer;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await server?.stop();
  });

  /** Starts a process of `device`: a ChatClient over its stores, listening from before its login. */
  async function start(server: TestServer, device: Device, heard: GroupMessageEvent[]): Promise<ChatClient> {
    const client = await ChatClient.connect(
      {
        url: server.url,
        identity: { username: device.username, keys: device.keys },
        peers: device.peers,
        messages: device.messages,
        ratchet: device.ratchet,
        groups: device.groups,
        groupHistory: device.history,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('groupMessage', (m) => heard.push(m)),
    );
    closers.push(() => client.close());
    // KeyPackages up (alice adds bob next) and the groups synced (a redelivery was handled).
    await client.groupsReady();
    return client;
  }

  /** alice and a group with `bob`, whose stores are returned; bob's first process is running. */
  async function groupWithBob(prefix: string) {
    const alice = await connectTestClient(server.url, `${prefix}-alice`, { groups: new MemoryGroupStore() });
    closers.push(() => alice.client.close());
    const bob: Device = {
      username: `${prefix}-bob`,
      keys: await keysFor(true),
      peers: new MemoryPeerKeyStore(),
      messages: new MemoryMessageStore(),
      ratchet: new MemoryRatchetStore(),
      groups: new DyingGroupStore(),
      history: new MemoryGroupHistory(),
    };
    const firstRun: GroupMessageEvent[] = [];
    const bob1 = await start(server, bob, firstRun);
    const group = await alice.client.createGroup('crashy', [bob.username]);
    await waitUntil(async () => ((await bob1.groups()).length === 1 ? true : undefined), 10_000, 'bob to join');
    await alice.client.sendGroupMessage(group, 'before');
    await waitUntil(() => firstRun.find((m) => m.text === 'before'), 10_000, 'bob to hear "before"');
    const lastSeq = (await bob.groups.loadGroup(base64urlDecode(group)))!.row.lastSeq;
    return { alice: alice.client, bob, bob1, group, firstRun, lastSeq };
  }

  it('a device that dies after recording a text but before saving the group shows it exactly once after its restart', async () => {
    const { alice, bob, bob1, group, firstRun, lastSeq } = await groupWithBob('gh-before');
    const died = bob.groups.dieOnNextReceive(lastSeq, 'before');
    const { seq } = await alice.sendGroupMessage(group, 'lost unless recorded');
    await died;
    // Closed with the entry unacked (its handling failed) and never told: the kill -9 at that moment.
    await bob1.close();
    expect(firstRun.map((m) => m.text)).toEqual(['before']);
    expect(texts(await bob.history.history(group), 'lost unless recorded')).toHaveLength(1);

    const secondRun: GroupMessageEvent[] = [];
    await start(server, bob, secondRun);
    await alice.sendGroupMessage(group, 'barrier');
    await waitUntil(() => secondRun.find((m) => m.text === 'barrier'), 10_000, 'bob to hear the barrier');
    // Redelivered, processed again on the state as saved, recorded once and told once.
    expect(secondRun.filter((m) => m.text === 'lost unless recorded').map((m) => m.seq)).toEqual([seq]);
    expect(texts(await bob.history.history(group), 'lost unless recorded')).toHaveLength(1);
    expect(texts(await bob.history.undisplayed(), 'lost unless recorded')).toHaveLength(1);
  });

  it('a device that dies after saving the group but before the ack finds the text in its history, once, still to be shown', async () => {
    const { alice, bob, bob1, group, firstRun, lastSeq } = await groupWithBob('gh-after');
    const died = bob.groups.dieOnNextReceive(lastSeq, 'after');
    const { seq } = await alice.sendGroupMessage(group, 'saved, never acked');
    await died;
    await bob1.close();
    expect(firstRun.map((m) => m.text)).toEqual(['before']);

    const secondRun: GroupMessageEvent[] = [];
    await start(server, bob, secondRun);
    await alice.sendGroupMessage(group, 'barrier');
    await waitUntil(() => secondRun.find((m) => m.text === 'barrier'), 10_000, 'bob to hear the barrier');
    // The redelivery is a replay of a handled entry: ignored, so no listener hears it; the history has it.
    expect(secondRun.map((m) => m.text)).toEqual(['barrier']);
    const recorded = texts(await bob.history.undisplayed(), 'saved, never acked');
    expect(recorded.map((e) => e.kind === 'message' && e.seq)).toEqual([seq]);
    expect(texts(await bob.history.history(group), 'saved, never acked')).toHaveLength(1);
  });

  it("the texts a device sends are in its history as its own, already shown, in the group's order", async () => {
    const aliceHistory = new MemoryGroupHistory();
    const alice = await connectTestClient(server.url, 'gh-out-alice', { groups: new MemoryGroupStore(), groupHistory: aliceHistory });
    const bob = await connectTestClient(server.url, 'gh-out-bob', { groups: new MemoryGroupStore() });
    closers.push(() => alice.client.close(), () => bob.client.close());
    const group = await alice.client.createGroup('mine', ['gh-out-bob']);
    const { seq } = await alice.client.sendGroupMessage(group, 'said by me');
    const mine = texts(await aliceHistory.history(group), 'said by me');
    expect(mine).toEqual([expect.objectContaining({ direction: 'out', seq, from: { user: 'gh-out-alice', device: 1 }, name: 'mine' })]);
    expect(texts(await aliceHistory.undisplayed(), 'said by me')).toEqual([]);
    // The creation's commit, adopted by this device, is recorded too, waiting to be shown like any change.
    const changes = (await aliceHistory.undisplayed()).filter((e) => e.kind === 'membership');
    expect(changes.some((e) => e.kind === 'membership' && e.added.some((m) => m.user === 'gh-out-bob'))).toBe(true);
  });
});
