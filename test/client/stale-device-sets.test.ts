/**
 * A stale device set under load (issue 10, "Tests it must have"; docs/PROTOCOL.md §21.5): bob links a
 * laptop while alice keeps sending. Sends sealed for the old set are refused with devices_changed,
 * resealed for the missing device only and sent again; nothing is lost and nothing is shown twice, and
 * everything alice sends once her client holds the new list reaches the laptop too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { requestDeviceLink } from '../../src/client/device-link-request.js';
import type { ReceivedMessage } from '../../src/client/inbound.js';
import { adoptProvisioning } from '../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';

const MESSAGES = 40;

describe('bob links a device while alice is sending', () => {
  const servers = useTestServer();
  const { track } = servers;
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('every message reaches bob once, the laptop gets each message once from the list change on, and none is lost', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'sds-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'sds-bob'));
    await alice.client.send('sds-bob', 'hello before');
    await bob.waitFor(1);

    // Alice sends in the background, one after another, as a busy chat would.
    const sent: string[] = [];
    let sentAfterLink: number | undefined;
    let linked = false;
    const sending = (async () => {
      for (let i = 0; i < MESSAGES; i++) {
        const m = await alice.client.send('sds-bob', `message ${i}`);
        sent.push(m.id);
        if (linked && sentAfterLink === undefined) sentAfterLink = sent.length;
      }
    })();

    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const peers = new MemoryPeerKeyStore();
    const pending = await requestDeviceLink({ url: servers.srv.url, username: 'sds-bob', name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    await bob.client.approveDevice(pending.code);
    linked = true;
    const provisioned = await pending.done;
    await adoptProvisioning(peers, provisioned);
    const laptopReceived: ReceivedMessage[] = [];
    const laptop = await ChatClient.connect(
      {
        url: servers.srv.url,
        identity: { username: 'sds-bob', device: provisioned.device, keys, account: provisioned.account },
        peers,
        messages: new MemoryMessageStore(),
        ratchet,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('message', (m) => laptopReceived.push(m)),
    );
    closers.push(() => laptop.close());
    await sending;
    // A barrier: the last message, sent once alice's client surely holds the new list.
    const last = await alice.client.send('sds-bob', 'barrier');

    await bob.waitFor(MESSAGES + 2, 15_000);
    await waitUntil(() => (laptopReceived.some((m) => m.id === last.id) ? true : undefined), 15_000, 'the barrier on the laptop');

    const bodiesOf = (ms: readonly ReceivedMessage[]) => ms.map((m) => m.body);
    // Bob's first device: every message, once each, in order.
    expect(bodiesOf(bob.received)).toEqual(['hello before', ...Array.from({ length: MESSAGES }, (_, i) => `message ${i}`), 'barrier']);
    // The laptop: no message twice, nothing from before it existed, and everything from the list change on.
    const laptopIds = laptopReceived.map((m) => m.id);
    expect(new Set(laptopIds).size).toBe(laptopIds.length);
    expect(laptopIds).not.toContain(bob.received[0]!.id);
    const firstOnLaptop = sent.findIndex((id) => laptopIds.includes(id));
    const expectedOnLaptop = firstOnLaptop < 0 ? [] : sent.slice(firstOnLaptop);
    expect(laptopIds).toEqual([...expectedOnLaptop, last.id]);
    // Messages sealed after alice's send answered with the new device set all went to the laptop.
    if (sentAfterLink !== undefined) for (const id of sent.slice(sentAfterLink)) expect(laptopIds).toContain(id);
    // Alice's record of each says how many of bob's devices it went to: one or both, each copy once.
    for (const id of [...sent, last.id]) {
      const record = await alice.messages.get(id, 'out');
      const devices = record!.copies!.map((c) => c.device);
      expect(devices, id).toEqual(laptopIds.includes(id) ? [1, 2] : [1]);
    }
  }, 60_000);
});
