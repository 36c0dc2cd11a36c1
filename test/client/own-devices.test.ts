/**
 * The user's own other devices (docs/PROTOCOL.md §21.3, §21.4): a ChatClient running as alice's linked
 * device 2 (its own keys, the account's public keys beside them), next to her primary (a scripted
 * device, test/helpers/test-device.ts), talking with bob. What bob sends reaches both of alice's devices;
 * what one of alice's devices sends reaches bob and appears on her other device as sent by her, once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import type { ReceivedMessage } from '../../src/client/inbound.js';
import { base64urlEncode } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

describe("alice's linked device, as a library client", () => {
  const servers = useTestServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
    for (const p of peers) p.close();
  });

  /** Alice's account (primary scripted) with device 2 run by a ChatClient on the keys her list names for it. */
  async function aliceWithLaptop(name: string) {
    const alice = await TestPeer.register(servers.srv.url, name, { devices: 2 });
    peers.push(alice);
    const laptopKeys = alice.device(2);
    laptopKeys.disconnect();
    const secret = laptopKeys.keys.signingSecret;
    const own = await keysFor();
    const messages = new MemoryMessageStore();
    const received: ReceivedMessage[] = [];
    const laptop = await ChatClient.connect(
      {
        url: servers.srv.url,
        identity: {
          username: name,
          device: 2,
          // Its own Ed25519 key (DSK_2, listed); an RSA key of its own (ratchet mode never uses it here).
          keys: { signing: { kty: 'OKP', crv: 'Ed25519', d: base64urlEncode(secret), x: base64urlEncode(laptopKeys.keys.signingKey) }, encryption: own.encryption },
          account: { signingKey: ed25519PublicOf(alice.account.userKeys.signing), encryptionKey: rsaPublicOf(alice.account.userKeys.encryption) },
        },
        peers: new MemoryPeerKeyStore(),
        messages,
        ratchet: laptopKeys.store,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    closers.push(() => laptop.close());
    return { alice, laptop, messages, received };
  }

  it("what bob sends reaches alice's primary and her laptop once each", async () => {
    const { alice, received } = await aliceWithLaptop('od-alice');
    const bob = track(await connectTestClient(servers.srv.url, 'od-bob'));
    const sent = await bob.client.send('od-alice', 'to all of alice');
    expect(sent).toMatchObject({ devices: 2 });
    expect((await alice.device(1).receive(1))[0]).toMatchObject({ from: 'od-bob', id: sent.id, body: 'to all of alice' });
    await waitUntil(() => (received.length === 1 ? true : undefined), 5000, 'the laptop to receive it');
    expect(received[0]).toMatchObject({ from: 'od-bob', fromDevice: 1, to: 'od-alice', id: sent.id, body: 'to all of alice' });
  });

  it('what the laptop sends reaches bob, and a copy reaches the primary as sent by alice', async () => {
    const { alice, laptop } = await aliceWithLaptop('od-alice2');
    const bob = track(await connectTestClient(servers.srv.url, 'od-bob2'));
    const sent = await laptop.send('od-bob2', 'from my laptop');
    expect(sent).toMatchObject({ devices: 1 });
    const [atBob] = await bob.waitFor(1);
    expect(atBob).toMatchObject({ from: 'od-alice2', fromDevice: 2, body: 'from my laptop' });
    const [copy] = await alice.device(1).receive(1);
    expect(copy).toMatchObject({ v: 2, from: 'od-alice2', fromDevice: 2, to: 'od-bob2', id: sent.id, body: 'from my laptop' });
  });

  it("what the primary sends appears on the laptop as sent by alice, once, and in its history as outgoing", async () => {
    const { alice, messages, received } = await aliceWithLaptop('od-alice3');
    const bob = track(await connectTestClient(servers.srv.url, 'od-bob3'));
    const { id } = await alice.sendTo('od-bob3', 'from my phone');
    expect((await bob.waitFor(1))[0]).toMatchObject({ from: 'od-alice3', body: 'from my phone' });
    await waitUntil(() => (received.length === 1 ? true : undefined), 5000, 'the copy on the laptop');
    expect(received[0]).toMatchObject({ from: 'od-alice3', to: 'od-bob3', id, body: 'from my phone', outgoing: true });
    expect((await messages.history({ peer: 'od-bob3' })).map((r) => [r.direction, r.peer, r.body, r.status])).toEqual([['out', 'od-bob3', 'from my phone', 'sent']]);
    expect(await messages.undisplayed()).toEqual([]);
  });
});
