/**
 * Protocol-1 connections on a protocol-2 server (docs/design/devices-v2.md §5.9, PROTOCOL.md §19.14): a
 * protocol-1 client is device 1 of its user and keeps working while both sides of a conversation have
 * one device, whether or not their primary published a list; a protocol-1 send in a conversation with
 * more devices is refused with `upgrade_required`; it is served device 1's bundle and device 1's messages.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { DeviceSockets, preKeysOf, TestAccount, type RecordingSocket } from '../helpers/devices.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, registerRaw, waitUntil } from '../helpers/test-clients.js';
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

/** A protocol-1 client as e2ee-chat 0.1 was: registered with protocol 1's `register`, its prekeys uploaded, every pushed message kept. */
interface V1Client {
  identity: { username: string; keys: UserKeyPairs };
  socket: Socket;
  messages: Array<Record<string, unknown>>;
}

async function v1Client(username: string): Promise<V1Client> {
  const keys = await keysFor();
  const socket = await net.raw();
  const messages: Array<Record<string, unknown>> = [];
  socket.on('message', (m: Record<string, unknown>) => messages.push(m));
  expect((await registerRaw(socket, username, keys)).ok).toBe(true);
  const local = await LocalKeys.generate(ed25519SigningKeyFromSeed(base64urlDecode(keys.signing.d)), Date.now());
  expect((await call(socket, 'prekeys.upload', preKeysOf(local))).ok).toBe(true);
  return { identity: { username, keys }, socket, messages };
}

/**
 * The primary of a user whose protocol-1 client already published its prekeys logs in with protocol 2
 * and publishes its first list (design §4.7), naming the identity key that client published as device 1's.
 */
async function publishFirstList(client: V1Client): Promise<{ account: TestAccount; primary: RecordingSocket; identityKey: string }> {
  const account = await TestAccount.create(client.identity.username, client.identity.keys);
  const primary = await net.device(account, 1);
  const identityKey = (await call(primary.socket, 'prekeys.count', {})).identityKey as string;
  account.devices.set(1, { ...account.device(1), identityKey: base64urlDecode(identityKey) });
  const ack = await call(primary.socket, 'devices.publish', { deviceList: account.list() });
  expect(ack, JSON.stringify(ack.error)).toMatchObject({ ok: true, version: 1 });
  return { account, primary, identityKey };
}

describe('protocol-1 connections on a protocol-2 server', () => {
  it('a v1 client writes to a single-device user as before', async () => {
    const alice = await v1Client('compat-alice');
    const bob = await v1Client('compat-bob');
    // Bob's list names his device 1 alone: still protocol 1's world.
    await publishFirstList(bob);
    const sent = await call(alice.socket, 'send', { to: 'compat-bob', id: 'hello-from-a-0-1-client', envelope: hybridEnvelope() });
    expect(sent).toMatchObject({ ok: true, status: 'delivered' });
    const [atBob] = await waitUntil(() => (bob.messages.length === 1 ? bob.messages : undefined), 5000, "bob's copy");
    expect(atBob).toMatchObject({ id: sent.id, from: 'compat-alice', to: 'compat-bob' });
    expect(await call(bob.socket, 'send', { to: 'compat-alice', id: 'and-back-from-bob-01', envelope: hybridEnvelope() })).toMatchObject({ ok: true });
    const [atAlice] = await waitUntil(() => (alice.messages.length === 1 ? alice.messages : undefined), 5000, "alice's copy");
    expect(atAlice).toMatchObject({ from: 'compat-bob', to: 'compat-alice' });
  });

  it('a v1 send to a user with two devices is upgrade_required', async () => {
    const carolKeys = await keysFor();
    const carol = await net.raw();
    expect((await registerRaw(carol, 'compat-carol', carolKeys)).ok).toBe(true);
    const dave = await v1Client('compat-dave');
    const send = (to: string, id: string) => call(carol, 'send', { to, id, envelope: hybridEnvelope() });
    const before = await send('compat-dave', 'compat-before-link-01');
    expect(before).toMatchObject({ ok: true });

    const { account, primary, identityKey } = await publishFirstList(dave);
    await net.link(account, primary);

    const refused = await send('compat-dave', 'compat-after-link-01');
    expect(refused).toMatchObject({ ok: false, error: { code: 'upgrade_required', message: 'compat-dave uses several devices; update e2ee-chat to write to them' } });
    expect(Object.keys(refused.error!)).toEqual(['code', 'message']);
    // A resend of what was accepted before the link is still answered as the duplicate it is.
    expect(await send('compat-dave', 'compat-before-link-01')).toMatchObject({ ok: true, id: before.id, duplicate: true });
    // Dave's device 1 on protocol 1 cannot write either: his own conversation now has more devices.
    const daveV1 = await net.raw();
    expect((await loginRaw(daveV1, 'compat-dave', dave.identity.keys)).ok).toBe(true);
    expect(await call(daveV1, 'send', { to: 'compat-carol', envelope: hybridEnvelope() })).toMatchObject({ ok: false, error: { code: 'upgrade_required' } });

    // Protocol 1's bundle request answers device 1's bundle, signed by the account key.
    const bundle = await call(carol, 'prekeys.bundle', { username: 'compat-dave' });
    expect(bundle).toMatchObject({ ok: true, username: 'compat-dave', identity: { signingKey: dave.identity.keys.signing.x, dhKey: identityKey } });
    expect(bundle).not.toHaveProperty('device');
  });

  it('a v1 client receives the copies for device 1 only, in protocol 1 words', async () => {
    const erin = await v1Client('compat-erin');
    const { account, primary } = await publishFirstList(erin);
    const { primary: frank } = await net.registered('compat-frank');
    await net.link(account, primary);
    const second = await net.device(account, 2);
    const raw = await net.raw();
    const v1Frames: unknown[] = [];
    raw.on('message', (m: unknown) => v1Frames.push(m));
    expect((await loginRaw(raw, 'compat-erin', erin.identity.keys)).ok).toBe(true);

    const sent = await call(frank.socket, 'send', {
      id: 'to-both-of-erin-001',
      messages: [1, 2].map((device) => ({ to: 'compat-erin', device, envelope: hybridEnvelope() })),
    });
    const [toOne, toTwo] = sent.deliveries as Array<{ id: string }>;
    expect(await second.waitFor('message')).toEqual([expect.objectContaining({ id: toTwo!.id, toDevice: 2 })]);
    // The v1 connection (device 1) gets device 1's copy, without the members protocol 2 adds.
    const frame = await waitUntil(() => v1Frames[0] as Record<string, unknown> | undefined, 5000, "device 1's copy");
    expect(Object.keys(frame).sort()).toEqual(['envelope', 'from', 'id', 'sentAt', 'to']);
    expect(frame).toMatchObject({ id: toOne!.id, from: 'compat-frank', to: 'compat-erin' });
    expect(second.of('message')).toHaveLength(1);
  });
});
