/**
 * Linking a device through the library, end to end over a real server (docs/PROTOCOL.md §18): the new
 * device asks (requestDeviceLink) and prints a code, the primary approves it (ChatClient.approveDevice),
 * the new device adopts the provisioning and logs in as the account's next device. Then it works as
 * alice: what bob sends reaches it, what it sends reaches bob and shows on the primary as sent by alice.
 * A wrong code and a reused code fail and change nothing; a removed device is listed no more.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { requestDeviceLink } from '../../src/client/device-link-request.js';
import { adoptProvisioning } from '../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import type { ReceivedMessage } from '../../src/client/inbound.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';

describe('linking a device with the library', () => {
  const servers = useTestServer();
  const { track } = servers;
  const closers: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  /** A new device's keys and stores, its link request open on the server. */
  async function newDevice(username: string, name = 'laptop') {
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const peers = new MemoryPeerKeyStore();
    const pending = await requestDeviceLink({ url: servers.srv.url, username, name, keys, ratchet, socketOptions: { transports: ['websocket'] } });
    closers.push(() => pending.cancel());
    // A failed run must not surface as an unhandled rejection before the test looks at it.
    pending.done.catch(() => undefined);
    return { keys, ratchet, peers, pending };
  }

  /** The linked device as a ChatClient, from what the provisioning said. */
  async function connectLinked(device: Awaited<ReturnType<typeof newDevice>>, received: ReceivedMessage[] = []) {
    const provisioned = await device.pending.done;
    await adoptProvisioning(device.peers, provisioned);
    const client = await ChatClient.connect(
      {
        url: servers.srv.url,
        identity: { username: provisioned.username, device: provisioned.device, keys: device.keys, account: provisioned.account },
        peers: device.peers,
        messages: new MemoryMessageStore(),
        ratchet: device.ratchet,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    closers.push(() => client.close());
    return { client, provisioned, received };
  }

  it('a device linked with the code works as alice: it receives, sends, and its messages show on the primary as sent', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'dl-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'dl-bob'));
    // Alice has talked with bob: her pin of bob goes to the new device.
    await alice.client.send('dl-bob', 'before the laptop');
    await bob.waitFor(1);

    const laptop = await newDevice('dl-alice');
    expect(laptop.pending.code).toMatch(/^[1-9][0-9]{2,5}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const offers: Array<{ name: string; keyFingerprint: string }> = [];
    const approved = await alice.client.approveDevice(laptop.pending.code, { onOffer: (o) => offers.push(o) });
    expect(approved).toMatchObject({ device: 2, name: 'laptop', version: 2 });
    // Both devices show the same short fingerprint of the new device's key.
    expect(offers).toEqual([{ name: 'laptop', keyFingerprint: laptop.pending.keyFingerprint }]);

    const linked = await connectLinked(laptop);
    expect(linked.provisioned).toMatchObject({ username: 'dl-alice', device: 2, name: 'laptop', historyCount: 0 });
    // The primary's pin of bob came along, with the account's own keys.
    expect((await laptop.peers.get('dl-bob'))?.signingKeyThumbprint).toBe((await alice.peers.get('dl-bob'))?.signingKeyThumbprint);
    expect((await linked.client.devices()).map((d) => [d.device, d.name, d.current])).toEqual([
      [1, 'primary', false],
      [2, 'laptop', true],
    ]);

    await bob.client.send('dl-alice', 'to both of you');
    await waitUntil(() => (linked.received.some((m) => m.body === 'to both of you') ? true : undefined), 5000, 'the laptop to receive');
    await alice.waitFor(1);
    expect(alice.received.filter((m) => m.body === 'to both of you')).toHaveLength(1);

    await linked.client.send('dl-bob', 'from the laptop');
    await bob.waitFor(2);
    expect(bob.received[1]).toMatchObject({ from: 'dl-alice', body: 'from the laptop' });
    await waitUntil(() => alice.received.find((m) => m.body === 'from the laptop'), 5000, "the laptop's message on the primary");
    expect(alice.received.find((m) => m.body === 'from the laptop')).toMatchObject({ outgoing: true });
  });

  it('a wrong code fails on both sides and publishes nothing', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'dl-carol'));
    const laptop = await newDevice('dl-carol');
    const [slot, first, second] = laptop.pending.code.split('-') as [string, string, string];
    // One character off: another password, another CPace generator, a failed confirmation.
    const wrong = `${slot}-${first}-${second.slice(0, 3)}${second[3] === '0' ? '1' : '0'}`;
    await expect(alice.client.approveDevice(wrong)).rejects.toMatchObject({ code: 'link_failed' });
    await expect(laptop.pending.done).rejects.toMatchObject({ code: 'link_failed' });
    expect((await alice.client.devices()).map((d) => d.device)).toEqual([1]);
  });

  it('a code runs once: a second approval of the same code is refused without a run', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'dl-dave'));
    const laptop = await newDevice('dl-dave');
    await alice.client.approveDevice(laptop.pending.code);
    await expect(alice.client.approveDevice(laptop.pending.code)).rejects.toMatchObject({ code: 'link_failed', message: expect.stringContaining('tried on this device already') });
    expect((await alice.client.devices()).map((d) => d.device)).toEqual([1, 2]);
  });

  it('a code for another account fails: there is no such slot for it', async () => {
    const erin = track(await connectTestClient(servers.srv.url, 'dl-erin'));
    track(await connectTestClient(servers.srv.url, 'dl-frank'));
    const franksLaptop = await newDevice('dl-frank');
    await expect(erin.client.approveDevice(franksLaptop.pending.code)).rejects.toMatchObject({ code: 'link_failed' });
    expect((await erin.client.devices()).map((d) => d.device)).toEqual([1]);
  });

  it('only the primary approves or removes devices', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'dl-gina'));
    const linked = await connectLinked(await newDevice('dl-gina').then(async (d) => (await alice.client.approveDevice(d.pending.code), d)));
    await expect(linked.client.approveDevice('123-ABCD-EFGH')).rejects.toMatchObject({ code: 'not_primary' });
    await expect(linked.client.removeDevice(2)).rejects.toMatchObject({ code: 'not_primary' });
  });

  it('a removed device is listed no more, and what bob sends after goes to the primary only', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'dl-hana'));
    const bob = track(await connectTestClient(servers.srv.url, 'dl-ivan'));
    const laptop = await newDevice('dl-hana', 'old laptop');
    await alice.client.approveDevice(laptop.pending.code);
    const linked = await connectLinked(laptop);
    expect(await alice.client.removeDevice(2)).toEqual({ device: 2, name: 'old laptop', version: 3 });
    await expect(alice.client.removeDevice(1)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(alice.client.removeDevice(2)).rejects.toMatchObject({ code: 'unknown_device' });
    expect((await alice.client.devices()).map((d) => d.device)).toEqual([1]);

    const sent = await bob.client.send('dl-hana', 'after the removal');
    await alice.waitFor(1);
    const record = await bob.messages.get(sent.id, 'out');
    expect(record?.copies?.map((c) => c.device)).toEqual([1]);
    expect(linked.received).toEqual([]);
  });
});
