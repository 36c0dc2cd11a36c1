import { describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { PeerKeyChangedError, toPinned } from '../../src/client/peer-keys.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import type { UserKeys } from '../../src/protocol/events.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { removeDir, startTestServer } from '../helpers/test-server.js';
import { call, connectTestClient, keysFor, loginRaw, rawSocket } from '../helpers/test-clients.js';

describe('client library against a real server', () => {
  const server = useTestServer();
  const { track } = server;

  it('sends ratchet envelopes by default, and refuses to start in that mode without a session store', async () => {
    const identity = { username: 'nostore', keys: await keysFor() };
    const options = { url: server.srv.url, identity, peers: new MemoryPeerKeyStore(), messages: new MemoryMessageStore() };
    // Refused by the types, and at run time for JavaScript callers.
    // @ts-expect-error: ratchet mode requires `ratchet`
    expect(() => ChatClient.offline(options)).toThrow(/ratchet mode \(the default\) needs a `ratchet` store/);

    const alice = track(await connectTestClient(server.srv.url, 'defaulta'));
    const bob = track(await connectTestClient(server.srv.url, 'defaultb'));
    expect(alice.client.mode).toBe('ratchet');
    await alice.client.send('defaultb', 'forward secret by default');
    expect((await bob.waitFor(1))[0]!.body).toBe('forward secret by default');
    type Sent = { messages: Array<{ to: string; envelope: { type: string } }> };
    const sent = server.srv.frames.filter((f) => f.event === 'send' && (f.args[0] as Sent).messages?.some((m) => m.to === 'defaultb'));
    expect(sent.flatMap((f) => (f.args[0] as Sent).messages.map((m) => m.envelope.type))).toEqual(['ratchet']);
  });

  it('yields messages from the async iterator in order', async () => {
    const alice = track(await connectTestClient(server.srv.url, 'alice'));
    const bob = track(await connectTestClient(server.srv.url, 'bob'));
    const iterator = bob.client.messages();
    for (const text of ['one', 'two', 'three']) await alice.client.send('bob', text);
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) bodies.push((await iterator.next()).value!.body);
    expect(bodies).toEqual(['one', 'two', 'three']);
  });

  it('rejects a replayed envelope and shows the original once', async () => {
    const sender = track(await connectTestClient(server.srv.url, 'rita'));
    const receiver = track(await connectTestClient(server.srv.url, 'sam'));
    await sender.client.send('sam', 'pay 10 euros');
    await receiver.waitFor(1);
    // Someone who recorded the frame replays it through their own authenticated connection.
    type Sent = { messages: Array<{ to: string; device: number; envelope: unknown }> };
    const frame = server.srv.frames.filter((f) => f.event === 'send' && (f.args[0] as Sent).messages?.some((m) => m.to === 'sam')).at(-1)!;
    const copy = (frame.args[0] as Sent).messages.find((m) => m.to === 'sam')!;
    const socket = await rawSocket(server.srv.url);
    await loginRaw(socket, 'rita', sender.identity.keys);
    // A fresh client id gets past the server's idempotency check (a protocol-1 send: both users have one
    // device); the receiver still knows the message.
    expect((await call(socket, 'send', { to: 'sam', id: 'R'.repeat(22), envelope: copy.envelope })).ok).toBe(true);
    const [rejected] = await receiver.waitForRejected(1);
    expect(rejected!.error.code).toBe('decryption_failed');
    expect(receiver.received.map((m) => m.body)).toEqual(['pay 10 euros']);
    socket.close();
  });

  it('refuses a changed peer key until the user trusts it, then works again', async () => {
    // A fresh server stands in for a directory that now serves other keys under the same name.
    const second = await startTestServer();
    try {
      const tom = track(await connectTestClient(server.srv.url, 'tom'));
      const uma = track(await connectTestClient(server.srv.url, 'uma'));
      await tom.client.send('uma', 'first');
      await uma.waitFor(1);

      // Tom registers afresh there, with his pins: his own list's history starts again from the list he
      // registers with (PROTOCOL.md §21.1), his pin of uma stays.
      const tomAgain = track(await connectTestClient(second.url, 'tom', { keys: tom.identity.keys, peers: tom.peers }));
      const newUma = track(await connectTestClient(second.url, 'uma', { keys: await keysFor(true) }));
      const error = await tomAgain.client.send('uma', 'second').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PeerKeyChangedError);
      expect((error as PeerKeyChangedError).code).toBe('peer_key_changed');
      expect((error as Error).message).toMatch(/WARNING: the keys of "uma" have changed/);
      expect(newUma.received).toHaveLength(0);
      // Still refused on retry: nothing was silently re-pinned.
      await expect(tomAgain.client.send('uma', 'again')).rejects.toMatchObject({ code: 'peer_key_changed' });

      const { previous, current } = await tomAgain.client.trustPeer('uma', await tomAgain.client.fetchKeys('uma'));
      expect(previous!.signingKeyThumbprint).not.toBe(current.signingKeyThumbprint);
      expect(current.verified).toBe(false);
      await tomAgain.client.send('uma', 'after trust');
      expect((await newUma.waitFor(1))[0]!.body).toBe('after trust');
    } finally {
      await second.stop();
      removeDir(second.dataDir);
    }
  });

  it('reports a message from a sender whose key changed as a key change, not as garbage', async () => {
    const second = await startTestServer();
    try {
      const vera = track(await connectTestClient(server.srv.url, 'vera'));
      const walt = track(await connectTestClient(server.srv.url, 'walt'));
      await vera.client.send('walt', 'hi');
      await walt.waitFor(1);
      const waltAgain = track(await connectTestClient(second.url, 'walt', { keys: walt.identity.keys, peers: walt.peers, messages: walt.messages }));
      const newVera = track(await connectTestClient(second.url, 'vera', { keys: await keysFor(true) }));
      await newVera.client.send('walt', 'it is me, really');
      const [rej] = await waltAgain.waitForRejected(1);
      expect(rej!.error.code).toBe('peer_key_changed');
      expect(waltAgain.received).toHaveLength(0);
    } finally {
      await second.stop();
      removeDir(second.dataDir);
    }
  });

  it("replaces a pin of other keys under the user's own name (left from keys the folder had before) with the account's own", async () => {
    const peers = new MemoryPeerKeyStore();
    const stale = await keysFor(true);
    await peers.put(await toPinned({ username: 'ownpin-a', signingKey: ed25519PublicOf(stale.signing), encryptionKey: rsaPublicOf(stale.encryption) as UserKeys['encryptionKey'], registeredAt: 1 }, 1));
    const alice = track(await connectTestClient(server.srv.url, 'ownpin-a', { peers }));
    const bob = track(await connectTestClient(server.srv.url, 'ownpin-b'));
    await alice.client.send('ownpin-b', 'my own keys, not the file\'s');
    expect((await bob.waitFor(1))[0]!.body).toBe("my own keys, not the file's");
    expect((await peers.get('ownpin-a'))!.signingKey.x).toBe(alice.identity.keys.signing.x);
  });

  it('reconnects and logs in again after the connection drops', async () => {
    const xena = track(await connectTestClient(server.srv.url, 'xena'));
    const yuri = track(await connectTestClient(server.srv.url, 'yuri'));
    const reconnected = new Promise((resolve) => yuri.client.on('reconnected', resolve));
    // Kill yuri's socket from the server side; socket.io-client reconnects on its own.
    for (const [, s] of server.srv.server.io.sockets.sockets) {
      if (s.rooms.has('user:yuri')) s.conn.close();
    }
    await reconnected;
    await xena.client.send('yuri', 'still there?');
    expect((await yuri.waitFor(1))[0]!.body).toBe('still there?');
  });

  it('reconnects and logs in again after the server disconnects it (Socket.IO alone would stay away)', async () => {
    const xavi = track(await connectTestClient(server.srv.url, 'xavi'));
    const yves = track(await connectTestClient(server.srv.url, 'yves'));
    const reasons: string[] = [];
    yves.client.on('disconnected', ({ reason }) => reasons.push(reason));
    const reconnected = new Promise((resolve) => yves.client.on('reconnected', resolve));
    for (const [, s] of server.srv.server.io.sockets.sockets) {
      if (s.rooms.has('user:yves')) s.disconnect(true);
    }
    await reconnected;
    expect(reasons).toEqual(['io server disconnect']);
    await xavi.client.send('yves', 'back again?');
    expect((await yves.waitFor(1))[0]!.body).toBe('back again?');
  });
});
