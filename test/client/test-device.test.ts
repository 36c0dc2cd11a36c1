/**
 * The scriptable multi-device peer (test/helpers/test-device.ts) against the real server: it opens what
 * today's protocol-1 ChatClient sends it, publishes lists (after which that client is refused with
 * `upgrade_required`, design §5.9), and fans a v2 message out to every device, each of which opens it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { decodeDeviceListPayload } from '../../src/protocol/device-list-payload.js';
import type { DeviceListWire } from '../../src/protocol/device-list-signature.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, connectTestClient, loginRaw, rawSocket, waitUntil } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

describe('TestPeer, a multi-device peer over raw protocol-2 sockets', () => {
  const servers = useTestServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const peer = async (username: string, devices = 1) => {
    const p = await TestPeer.register(servers.srv.url, username, { devices });
    peers.push(p);
    return p;
  };
  afterAll(() => {
    for (const p of peers) p.close();
  });

  const versionOf = async (asker: TestPeer, username: string) => {
    const answer = await asker.device(1).call('devices.list', { username });
    return decodeDeviceListPayload(base64urlDecode((answer.deviceList as DeviceListWire).list)).version;
  };

  it("opens a protocol-1 client's messages on device 1, the first one starting the session, and acknowledges them", async () => {
    const bob = await peer('td-bob');
    const alice = track(await connectTestClient(servers.srv.url, 'td-alice'));
    const delivered: string[] = [];
    alice.client.on('delivered', (d) => delivered.push(d.id));

    const first = await alice.client.send('td-bob', 'hello bob');
    const second = await alice.client.send('td-bob', 'again');
    // Today's client writes payload v1; the v2 client will add kind and fromDevice. Either opens.
    const [one, two] = await bob.device(1).receive(2);
    expect(one).toMatchObject({ from: 'td-alice', to: 'td-bob', id: first.id, body: 'hello bob' });
    expect(two).toMatchObject({ id: second.id, body: 'again' });
    expect([1, 2]).toContain(one!.v);
    expect(bob.device(1).messages.map((m) => [m.fromDevice, m.toDevice])).toEqual([
      [1, 1],
      [1, 1],
    ]);
    // The acknowledgement reached the server: alice hears both copies were delivered.
    await waitUntil(() => (delivered.length === 2 ? true : undefined), 5000, 'two delivered receipts');
    expect(delivered.sort()).toEqual([first.id, second.id].sort());
  });

  it('links a device (list version 2), after which a protocol-1 client may no longer write: upgrade_required', async () => {
    const bob = await peer('td-bob2');
    const alice = track(await connectTestClient(servers.srv.url, 'td-alice2'));
    await alice.client.send('td-bob2', 'while bob has one device');
    await bob.device(1).receive(1);

    const two = await bob.addDevice('laptop');
    expect(two.id).toBe(2);
    expect(await versionOf(bob, 'td-bob2')).toBe(2);
    expect(bob.devices.map((d) => d.id)).toEqual([1, 2]);

    // Over a raw protocol-1 connection of alice's: the server's answer, whatever the client library speaks.
    const v1 = await rawSocket(servers.srv.url);
    try {
      expect((await loginRaw(v1, 'td-alice2', alice.identity.keys)).ok).toBe(true);
      const refused = await call(v1, 'send', { to: 'td-bob2', id: 'td-after-link-0001', envelope: hybridEnvelope() });
      expect(refused).toMatchObject({ ok: false, error: { code: 'upgrade_required' } });
    } finally {
      v1.close();
    }
  });

  it('fans a v2 message out to every device of the recipient and the other devices of the sender; each opens it', async () => {
    const carol = await peer('td-carol', 2);
    const dave = await peer('td-dave', 2);
    const sent = await carol.sendTo('td-dave', 'to all of you');
    expect(sent.ok, JSON.stringify(sent.error)).toBe(true);
    expect((sent.deliveries as Array<{ to: string; device: number }>).map((d) => `${d.to}/${d.device}`)).toEqual(['td-dave/1', 'td-dave/2', 'td-carol/2']);
    const expected = { v: 2, kind: 'message', from: 'td-carol', fromDevice: 1, to: 'td-dave', id: sent.id, body: 'to all of you' };
    for (const device of [dave.device(1), dave.device(2), carol.device(2)]) expect((await device.receive(1))[0]).toMatchObject(expected);

    // A reply from dave's device 2: on the session carol/1 started, and a new one with carol/2.
    const reply = await dave.sendTo('td-carol', 'got it', { from: 2 });
    expect(reply.ok, JSON.stringify(reply.error)).toBe(true);
    // Carol's device 1 had nothing yet; her device 2 and dave's device 1 had the first message.
    for (const [device, total] of [[carol.device(1), 1], [carol.device(2), 2], [dave.device(1), 2]] as const) {
      expect((await device.receive(total)).at(-1)).toMatchObject({ from: 'td-dave', fromDevice: 2, to: 'td-carol', body: 'got it' });
    }
  });

  it("an offline device's copy waits in its queue and opens after it logs in again", async () => {
    const frank = await peer('td-frank', 2);
    const gina = await peer('td-gina');
    frank.device(2).disconnect();
    const sent = await gina.sendTo('td-frank', 'while you were away');
    // Queued, or pushed to a socket the server had not yet seen close: unacknowledged either way, so it comes again.
    expect((sent.deliveries as Array<{ device: number }>).map((d) => d.device)).toEqual([1, 2]);
    expect((await frank.device(1).receive(1))[0]).toMatchObject({ body: 'while you were away' });
    const back = await frank.device(2).reconnect();
    expect((await back.receive(1))[0]).toMatchObject({ from: 'td-gina', body: 'while you were away', id: sent.id });
  });

  it('removes a device (disconnected by the server) and publishes lists the server refuses', async () => {
    const erin = await peer('td-erin', 3);
    const removed = await erin.removeDevice(2);
    expect(removed).toMatchObject({ ok: true, version: 4 });
    expect(erin.devices.map((d) => d.id)).toEqual([1, 3]);
    expect(await versionOf(erin, 'td-erin')).toBe(4);

    const next = { version: 5 };
    expect(await erin.publish(erin.forgedList(next))).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    expect(await erin.publish(erin.unsignedList(next))).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    expect(await erin.publish(erin.signedList({ version: 4 }))).toMatchObject({ ok: false, error: { code: 'device_list_outdated' } });
    expect(await erin.publish(erin.signedList(next))).toMatchObject({ ok: true, version: 5 });
  });
});
