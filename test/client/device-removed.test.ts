/**
 * A device removed from its user's list stops for good (design §6.9, docs/PROTOCOL.md §21.2): a
 * ChatClient run as a linked device hears `device.removed` from the server, or is refused with
 * `unknown_device` when it logs in again, emits `removed` once, never tries to log in again, and keeps
 * what it stored. Through a lying server: a `device.removed` about any other address changes nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient, type ChatClientEvents, type ReceivedMessage } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import { ChatError } from '../../src/protocol/errors.js';
import { FORWARD } from '../helpers/hostile-server.js';
import { useHostileServer, useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';
import { TestPeer, type RawDevice } from '../helpers/test-device.js';

/** Short, so that a client that did try again would do so well within the barrier that follows. */
const RECONNECT_MS = 5;

interface Linked {
  client: ChatClient;
  messages: MemoryMessageStore;
  removed: Array<ChatClientEvents['removed']>;
  disconnected: string[];
  received: ReceivedMessage[];
}

/**
 * `raw`, a linked device of `peer`, run by a ChatClient at `url` (its raw socket closed first), listening
 * from before its login.
 */
async function linkedClient(peer: TestPeer, raw: RawDevice, url: string): Promise<Linked> {
  raw.disconnect();
  const own = await keysFor();
  const messages = new MemoryMessageStore();
  const linked: Omit<Linked, 'client'> = { messages, removed: [], disconnected: [], received: [] };
  const client = await ChatClient.connect(
    {
      url,
      identity: {
        username: peer.username,
        device: 2,
        keys: { signing: { kty: 'OKP', crv: 'Ed25519', d: base64urlEncode(raw.keys.signingSecret), x: base64urlEncode(raw.keys.signingKey) }, encryption: own.encryption },
        account: { signingKey: ed25519PublicOf(peer.account.userKeys.signing), encryptionKey: rsaPublicOf(peer.account.userKeys.encryption) },
      },
      peers: new MemoryPeerKeyStore(),
      messages,
      ratchet: raw.store,
      socketOptions: { transports: ['websocket'] },
      reconnect: { initialDelayMs: RECONNECT_MS, maxDelayMs: RECONNECT_MS },
    },
    (c) => {
      c.on('removed', (r) => linked.removed.push(r));
      c.on('disconnected', (d) => linked.disconnected.push(d.reason));
      c.on('message', (m) => linked.received.push(m));
    },
  );
  return { ...linked, client };
}

/** `login` requests for `user`/`device` in a list of frames (the real server's or the liar's). */
const isLoginOf = (user: string, device: number) => (payload: unknown) => {
  const p = payload as { username?: unknown; device?: unknown };
  return p.username === user && p.device === device;
};

describe('a linked device removed by its primary (real server)', () => {
  const servers = useTestServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    for (const p of peers) p.close();
  });
  const loginsOf = (user: string, device: number) => servers.srv.frames.filter((f) => f.event === 'login' && isLoginOf(user, device)(f.args[0])).length;

  it('gets `removed` once, does not log in again, and keeps the messages it stored', async () => {
    const dave = await TestPeer.register(servers.srv.url, 'dr-dave', { devices: 2 });
    peers.push(dave);
    const laptop = await linkedClient(dave, dave.device(2), servers.srv.url);
    closers.push(() => laptop.client.close());
    const carol = track(await connectTestClient(servers.srv.url, 'dr-carol'));
    await carol.client.send('dr-dave', 'before the removal');
    await waitUntil(() => (laptop.received.length === 1 ? true : undefined), 5000, 'the laptop to store the message');

    const logins = loginsOf('dr-dave', 2);
    expect((await dave.removeDevice(2)).ok).toBe(true);
    await waitUntil(() => (laptop.removed.length > 0 ? true : undefined), 5000, 'the laptop to hear it was removed');
    expect(laptop.removed).toEqual([{ username: 'dr-dave', device: 2, error: expect.any(ChatError) }]);
    expect(laptop.removed[0]!.error).toMatchObject({ code: 'unknown_device', message: expect.stringMatching(/was removed/) });

    // Barrier: carol's next message needs a devices_changed round, a session with dave/1 and its receipt,
    // far longer than the laptop's reconnect delay. A laptop that tried again would have logged in meanwhile.
    const after = await carol.client.send('dr-dave', 'after the removal');
    expect(after).toMatchObject({ devices: 1 });
    const [payload] = await dave.device(1).receive(2).then((p) => p.slice(1));
    expect(payload).toMatchObject({ body: 'after the removal' });
    expect(loginsOf('dr-dave', 2)).toBe(logins);
    expect(laptop.client.connected).toBe(false);
    // Stopping for good is not a dropped connection: nothing says "reconnecting".
    expect(laptop.disconnected).toEqual([]);
    expect(laptop.removed).toHaveLength(1);

    // Its history stays, and it is told nothing new.
    expect((await laptop.messages.history({ peer: 'dr-carol' })).map((r) => r.body)).toEqual(['before the removal']);
    expect(laptop.received).toHaveLength(1);
  });

  it('removed while it was offline, it is refused at connect with unknown_device, saying why', async () => {
    const erin = await TestPeer.register(servers.srv.url, 'dr-erin', { devices: 2 });
    peers.push(erin);
    const tablet = erin.device(2);
    tablet.disconnect();
    expect((await erin.removeDevice(2)).ok).toBe(true);
    const attempt = linkedClient(erin, tablet, servers.srv.url);
    await expect(attempt).rejects.toBeInstanceOf(ChatError);
    await expect(attempt).rejects.toMatchObject({ code: 'unknown_device', message: expect.stringMatching(/dr-erin\/2.*not in the device list of "dr-erin": it was removed/) });
  });
});

describe('device.removed and unknown_device through a server that lies', () => {
  const servers = useHostileServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    for (const p of peers) p.close();
  });

  it('a forged device.removed naming another address (another user, or another device of ours) changes nothing', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'drh-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'drh-bob'));
    const removed: unknown[] = [];
    alice.client.on('removed', (r) => removed.push(r));
    const debug: string[] = [];
    alice.client.on('debug', (d) => debug.push(d.message));

    expect(servers.hostile.push('drh-alice', 'device.removed', { username: 'drh-bob', device: 1, version: 2 })).toBe(1);
    servers.hostile.push('drh-alice', 'device.removed', { username: 'drh-alice', device: 2, version: 2 });
    // Barrier: the pushes came first on the same connection, so they were handled before this send's answer.
    await alice.client.send('drh-bob', 'still here');
    expect((await bob.waitFor(1))[0]).toMatchObject({ from: 'drh-alice', body: 'still here' });

    expect(removed).toEqual([]);
    expect(alice.client.connected).toBe(true);
    expect(debug).toEqual(expect.arrayContaining([expect.stringMatching(/drh-bob\/1 was removed/), expect.stringMatching(/drh-alice\/2 was removed/)]));
  });

  it("a device.removed naming this very address is believed (the server could refuse us service anyway): it stops", async () => {
    const fay = track(await connectTestClient(servers.hostile.url, 'drh-fay'));
    const ivy = track(await connectTestClient(servers.srv.url, 'drh-ivy'));
    await fay.client.send('drh-ivy', 'before');
    await ivy.waitFor(1);
    const removed: Array<ChatClientEvents['removed']> = [];
    fay.client.on('removed', (r) => removed.push(r));
    servers.hostile.push('drh-fay', 'device.removed', { username: 'drh-fay', device: 1, version: 2 });
    await waitUntil(() => (removed.length > 0 ? true : undefined), 5000, 'the removed event');
    expect(removed).toEqual([{ username: 'drh-fay', device: 1, error: expect.objectContaining({ code: 'unknown_device' }) }]);
    expect(fay.client.connected).toBe(false);
    // Sends wait in the outbox, as offline; what was stored stays.
    const later = await fay.client.send('drh-ivy', 'kept for later');
    expect(later.status).toBe('outbox');
    expect((await fay.messages.history({ peer: 'drh-ivy' })).map((r) => r.body)).toEqual(['before', 'kept for later']);
  });

  it('a reconnect refused because the name is bound to other keys now stops the client: `refused` once, and no login after it', async () => {
    const kim = track(await connectTestClient(servers.hostile.url, 'drh-kim'));
    const lee = track(await connectTestClient(servers.srv.url, 'drh-lee'));
    const refused: Array<ChatClientEvents['refused']> = [];
    const removed: unknown[] = [];
    kim.client.on('refused', (r) => refused.push(r));
    kim.client.on('removed', (r) => removed.push(r));
    const loginsOf = () => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'login' && (f.payload as { username?: string }).username === 'drh-kim').length;
    const before = loginsOf();
    // From now on the liar answers kim's logins as a server that gave the name to other keys would.
    const unhook = servers.hostile.onAnswer('login', (answer, payload) =>
      (payload as { username?: string }).username === 'drh-kim' ? { ok: false, error: { code: 'bad_signature', message: 'signature does not verify' } } : answer,
    );
    try {
      servers.hostile.connectionsOf('drh-kim')[0]!.drop();
      await waitUntil(() => (refused.length > 0 ? true : undefined), 5000, 'the refused login to be reported');
    } finally {
      unhook();
    }
    expect(refused).toEqual([{ error: expect.objectContaining({ code: 'username_taken' }) }]);
    expect(removed).toEqual([]);
    // Barrier: a message between two other clients, far longer than kim's reconnect delay of a few ms.
    const mia = track(await connectTestClient(servers.srv.url, 'drh-mia'));
    await lee.client.send('drh-mia', 'a barrier');
    await mia.waitFor(1);
    expect(loginsOf()).toBe(before + 1);
    expect(kim.client.connected).toBe(false);
  });

  it('removed while reconnecting (the word lost), its login is refused: `removed` once, and no login after it', async () => {
    const gus = await TestPeer.register(servers.srv.url, 'drh-gus', { devices: 2 });
    peers.push(gus);
    const laptop = await linkedClient(gus, gus.device(2), servers.hostile.url);
    closers.push(() => laptop.client.close());
    const loginsOf = () => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'login' && isLoginOf('drh-gus', 2)(f.payload)).length;
    const before = loginsOf();

    // The laptop's next login waits at the liar until the primary has removed it, with no connection
    // of the laptop's on the real server to hear `device.removed`.
    let removedNow!: () => void;
    const removal = new Promise<void>((resolve) => (removedNow = resolve));
    const unhook = servers.hostile.onRequest('login', async (payload) => {
      if (isLoginOf('drh-gus', 2)(payload)) await removal;
      return FORWARD;
    });
    try {
      servers.hostile.connectionsOf('drh-gus', 2)[0]!.drop();
      await waitUntil(() => (loginsOf() === before + 1 ? true : undefined), 5000, 'the laptop to log in again');
      expect((await gus.removeDevice(2)).ok).toBe(true);
      removedNow();
      await waitUntil(() => (laptop.removed.length > 0 ? true : undefined), 5000, 'the refused login to be reported');
    } finally {
      unhook();
    }
    expect(laptop.removed).toEqual([{ username: 'drh-gus', device: 2, error: expect.objectContaining({ code: 'unknown_device' }) }]);
    expect(laptop.removed[0]!.error.message).toMatch(/it was removed/);

    // Barrier: a message from the primary to a client on the real server (a new session, two round trips
    // and a decryption), far longer than the laptop's reconnect delay of a few ms.
    const hana = track(await connectTestClient(servers.srv.url, 'drh-hana'));
    await gus.sendTo('drh-hana', 'a barrier');
    expect((await hana.waitFor(1))[0]).toMatchObject({ body: 'a barrier' });
    expect(loginsOf()).toBe(before + 1);
    expect(laptop.client.connected).toBe(false);
    expect(laptop.removed).toHaveLength(1);
  });
});
