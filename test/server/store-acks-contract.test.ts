/**
 * Acks that settle many copies at once, and a send's context read in one call, against every store
 * (memory, SQLite, PostgreSQL): what each ack settles and the receipts it owes, whatever else it names
 * (repeated ids, another device's copies, group references, ids already settled), and acks that arrive
 * together each keeping their own answer (PostgreSQL writes those in one transaction).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { groupRefClientId, groupRefEnvelope } from '../../src/server/store/group-deliveries.js';
import type { DeviceListInput, ServerStore, UserRecord } from '../../src/server/store/server-store.js';
import { backends, cleanupStores, input, key, quota, sig, stored } from './store-fixtures.js';

afterEach(cleanupStores);

const owedTo = async (store: ServerStore, sender: string, device = 1) =>
  (await store.pendingReceipts(sender, device, 0, 100)).map(({ id, status, reason, recipientDevice }) => ({ id, status, reason, recipientDevice }));

describe.each(backends)('%s server store: acks of many copies', (_name, make) => {
  it('settles every copy an ack names once, in the order named, skipping repeats, other devices’ copies and unknown ids', async () => {
    const store = await make();
    const [a, b, c] = [0, 1, 2].map(() => input());
    const m = await Promise.all([a, b, c].map(async (i) => stored(await store.enqueue(i!, quota))));
    const other = stored(await store.enqueue(input({ recipientDevice: 2 }), quota));
    const receipts = await store.acknowledge(
      'bob',
      1,
      [m[2]!.id, m[0]!.id, { id: m[2]!.id, reason: 'peer_key_changed' }, other.id, 'no-such-id', { id: m[1]!.id, reason: 'unsupported' }, m[0]!.id],
      77,
      10_000_000,
    );
    // Each copy as the first settlement naming it says (c delivered, not unreadable), in that order.
    expect(receipts.map(({ id, status, reason, deliveredAt }) => ({ id, status, reason, deliveredAt }))).toEqual([
      { id: m[2]!.id, status: 'delivered', reason: undefined, deliveredAt: 77 },
      { id: m[0]!.id, status: 'delivered', reason: undefined, deliveredAt: 77 },
      { id: m[1]!.id, status: 'unreadable', reason: 'unsupported', deliveredAt: 77 },
    ]);
    expect(receipts.map((r) => r.seq)).toEqual([...receipts.map((r) => r.seq)].sort((x, y) => x - y));
    expect(await owedTo(store, 'alice')).toEqual([
      { id: m[2]!.id, status: 'delivered', reason: undefined, recipientDevice: 1 },
      { id: m[0]!.id, status: 'delivered', reason: undefined, recipientDevice: 1 },
      { id: m[1]!.id, status: 'unreadable', reason: 'unsupported', recipientDevice: 1 },
    ]);
    // bob/2's copy is untouched by bob/1's ack, and so is its usage.
    expect(await store.pending('bob', 1, 0, 100, 0)).toEqual([]);
    expect((await store.pending('bob', 2, 0, 100, 0)).map((x) => x.id)).toEqual([other.id]);
    expect(await store.deviceQueueUsage('bob', 1)).toEqual({ count: 0, bytes: 0 });
    expect(await store.deviceQueueUsage('bob', 2)).toEqual({ count: 1, bytes: other.envelope.length });
    expect(await store.senderQueueUsage('alice', 'bob', 1)).toEqual({ count: 0, bytes: 0 });
    // Settled already: a repeated ack owes nothing more.
    expect(await store.acknowledge('bob', 1, [m[0]!.id, m[1]!.id], 78, 10_000_000)).toEqual([]);
    expect(await owedTo(store, 'alice')).toHaveLength(3);
    await store.close();
  });

  it('deletes group references an ack settles with the copies beside them, owing a receipt for the copies only', async () => {
    const store = await make();
    const ref = { groupId: 'g1', seq: 4, kind: 'message' as const };
    const before = stored(await store.enqueue(input(), quota));
    const groupRow = stored(await store.enqueue(input({ sender: 'carol', clientId: groupRefClientId(ref), envelope: groupRefEnvelope(ref) }), quota));
    const after = stored(await store.enqueue(input(), quota));
    const receipts = await store.acknowledge('bob', 1, [before.id, groupRow.id, { id: after.id, reason: 'decryption_failed' }], 90, 10_000_000);
    expect(receipts.map(({ id, status }) => ({ id, status }))).toEqual([
      { id: before.id, status: 'delivered' },
      { id: after.id, status: 'unreadable' },
    ]);
    expect(await owedTo(store, 'carol')).toEqual([]);
    expect(await store.pending('bob', 1, 0, 100, 0)).toEqual([]);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    expect(await store.senderQueueUsage('carol', 'bob', 1)).toEqual({ count: 0, bytes: 0 });
    await store.close();
  });

  it('answers acks that arrive together each with its own receipts, a copy two of them name going to the first', async () => {
    const store = await make();
    const toBob = await Promise.all([0, 1, 2, 3].map(async () => stored(await store.enqueue(input(), quota))));
    const toCarol = await Promise.all([0, 1].map(async () => stored(await store.enqueue(input({ recipient: 'carol', sender: 'dave' }), quota))));
    // Issued in one tick: on PostgreSQL the first goes alone and the others share one transaction.
    const [first, second, third, fourth] = await Promise.all([
      store.acknowledge('bob', 1, [toBob[0]!.id], 10, 10_000_000),
      store.acknowledge('bob', 1, [toBob[2]!.id, toBob[1]!.id], 11, 10_000_000),
      store.acknowledge('carol', 1, [toCarol[1]!.id, toBob[3]!.id, toCarol[0]!.id], 12, 10_000_000),
      store.acknowledge('bob', 1, [toBob[1]!.id, { id: toBob[3]!.id, reason: 'unsupported' }], 13, 10_000_000),
    ]);
    expect(first!.map((r) => [r.id, r.deliveredAt])).toEqual([[toBob[0]!.id, 10]]);
    expect(second!.map((r) => [r.id, r.deliveredAt])).toEqual([
      [toBob[2]!.id, 11],
      [toBob[1]!.id, 11],
    ]);
    // carol's ack names bob's copy: not hers, so it stays for bob's next ack.
    expect(third!.map((r) => [r.id, r.recipient])).toEqual([
      [toCarol[1]!.id, 'carol'],
      [toCarol[0]!.id, 'carol'],
    ]);
    expect(fourth!.map(({ id, status, reason }) => ({ id, status, reason }))).toEqual([{ id: toBob[3]!.id, status: 'unreadable', reason: 'unsupported' }]);
    // Every receipt once, owed to its sender in the order the acks arrived.
    expect((await owedTo(store, 'alice')).map((r) => r.id)).toEqual([toBob[0]!.id, toBob[2]!.id, toBob[1]!.id, toBob[3]!.id]);
    expect((await owedTo(store, 'dave')).map((r) => r.id)).toEqual([toCarol[1]!.id, toCarol[0]!.id]);
    expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
    expect(await store.queueUsage('carol')).toEqual({ count: 0, bytes: 0 });
    await store.close();
  });
});

describe.each(backends)('%s server store: receipts seen by many acks', (_name, make) => {
  it('forgets the receipts acks arriving together saw, each once, and only their own address’s', async () => {
    const store = await make();
    const copies = await Promise.all([0, 1, 2, 3].map(async () => stored(await store.enqueue(input(), quota))));
    const fromAlice2 = stored(await store.enqueue(input({ senderDevice: 2 }), quota));
    await store.acknowledge('bob', 1, [...copies.map((c) => c.id), fromAlice2.id], 5, 10_000_000);
    const ids = copies.map((c) => c.id);
    await Promise.all([
      store.acknowledgeReceipts('alice', 1, [ids[0]!, ids[1]!, ids[0]!]),
      store.acknowledgeReceipts('alice', 1, [ids[1]!, fromAlice2.id, 'no-such-id']),
      store.acknowledgeReceipts('alice', 1, []),
    ]);
    expect((await owedTo(store, 'alice')).map((r) => r.id)).toEqual([ids[2], ids[3]]);
    // alice/2's receipt is not alice/1's to forget.
    expect((await owedTo(store, 'alice', 2)).map((r) => r.id)).toEqual([fromAlice2.id]);
    await store.close();
  });
});

const user = (username: string): UserRecord => ({
  username,
  signingKey: { kty: 'OKP', crv: 'Ed25519', x: key(`x-${username}`) },
  encryptionKey: { kty: 'RSA', n: key('n', 342), e: 'AQAB' },
  signingKeyThumbprint: `t-${username}`,
  encryptionKeyThumbprint: 't-n',
  registeredAt: 1_000,
});

const listOf = (username: string, version: number, ids: number[]): DeviceListInput => ({
  username,
  version,
  maxDeviceId: Math.max(...ids),
  list: `payload-${username}-v${version}`.padEnd(120, 'p'),
  signature: sig(`sig-${username}-v${version}`),
  devices: ids.map((id) => ({ device: id, signingKey: key(`dsk${id}`), dhKey: key(`ik${id}`), encryptionKeyN: key(`n${id}`, 342), name: `device ${id}`, addedAt: 1_000 + id })),
});

describe.each(backends)('%s server store: a send’s context', (_name, make) => {
  it('tells whether the recipient exists, with both device lists exactly as getDeviceList reads them', async () => {
    const store = await make();
    expect(await store.sendContext('alice', 'nobody')).toEqual({ recipientExists: false, recipientList: undefined, senderList: undefined });
    await store.createUser(user('alice'), listOf('alice', 1, [1]));
    await store.createUser(user('bob'));
    // bob has no list (served as {1}); alice has hers.
    const plain = await store.sendContext('alice', 'bob');
    expect(plain).toEqual({ recipientExists: true, recipientList: undefined, senderList: await store.getDeviceList('alice') });
    expect(plain.senderList).toMatchObject({ version: 1, devices: [{ device: 1 }] });
    const upload = { identity: { dhKey: key('ik2'), binding: sig('b2') }, signedPreKey: { id: 7, publicKey: key('spk7'), signature: sig('s7') }, lastResortKemPreKey: { id: 1000, publicKey: key('lr', 2091), signature: sig('lr') }, oneTimePreKeys: [], kemPreKeys: [] };
    await store.publishDeviceList(listOf('bob', 1, [1, 2]), { device: 2, preKeys: upload }, [], { replaces: null, now: 2_000, receiptExpiresAt: 10_000_000 });
    await store.touchDevice('bob', 2, 3_000);
    const both = await store.sendContext('alice', 'bob');
    expect(both).toEqual({ recipientExists: true, recipientList: await store.getDeviceList('bob'), senderList: await store.getDeviceList('alice') });
    expect(both.recipientList!.devices.map((d) => [d.device, d.lastSeenAt])).toEqual([
      [1, null],
      [2, 3_000],
    ]);
    // A note to self: the sender is the recipient.
    expect(await store.sendContext('alice', 'alice')).toEqual({ recipientExists: true, recipientList: both.senderList, senderList: both.senderList });
    // A list without a user (never written by the server, but the two reads are independent).
    expect(await store.sendContext('bob', 'nobody')).toEqual({ recipientExists: false, recipientList: undefined, senderList: both.recipientList });
    await store.close();
  });
});
