/**
 * The user's own devices as ChatClient.devices() gives them (issue 10, `e2ee-chat devices`): the verified
 * list joined with the server's unsigned last-seen times, this device marked. First the join alone
 * (src/client/own-devices.ts), then the method against a real server, as the primary and as device 2.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { ownDevices } from '../../src/client/own-devices.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import { encodeDeviceListPayload } from '../../src/protocol/device-list-payload.js';
import { aliceList } from '../protocol/device-list-fixtures.js';
import { addedOf, entryOf, newDevice } from '../helpers/devices.js';
import { useHostileServer, useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

describe('ownDevices (the join)', () => {
  it("lists the signed list's devices in order, each with its name, addedAt and the server's last-seen time", async () => {
    const list = encodeDeviceListPayload(await aliceList([1, 2, 4]));
    const [one, two, four] = list.devices;
    const devices = ownDevices(list, [{ device: 4, at: 1_000 }, { device: 1, at: 2_000 }], 2);
    expect(devices).toEqual([
      { device: 1, name: one!.name, addedAt: one!.addedAt, lastSeenAt: 2_000, current: false },
      { device: 2, name: two!.name, addedAt: two!.addedAt, lastSeenAt: null, current: true },
      { device: 4, name: four!.name, addedAt: four!.addedAt, lastSeenAt: 1_000, current: false },
    ]);
  });

  it("never adds a device the signed list does not name, whatever the server's lastSeen says", async () => {
    const list = encodeDeviceListPayload(await aliceList([1]));
    const devices = ownDevices(list, [{ device: 1, at: 5 }, { device: 3, at: 6 }], 1);
    expect(devices.map((d) => d.device)).toEqual([1]);
  });

  it('marks no device current when this device is not in the list (it was removed)', async () => {
    const list = encodeDeviceListPayload(await aliceList([1, 2]));
    expect(ownDevices(list, [], 3).some((d) => d.current)).toBe(false);
  });

  it("a user without a list is device 1 alone, called 'primary', with no signed date", () => {
    expect(ownDevices(null, [{ device: 1, at: 7 }], 1)).toEqual([{ device: 1, name: 'primary', addedAt: null, lastSeenAt: 7, current: true }]);
    expect(ownDevices(null, [], 1)).toEqual([{ device: 1, name: 'primary', addedAt: null, lastSeenAt: null, current: true }]);
  });
});

describe('ChatClient.devices() against a real server', () => {
  const servers = useTestServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    for (const p of peers) p.close();
  });

  it('a new user: its primary alone, named by its first list, seen at this login, marked current', async () => {
    const before = Date.now();
    const alice = track(await connectTestClient(servers.srv.url, 'odl-alice'));
    const devices = await alice.client.devices();
    expect(devices).toEqual([{ device: 1, name: 'primary', addedAt: expect.any(Number), lastSeenAt: expect.any(Number), current: true }]);
    expect(devices[0]!.addedAt!).toBeGreaterThanOrEqual(before - 1000);
    expect(devices[0]!.lastSeenAt!).toBeGreaterThanOrEqual(before - 1000);
  });

  it('the primary of an account with a linked device lists both, itself current, with the names and dates its list signs', async () => {
    const peer = await TestPeer.register(servers.srv.url, 'odl-bob', { devices: 2 });
    peers.push(peer);
    peer.device(1).disconnect();
    const bob = track(await connectTestClient(servers.srv.url, 'odl-bob', { keys: peer.account.userKeys, ratchet: peer.device(1).store }));
    const laptop = peer.account.device(2);
    const devices = await bob.client.devices();
    expect(devices).toEqual([
      { device: 1, name: peer.account.device(1).name, addedAt: peer.account.device(1).addedAt, lastSeenAt: expect.any(Number), current: true },
      // Device 2 logged in when it was linked: the server saw it then.
      { device: 2, name: laptop.name, addedAt: laptop.addedAt, lastSeenAt: expect.any(Number), current: false },
    ]);
  });

  it('a device linked but never logged in has no last-seen time', async () => {
    const peer = await TestPeer.register(servers.srv.url, 'odl-carol');
    peers.push(peer);
    const carol = track(await connectTestClient(servers.srv.url, 'odl-carol', { keys: peer.account.userKeys, ratchet: peer.device(1).store }));
    expect((await carol.client.devices()).map((d) => d.device)).toEqual([1]);
    // The scripted primary links device 2 and publishes the list naming it; device 2 never connects.
    const tablet = await newDevice(2, 'tablet');
    peer.account.add(tablet);
    expect((await peer.publish(peer.account.list(), addedOf(tablet))).ok).toBe(true);
    expect(await carol.client.devices()).toEqual([
      expect.objectContaining({ device: 1, current: true }),
      { device: 2, name: 'tablet', addedAt: tablet.addedAt, lastSeenAt: null, current: false },
    ]);
  });

  it('a linked device run by a ChatClient marks itself, not the primary', async () => {
    const peer = await TestPeer.register(servers.srv.url, 'odl-dave', { devices: 2 });
    peers.push(peer);
    const laptopKeys = peer.device(2);
    laptopKeys.disconnect();
    const own = await keysFor();
    const laptop = await ChatClient.connect({
      url: servers.srv.url,
      identity: {
        username: 'odl-dave',
        device: 2,
        keys: { signing: { kty: 'OKP', crv: 'Ed25519', d: base64urlEncode(laptopKeys.keys.signingSecret), x: base64urlEncode(laptopKeys.keys.signingKey) }, encryption: own.encryption },
        account: { signingKey: ed25519PublicOf(peer.account.userKeys.signing), encryptionKey: rsaPublicOf(peer.account.userKeys.encryption) },
      },
      peers: new MemoryPeerKeyStore(),
      messages: new MemoryMessageStore(),
      ratchet: laptopKeys.store,
      socketOptions: { transports: ['websocket'] },
    });
    closers.push(() => laptop.close());
    expect((await laptop.devices()).map((d) => [d.device, d.current])).toEqual([
      [1, false],
      [2, true],
    ]);
  });
});

describe('ChatClient.devices() through a server that lies', () => {
  const servers = useHostileServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  afterAll(() => {
    for (const p of peers) p.close();
  });
  const named = (payload: unknown) => (payload as { username?: string }).username;

  it("a list with a device of the server's own (signed by another key) is refused: nothing is listed", async () => {
    const peer = await TestPeer.register(servers.srv.url, 'odl-erin');
    peers.push(peer);
    const erin = track(await connectTestClient(servers.hostile.url, 'odl-erin', { keys: peer.account.userKeys, ratchet: peer.device(1).store }));
    const planted = await newDevice(2, 'planted');
    const forged = peer.forgedList({ version: 2, maxDeviceId: 2, devices: [...peer.account.fields().devices, entryOf(planted)] });
    servers.hostile.onAnswer('devices.list', (answer, payload) => (answer.ok && named(payload) === 'odl-erin' ? { ...answer, deviceList: forged } : answer), { protocol: 2 });
    await expect(erin.client.devices()).rejects.toMatchObject({ code: 'device_list_invalid' });
  });

  it("a last-seen time for a device the signed list does not name adds nothing", async () => {
    const peer = await TestPeer.register(servers.srv.url, 'odl-fay');
    peers.push(peer);
    const fay = track(await connectTestClient(servers.hostile.url, 'odl-fay', { keys: peer.account.userKeys, ratchet: peer.device(1).store }));
    servers.hostile.onAnswer(
      'devices.list',
      (answer, payload) => (answer.ok && named(payload) === 'odl-fay' ? { ...answer, lastSeen: [{ device: 1, at: 42 }, { device: 3, at: 43 }] } : answer),
      { protocol: 2 },
    );
    expect(await fay.client.devices()).toEqual([expect.objectContaining({ device: 1, lastSeenAt: 42, current: true })]);
  });
});
