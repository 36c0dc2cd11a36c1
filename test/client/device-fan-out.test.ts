/**
 * Fan-out to every device (docs/PROTOCOL.md §21.4, §21.5, §21.8), between a protocol-2 ChatClient and a
 * scripted multi-device peer (test/helpers/test-device.ts) on a real server: one send carries a copy for
 * each of bob's devices, each device opens its own; the receipts say per device what happened; a device
 * linked or removed while alice holds an older list costs one devices_changed refusal, after which only
 * the new device's copy is sealed and every device gets the message exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { DeliveredReceipt } from '../../src/client/inbound.js';
import { copiesOf } from '../../src/client/delivery-copies.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { EMPTY_SESSION, MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

type Sent = { id: string; messages: Array<{ to: string; device: number }> };

describe('fan-out to every device of the recipient', () => {
  const servers = useTestServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const peer = async (username: string, devices: number) => {
    const p = await TestPeer.register(servers.srv.url, username, { devices });
    peers.push(p);
    return p;
  };
  afterAll(() => {
    for (const p of peers) p.close();
  });
  /** The `send` frames the server received for message `id`, as the devices they named. */
  const sendsOf = (id: string) =>
    servers.srv.frames.filter((f) => f.event === 'send' && (f.args[0] as Sent).id === id).map((f) => (f.args[0] as Sent).messages.map((m) => `${m.to}/${m.device}`));

  it('a message to bob reaches each of his two devices once, and the receipts say "2 of 2" per device', async () => {
    const bob = await peer('fo-bob', 2);
    const alice = track(await connectTestClient(servers.srv.url, 'fo-alice'));
    const delivered: DeliveredReceipt[] = [];
    alice.client.on('delivered', (d) => delivered.push(d));

    const sent = await alice.client.send('fo-bob', 'to both of your devices');
    expect(sent).toMatchObject({ to: 'fo-bob', devices: 2 });
    expect(sendsOf(sent.id)).toEqual([['fo-bob/1', 'fo-bob/2']]);
    for (const device of bob.devices) {
      const [payload] = await device.receive(1);
      expect(payload).toMatchObject({ v: 2, kind: 'message', from: 'fo-alice', fromDevice: 1, to: 'fo-bob', id: sent.id, body: 'to both of your devices' });
    }
    await waitUntil(() => (delivered.length === 2 ? true : undefined), 5000, 'a receipt from each device');
    expect(delivered.map((d) => d.device).sort()).toEqual([1, 2]);
    const record = (await alice.messages.get(sent.id, 'out'))!;
    expect(record.status).toBe('delivered');
    expect(copiesOf(record).map((c) => [c.to, c.device, c.status])).toEqual([
      ['fo-bob', 1, 'delivered'],
      ['fo-bob', 2, 'delivered'],
    ]);
    // Each device has its own session: a reply from device 2 opens on alice's side.
    await bob.sendTo('fo-alice', 'from my laptop', { from: 2 });
    const [reply] = await alice.waitFor(1);
    expect(reply).toMatchObject({ from: 'fo-bob', fromDevice: 2, body: 'from my laptop' });
  });

  it('a device linked while alice holds the older list: one devices_changed, only the new copy sealed, each device once', async () => {
    const bob = await peer('fo-bob2', 1);
    const alice = track(await connectTestClient(servers.srv.url, 'fo-alice2'));
    const first = await alice.client.send('fo-bob2', 'before the laptop');
    await bob.device(1).receive(1);

    const laptop = await bob.addDevice('laptop');
    const second = await alice.client.send('fo-bob2', 'after the laptop');
    expect(second).toMatchObject({ devices: 2 });
    // The first attempt named the old set and was refused; the second added device 2's copy only.
    expect(sendsOf(second.id)).toEqual([['fo-bob2/1'], ['fo-bob2/1', 'fo-bob2/2']]);
    expect(sendsOf(first.id)).toEqual([['fo-bob2/1']]);
    // receive(n) answers the first n messages a device got, opening those not opened yet.
    const onPhone = (await bob.device(1).receive(2))[1];
    const [onLaptop] = await laptop.receive(1);
    expect(onPhone).toMatchObject({ id: second.id, body: 'after the laptop' });
    expect(onLaptop).toMatchObject({ id: second.id, body: 'after the laptop' });
    // Nothing else was queued for either: the refused attempt stored nothing.
    const barrier = await alice.client.send('fo-bob2', 'barrier');
    expect(sendsOf(barrier.id)).toEqual([['fo-bob2/1', 'fo-bob2/2']]);
    expect((await bob.device(1).receive(3))[2]).toMatchObject({ body: 'barrier' });
    expect((await laptop.receive(2))[1]).toMatchObject({ body: 'barrier' });
    expect(bob.device(1).messages).toHaveLength(3);
    expect(laptop.messages).toHaveLength(2);
  });

  it('a removed device: its copy is dropped and its session deleted; the rest go out once', async () => {
    const bob = await peer('fo-bob3', 2);
    const ratchet = new MemoryRatchetStore();
    const alice = track(await connectTestClient(servers.srv.url, 'fo-alice3', { ratchet }));
    await alice.client.send('fo-bob3', 'to both');
    for (const device of bob.devices) await device.receive(1);
    expect((await ratchet.loadSession({ user: 'fo-bob3', device: 2 }))?.value).not.toEqual(EMPTY_SESSION);

    await bob.removeDevice(2);
    const after = await alice.client.send('fo-bob3', 'after the removal');
    expect(after).toMatchObject({ devices: 1 });
    expect(sendsOf(after.id)).toEqual([['fo-bob3/1', 'fo-bob3/2'], ['fo-bob3/1']]);
    expect((await bob.device(1).receive(2))[1]).toMatchObject({ body: 'after the removal' });
    // Deleted: an empty record at the next version (so no writer that loaded the old one can save over it).
    expect((await ratchet.loadSession({ user: 'fo-bob3', device: 2 }))?.value).toEqual(EMPTY_SESSION);
  });

  it('a primary that remade its prekey identity publishes a list naming it; a peer holding the old list takes the new one in', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'fo-alice4'));
    const bob = track(await connectTestClient(servers.srv.url, 'fo-bob4'));
    await alice.client.send('fo-bob4', 'first');
    await bob.waitFor(1);
    await bob.client.send('fo-alice4', 'reply');
    await alice.waitFor(1);
    await bob.client.close();
    // Bob's keys and pins survive, his sessions and prekey identity do not (a new ratchet store).
    const bobAgain = track(await connectTestClient(servers.srv.url, 'fo-bob4', { keys: bob.identity.keys, peers: bob.peers, messages: bob.messages }));
    await bobAgain.client.send('fo-alice4', 'from my new identity');
    expect((await alice.waitFor(2))[1]).toMatchObject({ from: 'fo-bob4', body: 'from my new identity' });
    expect(alice.rejected).toEqual([]);
    await alice.client.send('fo-bob4', 'welcome back');
    expect((await bobAgain.waitFor(1))[0]).toMatchObject({ from: 'fo-alice4', body: 'welcome back' });
  });
});
