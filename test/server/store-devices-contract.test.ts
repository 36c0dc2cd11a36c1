/**
 * The ServerStore contract for devices (docs/design/devices-v2.md §5.7, §5.10, §9.2, §9.3), against every
 * stores: prekeys per device, bundles for several devices at once, device lists published with a
 * compare-and-swap on their version, and everything a removed device had leaving in the same publish.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_STORED_ONE_TIME_PREKEYS } from '../../src/protocol/limits.js';
import type { ListedDevice, DeviceListInput, ServerStore } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, input, key, quota, sig, stored, durableBackends, upload } from './store-fixtures.js';

afterEach(cleanupStores);

const device = (id: number): ListedDevice => ({
  device: id,
  signingKey: key(`dsk${id}`),
  dhKey: key(`ik${id}`),
  encryptionKeyN: key(`n${id}`, 342),
  name: `device ${id}`,
  addedAt: 1_000 + id,
});

/** A list as the caller passes it: opaque payload and signature (tagged by version here), and the parsed fields. */
const list = (version: number, ids: number[], maxDeviceId = Math.max(...ids)): DeviceListInput => ({
  username: 'bob',
  version,
  maxDeviceId,
  list: `payload-v${version}`.padEnd(120, 'p'),
  signature: sig(`sig-v${version}`),
  devices: ids.map(device),
});

const at = (replaces: number | null, now = 5_000) => ({ replaces, now, receiptExpiresAt: 10_000_000 });
const preKeysOf = (id: number) => ({ device: id, preKeys: upload({ identity: { dhKey: key(`ik${id}`), binding: sig(`b${id}`) }, oneTimePreKeys: [], kemPreKeys: [] }, `d${id}`) });

/** bob publishes version 1 (device 1) and version 2 (adding device 2 with its first prekeys). */
async function twoDevices(store: ServerStore): Promise<void> {
  expect(await store.publishDeviceList(list(1, [1]), undefined, [], at(null))).toMatchObject({ status: 'published', version: 1 });
  expect(await store.publishDeviceList(list(2, [1, 2]), preKeysOf(2), [], at(1))).toMatchObject({ status: 'published', version: 2 });
}

describe.each(backends)('%s server store: prekeys per device', (_name, make) => {
  it("keeps each device's prekeys apart: a new identity on one device leaves the other's, and the cap counts per device", async () => {
    const store = await make();
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, publicKey: key(`o${i}`) }));
    await store.putPreKeys('bob', 1, upload({ oneTimePreKeys: many(MAX_STORED_ONE_TIME_PREKEYS) }), 1);
    expect(await store.putPreKeys('bob', 2, upload({ identity: { dhKey: key('ik2'), binding: sig('b2') }, oneTimePreKeys: many(MAX_STORED_ONE_TIME_PREKEYS) }), 2)).toMatchObject({
      identityKey: key('ik2'),
      oneTime: MAX_STORED_ONE_TIME_PREKEYS,
    });
    expect(await store.preKeyCounts('bob', 1)).toMatchObject({ identityKey: key('ik1'), oneTime: MAX_STORED_ONE_TIME_PREKEYS });
    await expect(store.putPreKeys('bob', 2, upload({ identity: { dhKey: key('ik2'), binding: sig('b2') }, oneTimePreKeys: [{ id: 999, publicKey: key('o999') }] }), 3)).rejects.toMatchObject({ code: 'prekey_limit' });
    expect(await store.preKeyCounts('bob', 3)).toMatchObject({ identityKey: null, oneTime: 0 });
    await store.close();
  });

  it('takes one bundle per device in the order asked, each from that device', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload({}, 'one'), 1);
    await store.putPreKeys('bob', 2, upload({ identity: { dhKey: key('ik2'), binding: sig('b2') } }, 'two'), 1);
    const answer = await store.takePreKeyBundles('bob', [2, 1]);
    expect(answer).toMatchObject({
      status: 'taken',
      bundles: [
        { device: 2, identity: { dhKey: key('ik2') }, oneTimePreKey: { id: 1, publicKey: key('opk1two') }, remaining: { oneTime: 2, kemOneTime: 1 } },
        { device: 1, identity: { dhKey: key('ik1one') }, oneTimePreKey: { id: 1, publicKey: key('opk1one') }, remaining: { oneTime: 2, kemOneTime: 1 } },
      ],
    });
    await store.close();
  });

  it('takes nothing when one device asked has no bundle, and names it', async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    const { signedPreKey: _s, ...noSigned } = upload();
    await store.putPreKeys('bob', 2, noSigned, 1);
    expect(await store.takePreKeyBundles('bob', [1, 2, 3])).toEqual({ status: 'missing', devices: [2, 3] });
    expect(await store.preKeyCounts('bob', 1)).toMatchObject({ oneTime: 3, kemOneTime: 2 });
    await store.close();
  });
});

describe.each(backends)('%s server store: device lists', (_name, make) => {
  it('has no list for a user who never published one; a published list comes back as given, with its devices', async () => {
    const store = await make();
    expect(await store.getDeviceList('bob')).toBeUndefined();
    await twoDevices(store);
    const got = await store.getDeviceList('bob');
    const expected = list(2, [1, 2]);
    expect(got).toEqual({ ...expected, updatedAt: 5_000, devices: expected.devices.map((d) => ({ ...d, lastSeenAt: null })) });
    expect(await store.getDeviceList('alice')).toBeUndefined();
    await store.close();
  });

  it('publishes only over the version the caller checked: a list that landed since makes it outdated, changing nothing', async () => {
    const store = await make();
    await twoDevices(store);
    expect(await store.publishDeviceList(list(3, [1, 2, 3]), preKeysOf(3), [], at(1))).toEqual({ status: 'outdated', current: 2 });
    expect(await store.publishDeviceList(list(1, [1]), undefined, [], at(null))).toEqual({ status: 'outdated', current: 2 });
    expect((await store.getDeviceList('bob'))?.version).toBe(2);
    expect(await store.preKeyCounts('bob', 3)).toMatchObject({ identityKey: null });
    await store.close();
  });

  it("stores the added device's first prekeys with the list, so a bundle exists from the moment it is listed", async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload(), 1);
    await twoDevices(store);
    expect(await store.takePreKeyBundles('bob', [1, 2])).toMatchObject({ status: 'taken', bundles: [{ device: 1 }, { device: 2, identity: { dhKey: key('ik2') }, signedPreKey: { id: 7 }, kemPreKey: { id: 1000 } }] });
    await store.close();
  });

  it('refuses arguments that contradict the list, changing nothing', async () => {
    const store = await make();
    await twoDevices(store);
    // Device 2 is dropped but not named as removed; named as removed but still listed; device 1 dropped.
    await expect(store.publishDeviceList(list(3, [1]), undefined, [], at(2))).rejects.toThrow(/removes devices \[2\]/);
    await expect(store.publishDeviceList(list(3, [1, 2]), undefined, [2], at(2))).rejects.toThrow();
    await expect(store.publishDeviceList(list(3, [2]), undefined, [1], at(2))).rejects.toThrow(/device 1/);
    // An added device the list does not add, and a version that does not go forward.
    await expect(store.publishDeviceList(list(3, [1, 2]), preKeysOf(2), [], at(2))).rejects.toThrow(/device 2/);
    await expect(store.publishDeviceList(list(2, [1, 2]), undefined, [], at(2))).rejects.toThrow(/version/);
    expect((await store.getDeviceList('bob'))?.version).toBe(2);
    await store.close();
  });

  it('records when a listed device was last seen, never backwards, kept across lists; unlisted devices are left alone', async () => {
    const store = await make();
    await store.touchDevice('bob', 1, 100); // no list yet: nothing to record it on
    await twoDevices(store);
    await store.touchDevice('bob', 2, 7_000);
    await store.touchDevice('bob', 2, 6_000);
    await store.touchDevice('bob', 9, 7_000);
    const seen = async () => (await store.getDeviceList('bob'))?.devices.map((d) => [d.device, d.lastSeenAt]);
    expect(await seen()).toEqual([[1, null], [2, 7_000]]);
    expect(await store.publishDeviceList({ ...list(3, [1, 2, 3]), devices: [device(1), { ...device(2), name: 'renamed' }, device(3)] }, preKeysOf(3), [], at(2))).toMatchObject({ status: 'published' });
    expect(await seen()).toEqual([[1, null], [2, 7_000], [3, null]]);
    await store.close();
  });
});

describe.each(backends)('%s server store: a new identity key for device 1', (_name, make) => {
  it("drops device 1's prekeys when a list gives it a new identity key, and keeps them when it does not", async () => {
    const store = await make();
    await store.putPreKeys('bob', 1, upload({ identity: { dhKey: key('ik1'), binding: sig('b1') } }), 1);
    expect(await store.publishDeviceList(list(1, [1]), undefined, [], at(null))).toMatchObject({ status: 'published' });
    expect(await store.preKeyCounts('bob', 1)).toMatchObject({ identityKey: key('ik1') });
    const renewed = list(2, [1]);
    renewed.devices = [{ ...device(1), dhKey: key('ik1-new') }];
    expect(await store.publishDeviceList(renewed, undefined, [], at(1))).toMatchObject({ status: 'published', version: 2 });
    // Bound to the old key, the bundle would be refused by every client: the honest answer is none.
    expect(await store.preKeyCounts('bob', 1)).toMatchObject({ identityKey: null, oneTime: 0 });
    expect(await store.takePreKeyBundles('bob', [1])).toEqual({ status: 'missing', devices: [1] });
    await store.close();
  });
});

describe.each(backends)('%s server store: a send checked against lists a publish then replaced', (_name, make) => {
  it('stores nothing and says lists_changed when a checked version moved; stores when none did', async () => {
    const store = await make();
    await twoDevices(store); // bob: version 2, devices 1 and 2
    const toBoth = [input({ recipientDevice: 1, clientId: 'race-client-id-01' }), input({ recipientDevice: 2, clientId: 'race-client-id-01' })];
    // Checked while bob's list was version 2, then bob removes device 2 before the send's transaction.
    expect(await store.publishDeviceList(list(3, [1], 2), undefined, [2], at(2))).toMatchObject({ status: 'published', version: 3 });
    expect(await store.enqueueMany(toBoth, quota, undefined, [{ username: 'bob', version: 2 }, { username: 'alice', version: null }])).toEqual({ status: 'lists_changed' });
    expect(await store.pending('bob', 1, 0, 10, 0)).toEqual([]);
    expect(await store.deviceQueueUsage('bob', 2)).toMatchObject({ count: 0 });
    // Checked against what is stored now, the send to device 1 alone goes in.
    const now = await store.enqueueMany([input({ recipientDevice: 1 })], quota, undefined, [{ username: 'bob', version: 3 }, { username: 'alice', version: null }]);
    expect(now.status).toBe('accepted');
    expect(await store.pending('bob', 1, 0, 10, 0)).toHaveLength(1);
    await store.close();
  });
});

describe.each(backends)('%s server store: removing a device', (_name, make) => {
  it('deletes its queue with a removed receipt to each sending address, the envelopes it sent, its prekeys and the receipts owed to it', async () => {
    const store = await make();
    await twoDevices(store);
    await store.putPreKeys('bob', 2, upload({ identity: { dhKey: key('ik2'), binding: sig('b2') } }), 1);
    // Waiting for bob/2: two copies from alice/1, one from carol/3.
    const fromAlice = [stored(await store.enqueue(input(), quota)), stored(await store.enqueue(input({ clientId: 'copy-for-bob-two', recipientDevice: 2 }), quota))];
    const forTwo = [fromAlice[1]!, stored(await store.enqueue(input({ recipientDevice: 2 }), quota)), stored(await store.enqueue(input({ sender: 'carol', senderDevice: 3, recipientDevice: 2 }), quota))];
    // Sent by bob/2 and not yet delivered: to alice/1 and a copy to bob/1.
    stored(await store.enqueue(input({ sender: 'bob', senderDevice: 2, recipient: 'alice' }), quota));
    stored(await store.enqueue(input({ sender: 'bob', senderDevice: 2, recipient: 'bob' }), quota));
    // Owed to bob/2: alice/1 took one of its envelopes.
    const delivered = stored(await store.enqueue(input({ sender: 'bob', senderDevice: 2, recipient: 'alice' }), quota));
    await store.acknowledge('alice', 1, [delivered.id], 50, 10_000_000);
    expect(await store.pendingReceipts('bob', 2, 0, 10)).toHaveLength(1);

    let pushed: unknown;
    const result = await store.publishDeviceList(list(3, [1], 2), undefined, [2], at(2, 9_000), (r) => (pushed = r));
    expect(result).toMatchObject({ status: 'published', version: 3 });
    expect(pushed).toEqual(result);
    if (result.status !== 'published') throw new Error('not published');
    expect(result.receipts.map((r) => [r.id, r.sender, r.senderDevice, r.recipient, r.recipientDevice, r.status, r.deliveredAt])).toEqual(
      forTwo.map((m) => [m.id, m.sender, m.senderDevice, 'bob', 2, 'removed', 9_000]),
    );
    expect((await store.pendingReceipts('alice', 1, 0, 10)).map((r) => [r.id, r.status])).toEqual([[forTwo[0]!.id, 'removed'], [forTwo[1]!.id, 'removed']]);
    expect(await store.pendingReceipts('carol', 3, 0, 10)).toMatchObject([{ id: forTwo[2]!.id, status: 'removed' }]);
    expect(await store.pending('bob', 2, 0, 10, 0)).toEqual([]);
    expect((await store.pending('bob', 1, 0, 10, 0)).map((m) => m.id)).toEqual([fromAlice[0]!.id]);
    expect(await store.pending('alice', 1, 0, 10, 0)).toEqual([]);
    expect(await store.pendingReceipts('bob', 2, 0, 10)).toEqual([]);
    expect(await store.preKeyCounts('bob', 2)).toMatchObject({ identityKey: null, oneTime: 0, kemOneTime: 0 });
    expect(await store.takePreKeyBundles('bob', [2])).toEqual({ status: 'missing', devices: [2] });
    expect((await store.getDeviceList('bob'))?.devices.map((d) => d.device)).toEqual([1]);
    // Usage follows: only bob/1's copy is left on the whole server.
    const left = fromAlice[0]!.envelope.length;
    expect(await store.deviceQueueUsage('bob', 2)).toEqual({ count: 0, bytes: 0 });
    expect(await store.queueUsage('bob')).toEqual({ count: 1, bytes: left });
    expect(await store.queueUsage('alice')).toEqual({ count: 0, bytes: 0 });
    expect(await store.senderQueueUsage('bob', 'alice', 1)).toEqual({ count: 0, bytes: 0 });
    expect(await store.serverQueueBytes()).toBe(left);
    // Idempotency records stay until they expire: a resend of a removed copy stores nothing.
    expect((await store.enqueue(input({ clientId: 'copy-for-bob-two', recipientDevice: 2 }), quota)).status).toBe('duplicate');
    await store.close();
  });

  it('leaves no receipt behind for copies between two devices removed together', async () => {
    const store = await make();
    await twoDevices(store);
    await store.publishDeviceList(list(3, [1, 2, 3]), preKeysOf(3), [], at(2));
    stored(await store.enqueue(input({ sender: 'bob', senderDevice: 2, recipient: 'bob', recipientDevice: 3 }), quota));
    stored(await store.enqueue(input({ sender: 'bob', senderDevice: 3, recipient: 'bob', recipientDevice: 2 }), quota));
    const fromOne = stored(await store.enqueue(input({ sender: 'bob', senderDevice: 1, recipient: 'bob', recipientDevice: 3 }), quota));
    const result = await store.publishDeviceList(list(4, [1], 3), undefined, [3, 2], at(3));
    expect(result.status === 'published' && result.receipts.map((r) => [r.id, r.senderDevice])).toEqual([[fromOne.id, 1]]);
    expect(await store.pendingReceipts('bob', 2, 0, 10)).toEqual([]);
    expect(await store.pendingReceipts('bob', 3, 0, 10)).toEqual([]);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    await store.close();
  });
});

describe.each(durableBackends)('%s server store: device lists survive a reopen', (_name, place) => {
  it('keeps the list, its devices and when they were seen', async () => {
    const open = place();
    const first = await open();
    await twoDevices(first);
    await first.touchDevice('bob', 2, 8_000);
    const before = await first.getDeviceList('bob');
    await first.close();
    const second = await open();
    expect(await second.getDeviceList('bob')).toEqual(before);
    expect(await second.publishDeviceList(list(2, [1]), undefined, [2], at(1))).toEqual({ status: 'outdated', current: 2 });
    await second.close();
  });
});
