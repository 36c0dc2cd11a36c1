/**
 * Devices on a protocol-2 server over raw sockets (docs/design/devices-v2.md §4.4, §5.2–§5.4, §5.7, §9.3;
 * PROTOCOL.md §19.3–§19.6): registration with a first signed list, logins per device, the publish checks
 * in their order with nothing changed on a refusal, linking a device with its first prekeys, and removing
 * one with everything it had.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { base64urlDecode, base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_ENVELOPE_BYTES } from '../../src/protocol/limits.js';
import { rawPayload, signedWire, TEST_RSA_MODULI } from '../protocol/device-list-fixtures.js';
import { addedOf, DeviceSockets, entryOf, loginV2, newDevice, preKeysOf, registerV2, TestAccount } from '../helpers/devices.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

let srv: TestServer;
const net = new DeviceSockets(() => srv.url);
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  net.closeAll();
  await srv.stop();
  removeDir(srv.dataDir);
});

const open = () => net.open();
const device = (account: TestAccount, id: number) => net.device(account, id);
const registered = (username: string) => net.registered(username);
const v1Socket = () => net.raw();
const codeOf = (ack: { ok: boolean; error?: { code: string } }) => (ack.ok ? 'ok' : ack.error!.code);
const listOf = async (socket: Socket, username: string) => call(socket, 'devices.list', { username });

describe('protocol-2 register and login', () => {
  it('registers a user with its first device list, as device 1 speaking protocol 2, and serves that list', async () => {
    const account = await TestAccount.create('reg-alice');
    const s = await open();
    const list = account.list();
    expect(await registerV2(s.socket, account, list)).toStrictEqual({
      ok: true,
      username: 'reg-alice',
      device: 1,
      protocol: 2,
      registered: true,
      limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES, maxDevicesPerUser: 6, maxEnvelopesPerSend: 11 },
    });
    const answer = await listOf(s.socket, 'reg-alice');
    expect(answer).toMatchObject({ ok: true, username: 'reg-alice', deviceList: list, lastSeen: [{ device: 1, at: expect.any(Number) }] });
  });

  it("refuses a first list that is not the account's, and the name stays free", async () => {
    const account = await TestAccount.create('reg-bob');
    const other = await keysFor(true);
    const d2 = await newDevice(2);
    const cases: Array<[string, ReturnType<TestAccount['list']>, string]> = [
      ['device 1 with another RSA key', account.list({ devices: [{ ...entryOf(account.device(1)), rsaModulus: TEST_RSA_MODULI[0]! }] }), 'bad_request'],
      ['version 2', account.list({ version: 2 }), 'bad_request'],
      ['a second device', account.list({ maxDeviceId: 2, devices: [entryOf(account.device(1)), entryOf(d2)] }), 'bad_request'],
      ['for another name', account.list({ username: 'reg-carol' }), 'bad_request'],
      ['signed by another key', account.list({}, base64urlDecode(other.signing.d)), 'bad_signature'],
      // Shape before signature.
      ['version 2, signed by another key', account.list({ version: 2 }, base64urlDecode(other.signing.d)), 'bad_request'],
    ];
    for (const [what, list, code] of cases) {
      const s = await open();
      expect(codeOf(await registerV2(s.socket, account, list)), what).toBe(code);
    }
    const s = await open();
    expect(await registerV2(s.socket, account)).toMatchObject({ ok: true, registered: true });
  });

  it('logs each device in with its own key, checking unknown_user, then unknown_device, then bad_signature', async () => {
    const { account, primary } = await registered('login-alice');
    const d2 = await newDevice(2);
    account.add(d2);
    expect(await call(primary.socket, 'devices.publish', { deviceList: account.list(), added: addedOf(d2) })).toMatchObject({ ok: true, version: 2 });

    const s = await open();
    expect(await loginV2(s.socket, 'login-alice', 2, d2.signingSecret)).toStrictEqual({
      ok: true,
      username: 'login-alice',
      device: 2,
      protocol: 2,
      registered: false,
      limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES, maxDevicesPerUser: 6, maxEnvelopesPerSend: 11 },
    });
    const attempt = async (username: string, id: number, signer: Uint8Array) => codeOf(await loginV2((await open()).socket, username, id, signer));
    expect(await attempt('login-nobody', 7, d2.signingSecret)).toBe('unknown_user');
    expect(await attempt('login-alice', 7, randomBytes(32))).toBe('unknown_device');
    // Device 2 signs with its own key, not the account's; and a device id is part of what is signed.
    expect(await attempt('login-alice', 2, account.accountSecret)).toBe('bad_signature');
    expect(await attempt('login-alice', 1, d2.signingSecret)).toBe('bad_signature');
    expect(await attempt('login-alice', 1, account.accountSecret)).toBe('ok');
  });

  it('serves a user registered with protocol 1 as device 1 alone until its primary publishes version 1', async () => {
    const keys = await keysFor();
    const v1 = await v1Socket();
    expect((await registerRaw(v1, 'mig-alice', keys)).ok).toBe(true);
    const account = await TestAccount.create('mig-alice', keys);
    const primary = await open();
    expect(await loginV2(primary.socket, 'mig-alice', 1, account.accountSecret)).toMatchObject({ ok: true, device: 1, protocol: 2 });
    expect(await loginV2((await open()).socket, 'mig-alice', 2, account.accountSecret)).toMatchObject({ ok: false, error: { code: 'unknown_device' } });
    expect(await listOf(primary.socket, 'mig-alice')).toStrictEqual({ ok: true, username: 'mig-alice', deviceList: null, lastSeen: [] });
    // §4.7: the migrated primary's first list, through devices.publish.
    const list = account.list();
    expect(await call(primary.socket, 'devices.publish', { deviceList: list })).toStrictEqual({ ok: true, version: 1 });
    expect(await listOf(primary.socket, 'mig-alice')).toMatchObject({ deviceList: list });
  });

  it('tells when devices were last seen to their own user only', async () => {
    const { primary } = await registered('seen-alice');
    const { primary: bob } = await registered('seen-bob');
    const own = await listOf(primary.socket, 'seen-alice');
    expect(own.lastSeen).toEqual([{ device: 1, at: expect.any(Number) }]);
    const theirs = await listOf(bob.socket, 'seen-alice');
    expect(theirs).toMatchObject({ ok: true, username: 'seen-alice', deviceList: own.deviceList });
    expect(theirs).not.toHaveProperty('lastSeen');
    expect(await listOf(bob.socket, 'seen-nobody')).toMatchObject({ ok: false, error: { code: 'unknown_user' } });
  });

  it('has no device or link events on a protocol-1 connection, whose answers stay protocol 1\'s', async () => {
    const keys = await keysFor();
    const v1 = await v1Socket();
    expect(await registerRaw(v1, 'old-carol', keys)).toStrictEqual({ ok: true, username: 'old-carol', registered: true, limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES } });
    for (const event of ['devices.list', 'devices.publish', 'link.join']) {
      expect(await call(v1, event, { username: 'old-carol' }), event).toMatchObject({ ok: false, error: { code: 'unknown_event' } });
    }
    expect((await loginRaw(await v1Socket(), 'old-carol', keys)).ok).toBe(true);
  });
});

describe('devices.publish', () => {
  it('checks shape, keys, signature, history and the added device in that order, and changes nothing on a refusal', async () => {
    const { account, primary } = await registered('pub-alice');
    const d2 = await newDevice(2);
    account.add(d2);
    const v2 = account.list();
    expect(await call(primary.socket, 'devices.publish', { deviceList: v2, added: addedOf(d2) })).toStrictEqual({ ok: true, version: 2 });

    const stranger = base64urlDecode((await keysFor(true)).signing.d);
    const d3 = await newDevice(3);
    const e1 = entryOf(account.device(1));
    const e2 = entryOf(d2);
    const e3 = entryOf(d3);
    const next = (fields: Parameters<TestAccount['fields']>[0]) => account.fields({ version: 3, ...fields });
    const publish = async (deviceList: unknown, added?: unknown) =>
      codeOf(await call(primary.socket, 'devices.publish', { deviceList, ...(added !== undefined && { added }) }));

    // 1. shape: another user's name; the payload cut short; a member DeviceListWire does not have.
    expect(await publish(account.list({ version: 3, username: 'pub-bob' }))).toBe('bad_request');
    expect(await publish({ ...v2, list: v2.list.slice(0, -4) })).toBe('bad_request');
    expect(await publish({ ...v2, extra: 1 })).toBe('bad_request');
    // 2. keys: one identity key listed twice (written without the codec, which refuses it).
    expect(await publish(signedWire(rawPayload(next({ maxDeviceId: 3, devices: [e1, e2, { ...e3, identityKey: e2.identityKey }] })), account.accountSecret))).toBe('bad_request');
    // Shape before signature: a list both malformed and signed by a stranger is bad_request.
    expect(await publish(account.list({ version: 3, username: 'pub-bob' }, stranger))).toBe('bad_request');
    // 3. signature.
    expect(await publish(account.list({ version: 3 }, stranger))).toBe('bad_signature');
    // Signature before history: an old version signed by a stranger is bad_signature.
    expect(await publish(account.list({ version: 2 }, stranger))).toBe('bad_signature');
    // 4. history: a version not above the stored one; a kept device's key changed; two devices at once.
    expect(await publish(account.list({ version: 2 }))).toBe('device_list_outdated');
    expect(await publish(account.list({ version: 1 }))).toBe('device_list_outdated');
    expect(await publish(account.list({ version: 3, devices: [e1, { ...e2, signingKey: ed25519PublicKeyFromSecret(randomBytes(32)) }] }))).toBe('device_list_outdated');
    expect(await publish(account.list({ version: 3, devices: [e1, { ...e2, addedAt: e2.addedAt + 1 }] }))).toBe('device_list_outdated');
    const d4 = await newDevice(4);
    expect(await publish(account.list({ version: 3, maxDeviceId: 4, devices: [e1, e2, e3, entryOf(d4)] }), addedOf(d3))).toBe('device_list_outdated');
    // History before the added device: an outdated list without its prekeys is device_list_outdated.
    expect(await publish(account.list({ version: 2, maxDeviceId: 3, devices: [e1, e2, e3] }))).toBe('device_list_outdated');
    // 5. the added device: its prekeys missing, for another device, with another identity key, or not signed by it.
    const adds3 = account.list({ version: 3, maxDeviceId: 3, devices: [e1, e2, e3] });
    expect(await publish(adds3)).toBe('bad_request');
    expect(await publish(account.list({ version: 3 }), addedOf(d3))).toBe('bad_request');
    expect(await publish(adds3, { ...addedOf(d3), device: 4 })).toBe('bad_request');
    expect(await publish(adds3, { ...addedOf(d3), identity: preKeysOf(d2.keys).identity })).toBe('bad_request');
    const signedByAccount = await LocalKeys.generate(ed25519SigningKeyFromSeed(account.accountSecret), Date.now());
    const foreign = preKeysOf(signedByAccount);
    expect(await publish(adds3, { device: 3, ...foreign, identity: { ...foreign.identity, dhKey: base64urlEncode(e3.identityKey) } })).toBe('bad_signature');
    expect(await publish(adds3, { ...addedOf(d3), signedPreKey: foreign.signedPreKey })).toBe('bad_signature');

    // Nothing of it was stored: version 2 stands, device 3 has no prekeys.
    expect(await listOf(primary.socket, 'pub-alice')).toMatchObject({ ok: true, deviceList: v2 });
    expect(await srv.store.preKeyCounts('pub-alice', 3)).toMatchObject({ identityKey: null });

    // An id is never given twice: device 2 removed, a new device cannot take id 2 nor lower maxDeviceId.
    expect(await publish(account.list({ version: 3, devices: [e1] }))).toBe('ok');
    expect(await publish(account.list({ version: 4, maxDeviceId: 2, devices: [e1, entryOf({ ...d3, id: 2 })] }), addedOf({ ...d3, id: 2 }))).toBe('device_list_outdated');
    expect(await publish(account.list({ version: 4, maxDeviceId: 1, devices: [e1] }))).toBe('device_list_outdated');
    expect(await publish(account.list({ version: 4, maxDeviceId: 3, devices: [e1, e3] }), addedOf(d3))).toBe('ok');
  });

  it('links a device: its bundle is served at once, every device of the user hears devices.changed, and it can log in', async () => {
    const { account, primary } = await registered('link-alice');
    const { primary: bob } = await registered('link-bob');
    await net.link(account, primary);
    const second = await device(account, 2);
    const d3 = await newDevice(3, 'laptop');
    account.add(d3);
    const list = account.list();
    expect(await call(primary.socket, 'devices.publish', { deviceList: list, added: addedOf(d3) })).toStrictEqual({ ok: true, version: 3 });
    // The primary heard of version 2 before; device 2 logged in after it.
    expect((await primary.waitFor('devices.changed', 2))[1]).toEqual({ username: 'link-alice', version: 3 });
    expect(await second.waitFor('devices.changed')).toEqual([{ username: 'link-alice', version: 3 }]);
    expect(bob.of('devices.changed')).toEqual([]);

    const bundles = await call(bob.socket, 'prekeys.bundle', { username: 'link-alice', devices: [3, 1] });
    expect(bundles).toMatchObject({ ok: true, username: 'link-alice', bundles: [{ device: 3 }, { device: 1 }] });
    const [b3, b1] = bundles.bundles as Array<{ identity: { signingKey: string; dhKey: string } }>;
    expect(b3!.identity).toMatchObject({ signingKey: base64urlEncode(d3.signingKey), dhKey: preKeysOf(d3.keys).identity.dhKey });
    expect(b1!.identity.signingKey).toBe(account.userKeys.signing.x);
    const stale = await call(bob.socket, 'prekeys.bundle', { username: 'link-alice', devices: [1, 4] });
    expect(stale).toMatchObject({
      ok: false,
      error: { code: 'devices_changed', details: { users: [{ username: 'link-alice', missing: [], stale: [4], deviceList: list }] } },
    });
    expect((await device(account, 3)).socket.connected).toBe(true);
  });

  it('removes a device: its queue, prekeys and owed receipts go, it hears device.removed and is closed, senders get removed receipts', async () => {
    const { account, primary } = await registered('rm-alice');
    const { primary: bob } = await registered('rm-bob');
    await net.link(account, primary);
    await net.link(account, primary);
    // Device 3 writes to bob (and to its own devices; device 2 is offline) and goes away.
    const third = await device(account, 3);
    const sent = await call(third.socket, 'send', {
      id: 'from-device-three-1',
      messages: [1, 2].map((d) => ({ to: 'rm-alice', device: d, envelope: hybridEnvelope() })).concat({ to: 'rm-bob', device: 1, envelope: hybridEnvelope() }),
    });
    expect(sent.ok, JSON.stringify(sent.error)).toBe(true);
    third.socket.close();
    await third.disconnected;
    // Bob settles his copy while device 3 is away: the receipt is owed to rm-alice/3.
    const [fromThree] = await bob.waitFor<{ id: string; fromDevice: number }>('message');
    expect(fromThree).toMatchObject({ from: 'rm-alice', fromDevice: 3 });
    expect(await call(bob.socket, 'ack', { ids: [fromThree!.id] })).toMatchObject({ ok: true, acknowledged: 1 });
    // Bob writes to every device of alice: device 3's copy waits in its queue.
    const toAlice = await call(bob.socket, 'send', { id: 'to-all-of-alice-01', messages: [1, 2, 3].map((d) => ({ to: 'rm-alice', device: d, envelope: hybridEnvelope() })) });
    const copyFor3 = (toAlice.deliveries as Array<{ device: number; id: string }>).find((d) => d.device === 3)!;
    expect(await srv.store.pendingReceipts('rm-alice', 3, 0, 10)).toHaveLength(1);
    expect(await srv.store.pending('rm-alice', 2, 0, 10, Date.now())).toHaveLength(2); // one from device 3, one from bob

    const again = await device(account, 3);
    await again.waitFor('message'); // connected and served, not acknowledging
    account.remove(3);
    expect(await call(primary.socket, 'devices.publish', { deviceList: account.list() })).toStrictEqual({ ok: true, version: 4 });
    expect(await again.waitFor('device.removed')).toEqual([{ username: 'rm-alice', device: 3, version: 4 }]);
    await again.disconnected;
    const removed = await bob.waitFor<Record<string, unknown>>('receipt', 1);
    expect(removed).toContainEqual({ id: copyFor3.id, clientId: 'to-all-of-alice-01', to: 'rm-alice', toDevice: 3, deliveredAt: expect.any(Number), status: 'removed' });

    expect(await srv.store.pending('rm-alice', 3, 0, 10, Date.now())).toEqual([]);
    expect(await srv.store.pendingReceipts('rm-alice', 3, 0, 10)).toEqual([]);
    expect(await srv.store.preKeyCounts('rm-alice', 3)).toMatchObject({ identityKey: null });
    // What device 3 sent and was still undelivered went with it; bob's copy for device 2 stays.
    expect((await srv.store.pending('rm-alice', 2, 0, 10, Date.now())).map((m) => m.sender)).toEqual(['rm-bob']);
    expect(codeOf(await loginV2((await open()).socket, 'rm-alice', 3, account.device(1).signingSecret))).toBe('unknown_device');
  });
});

