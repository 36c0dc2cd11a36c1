/**
 * Protocol 2's `send` over raw sockets (docs/design/devices-v2.md §5.5, §5.6, §8.1, §9.4; PROTOCOL.md
 * §19.7, §19.8): the check order, the device-set rule and its `devices_changed` details, idempotency per
 * copy, fan-out to each address and only there, acks and receipts per address, and quotas per device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/server/config.js';
import { DeviceSockets, type RecordingSocket } from '../helpers/devices.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

/** A test server for one describe block, and its sockets. */
function serverWith(overrides: Partial<ServerConfig> = {}) {
  const ctx = { srv: undefined as unknown as TestServer };
  const net = new DeviceSockets(() => ctx.srv.url);
  beforeAll(async () => {
    ctx.srv = await startTestServer(overrides);
  });
  afterAll(async () => {
    net.closeAll();
    await ctx.srv.stop();
    removeDir(ctx.srv.dataDir);
  });
  return { ctx, net };
}

type Copy = { to: string; device: number };
let counter = 0;
/** A fresh client message id (the idempotency key of every copy of one send). */
const newId = () => `send-v2-test-${String(++counter).padStart(6, '0')}`;
const messages = (copies: readonly Copy[], label = '') => copies.map((c) => ({ ...c, envelope: hybridEnvelope({ label }) }));
const send = (from: RecordingSocket, copies: readonly Copy[], id = newId()) => call(from.socket, 'send', { id, messages: messages(copies) });
const codeOf = (ack: { ok: boolean; error?: { code: string } }) => (ack.ok ? 'ok' : ack.error!.code);

describe('protocol-2 send', () => {
  const { ctx, net } = serverWith();

  it('checks sizes, shape, the recipient, earlier acceptance, the device set, then stores; a refusal stores nothing', async () => {
    const { account: alice, primary: a1 } = await net.registered('order-alice');
    const { account: bob, primary: b1 } = await net.registered('order-bob');
    await net.link(alice, a1);
    await net.link(bob, b1);
    const whole: Copy[] = [
      { to: 'order-bob', device: 1 },
      { to: 'order-bob', device: 2 },
      { to: 'order-alice', device: 2 },
    ];
    const huge = { ...whole[1]!, envelope: hybridEnvelope({ blocks: 5000 }) };

    // 1. size first, naming the envelope, even in a payload that is wrong in other ways.
    const tooLarge = await call(a1.socket, 'send', { id: newId(), messages: [{ ...whole[0]!, envelope: hybridEnvelope(), extra: 1 }, huge] });
    expect(tooLarge).toMatchObject({ ok: false, error: { code: 'envelope_too_large', message: expect.stringMatching(/^messages\.1\.envelope: /) } });
    // 2. shape: the sending device itself, or a second recipient, before the recipient is looked up.
    const own = await send(a1, [{ to: 'order-nobody', device: 1 }, { to: 'order-alice', device: 1 }]);
    expect(own).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^messages\.1\.device: /) } });
    const twoRecipients = await send(a1, [{ to: 'order-nobody', device: 1 }, { to: 'order-bob', device: 1 }]);
    expect(twoRecipients).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^messages\.1\.to: /) } });
    expect(codeOf(await call(a1.socket, 'send', { messages: messages(whole) }))).toBe('bad_request'); // id is required
    // 3. the recipient, before the device set.
    expect(codeOf(await send(a1, [{ to: 'order-nobody', device: 9 }]))).toBe('unknown_user');
    // 5. the device set.
    expect(codeOf(await send(a1, whole.slice(0, 2)))).toBe('devices_changed');

    // 4. a send whose every copy was accepted before is answered from the records, whatever the set is now.
    const id = newId();
    const first = await send(a1, whole, id);
    expect(first.ok, JSON.stringify(first.error)).toBe(true);
    await net.link(bob, b1);
    const resent = await send(a1, whole, id);
    expect(resent).toMatchObject({ ok: true, deliveries: whole.map((c, k) => ({ ...c, id: (first.deliveries as Array<{ id: string }>)[k]!.id, duplicate: true })) });
    // Not so once a copy is new: the set is checked, and bob's device 3 is missing.
    expect(codeOf(await send(a1, whole))).toBe('devices_changed');
    // Nothing of the refused sends was stored: bob's device 1 holds the one accepted copy.
    expect(await ctx.srv.store.pending('order-bob', 1, 0, 10, Date.now())).toHaveLength(1);
  });

  it('refuses a send to a stale or incomplete device set with devices_changed, naming every user with its current list', async () => {
    const { account: alice, primary: a1 } = await net.registered('set-alice');
    const { account: bob, primary: b1 } = await net.registered('set-bob');
    await net.link(alice, a1);
    await net.link(bob, b1);
    const aliceList = (await call(a1.socket, 'devices.list', { username: 'set-alice' })).deviceList;
    const bobList = (await call(a1.socket, 'devices.list', { username: 'set-bob' })).deviceList;
    const refused = await send(a1, [
      { to: 'set-bob', device: 1 },
      { to: 'set-bob', device: 3 },
    ]);
    expect(refused).toStrictEqual({
      ok: false,
      error: {
        code: 'devices_changed',
        message: 'set-bob has devices you did not write to (2); you wrote to devices set-bob does not have (3); set-alice has devices you did not write to (2)',
        details: {
          users: [
            { username: 'set-bob', missing: [2], stale: [3], deviceList: bobList },
            { username: 'set-alice', missing: [2], stale: [], deviceList: aliceList },
          ],
        },
      },
    });
    // A user without a list is served as device 1 alone, and its list is null.
    const carol = await net.raw();
    expect((await registerRaw(carol, 'set-carol', await keysFor())).ok).toBe(true);
    const toCarol = await send(a1, [
      { to: 'set-carol', device: 1 },
      { to: 'set-carol', device: 2 },
      { to: 'set-alice', device: 2 },
    ]);
    expect(toCarol).toMatchObject({ ok: false, error: { code: 'devices_changed', details: { users: [{ username: 'set-carol', missing: [], stale: [2], deviceList: null }, { username: 'set-alice', missing: [], stale: [] }] } } });
    // Notes to self: any non-empty subset of one's other devices; a device one does not have is stale.
    expect(codeOf(await send(a1, [{ to: 'set-alice', device: 2 }]))).toBe('ok');
    expect(await send(a1, [{ to: 'set-alice', device: 4 }])).toMatchObject({ ok: false, error: { code: 'devices_changed', details: { users: [{ username: 'set-alice', missing: [], stale: [4] }] } } });
  });

  it('stores each copy once across resends: after devices_changed only the new device gets a new copy', async () => {
    const { primary: a1 } = await net.registered('idem-alice');
    const { account: bob, primary: b1 } = await net.registered('idem-bob');
    const id = newId();
    const first = await send(a1, [{ to: 'idem-bob', device: 1 }], id);
    expect(first).toMatchObject({ ok: true, deliveries: [{ to: 'idem-bob', device: 1 }] });
    await net.link(bob, b1);
    // The outbox entry resent as it was: every copy accepted before, so answered as a duplicate.
    expect(await send(a1, [{ to: 'idem-bob', device: 1 }], id)).toMatchObject({ ok: true, deliveries: [{ duplicate: true }] });
    const completed = await send(a1, [{ to: 'idem-bob', device: 1 }, { to: 'idem-bob', device: 2 }], id);
    const [old, added] = completed.deliveries as Array<{ id: string; sentAt: number; duplicate?: true; status: string }>;
    expect(old).toMatchObject({ id: (first.deliveries as Array<{ id: string }>)[0]!.id, duplicate: true });
    expect(added).toMatchObject({ status: 'queued' });
    expect(added).not.toHaveProperty('duplicate');
    expect(await send(a1, [{ to: 'idem-bob', device: 1 }, { to: 'idem-bob', device: 2 }], id)).toMatchObject({
      ok: true,
      deliveries: [{ id: old!.id, duplicate: true }, { id: added!.id, duplicate: true }],
    });
    expect(await b1.waitFor('message')).toHaveLength(1);
    expect(await ctx.srv.store.pending('idem-bob', 2, 0, 10, Date.now())).toHaveLength(1);
  });

  it('pushes each copy to its address only, the sender\'s other devices included, and receipts to the sending address', async () => {
    const { account: alice, primary: a1 } = await net.registered('fan-alice');
    const { account: bob, primary: b1 } = await net.registered('fan-bob');
    await net.link(alice, a1);
    await net.link(bob, b1);
    const a2 = await net.device(alice, 2);
    const b2 = await net.device(bob, 2);
    const id = newId();
    const sent = await send(a1, [{ to: 'fan-bob', device: 2 }, { to: 'fan-bob', device: 1 }, { to: 'fan-alice', device: 2 }], id);
    expect(sent).toMatchObject({
      ok: true,
      deliveries: [
        { to: 'fan-bob', device: 2, status: 'delivered' },
        { to: 'fan-bob', device: 1, status: 'delivered' },
        { to: 'fan-alice', device: 2, status: 'delivered' },
      ],
    });
    const [c2, c1, own] = sent.deliveries as Array<{ id: string }>;
    for (const [s, copy, to, toDevice] of [
      [b1, c1, 'fan-bob', 1],
      [b2, c2, 'fan-bob', 2],
      [a2, own, 'fan-alice', 2],
    ] as const) {
      expect(await s.waitFor('message')).toEqual([{ id: copy!.id, from: 'fan-alice', fromDevice: 1, to, toDevice, sentAt: expect.any(Number), envelope: expect.any(Object) }]);
    }
    // Device 2's ack of device 1's copy is another device's: unknown, ignored; each settles its own.
    expect(await call(b2.socket, 'ack', { ids: [c1!.id] })).toMatchObject({ ok: true, acknowledged: 0 });
    expect(await ctx.srv.store.pending('fan-bob', 1, 0, 10, Date.now())).toHaveLength(1);
    expect(await call(b1.socket, 'ack', { ids: [c1!.id] })).toMatchObject({ ok: true, acknowledged: 1 });
    expect(await call(b2.socket, 'ack', { rejected: [{ id: c2!.id, reason: 'decryption_failed' }] })).toMatchObject({ ok: true, acknowledged: 1 });
    const receipts = await a1.waitFor('receipt', 2);
    expect(receipts).toEqual(
      expect.arrayContaining([
        { id: c1!.id, clientId: id, to: 'fan-bob', toDevice: 1, deliveredAt: expect.any(Number), status: 'delivered' },
        { id: c2!.id, clientId: id, to: 'fan-bob', toDevice: 2, deliveredAt: expect.any(Number), status: 'unreadable', reason: 'decryption_failed' },
      ]),
    );
    // Barrier: a note from device 2 to device 1 arrives after everything above was pushed.
    expect(codeOf(await send(a2, [{ to: 'fan-alice', device: 1 }]))).toBe('ok');
    expect(await a1.waitFor('message')).toEqual([expect.objectContaining({ from: 'fan-alice', fromDevice: 2, toDevice: 1 })]);
    expect(a2.of('receipt')).toEqual([]);
    expect(b1.of('message')).toHaveLength(1);
    expect(b2.of('message')).toHaveLength(1);
  });

  it("takes a send to one of the sender's own other devices alone (history for a linked device), and pushes it there only", async () => {
    const { account: alice, primary: a1 } = await net.registered('self-alice');
    await net.link(alice, a1);
    await net.link(alice, a1);
    const a2 = await net.device(alice, 2);
    const a3 = await net.device(alice, 3);
    const sent = await send(a1, [{ to: 'self-alice', device: 3 }]);
    expect(sent).toMatchObject({ ok: true, deliveries: [{ to: 'self-alice', device: 3, status: 'delivered' }] });
    expect(await a3.waitFor('message')).toEqual([
      { id: (sent.deliveries as Array<{ id: string }>)[0]!.id, from: 'self-alice', fromDevice: 1, to: 'self-alice', toDevice: 3, sentAt: expect.any(Number), envelope: expect.any(Object) },
    ]);
    // Barrier: a note to device 2 arrives after everything sent before it, and is device 2's first message.
    const barrier = await send(a1, [{ to: 'self-alice', device: 2 }]);
    expect(await a2.waitFor('message')).toEqual([expect.objectContaining({ id: (barrier.deliveries as Array<{ id: string }>)[0]!.id, toDevice: 2 })]);
    expect(await ctx.srv.store.pending('self-alice', 2, 0, 10, Date.now())).toHaveLength(1);
    expect(await ctx.srv.store.pending('self-alice', 3, 0, 10, Date.now())).toHaveLength(1);
  });
});

describe('protocol-2 quotas per device', () => {
  // Device queues of 3, of which one sender may fill 2: the order is sender, then device (§9.4).
  const { ctx, net } = serverWith({ queueMaxCount: 3, senderQueueMaxCount: 2 });

  it('refuses the whole send when one device queue is full, naming that device, after the device-set check', async () => {
    const { primary: a1 } = await net.registered('q-alice');
    const { primary: c1 } = await net.registered('q-carol');
    const { account: bob, primary: b1 } = await net.registered('q-bob');
    await net.link(bob, b1);
    b1.socket.close(); // bob's devices are offline from here on: their queues fill
    const both: Copy[] = [
      { to: 'q-bob', device: 1 },
      { to: 'q-bob', device: 2 },
    ];
    for (let i = 0; i < 2; i++) expect(codeOf(await send(a1, both))).toBe('ok');
    expect(await send(a1, both)).toMatchObject({ ok: false, error: { code: 'sender_quota_exceeded', details: { to: 'q-bob', device: 1 } } });
    expect(codeOf(await send(c1, both))).toBe('ok');
    expect(await send(c1, both)).toMatchObject({ ok: false, error: { code: 'quota_exceeded', details: { to: 'q-bob', device: 1 } } });
    // Device 1's queue emptied; device 2's is still full: the send is refused whole.
    const queued = await ctx.srv.store.pending('q-bob', 1, 0, 10, Date.now());
    expect(await ctx.srv.store.acknowledge('q-bob', 1, queued.map((q) => q.id), Date.now(), Date.now() + 60_000)).toHaveLength(3);
    expect(await send(c1, both)).toMatchObject({ ok: false, error: { code: 'quota_exceeded', details: { to: 'q-bob', device: 2 } } });
    expect(await ctx.srv.store.pending('q-bob', 1, 0, 10, Date.now())).toEqual([]);
    // The device set is checked before the quotas.
    expect(codeOf(await send(c1, [{ to: 'q-bob', device: 2 }]))).toBe('devices_changed');
  });
});

describe('protocol-2 quota per user', () => {
  const envelopeBytes = JSON.stringify(hybridEnvelope()).length;
  // Room for three copies across all of bob's devices, each device's own queue being larger.
  const { net } = serverWith({ userQueueMaxBytes: 3 * envelopeBytes });

  it("counts a send's copies together against the user's total", async () => {
    const { primary: a1 } = await net.registered('u-alice');
    const { account: bob, primary: b1 } = await net.registered('u-bob');
    await net.link(bob, b1);
    b1.socket.close();
    const both: Copy[] = [
      { to: 'u-bob', device: 1 },
      { to: 'u-bob', device: 2 },
    ];
    expect(codeOf(await send(a1, both))).toBe('ok');
    const refused = await send(a1, both);
    expect(refused).toMatchObject({ ok: false, error: { code: 'quota_exceeded', details: { to: 'u-bob', device: 2 } } });
    expect(refused.error!.message).toMatch(/together/);
  });
});
