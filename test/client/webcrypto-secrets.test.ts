/**
 * A device whose secrets WebCrypto holds as non-extractable keys (as a browser keeps them,
 * src/client/device-secrets.ts) is a full client: it registers, logs in again, publishes its device list
 * and prekeys, and chats both ways in the ratchet and the hybrid modes with a client whose keys are JWKs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient, type ReceivedMessage } from '../../src/client/chat-client.js';
import { webCryptoDeviceSecrets, type DeviceSecrets } from '../../src/client/device-secrets.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import type { RsaPublicJwk } from '../../src/crypto/keys.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';

const subtle = globalThis.crypto.subtle;

/** Fresh device keys made by WebCrypto, private halves non-extractable from the start. */
async function webCryptoKeys(): Promise<{ secrets: DeviceSecrets; privateKeys: CryptoKey[] }> {
  const signing = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const encryption = (await subtle.generateKey(
    { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    false,
    ['encrypt', 'decrypt'],
  )) as CryptoKeyPair;
  const publicJwk = (await subtle.exportKey('jwk', encryption.publicKey)) as RsaPublicJwk;
  const secrets = await webCryptoDeviceSecrets({
    signing: { privateKey: signing.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', signing.publicKey)) },
    encryption: { privateKey: encryption.privateKey, publicJwk: { kty: 'RSA', n: publicJwk.n, e: publicJwk.e } },
  });
  return { secrets, privateKeys: [signing.privateKey, encryption.privateKey] };
}

describe('a device whose secrets are non-extractable WebCrypto keys', () => {
  const servers = useTestServer();
  const { track } = servers;
  const opened: ChatClient[] = [];
  afterAll(async () => {
    for (const c of opened) await c.close();
  });

  async function connect(username: string, secrets: DeviceSecrets, mode: 'ratchet' | 'hybrid', ratchet = new MemoryRatchetStore()) {
    const received: ReceivedMessage[] = [];
    const peers = new MemoryPeerKeyStore();
    const client = await ChatClient.connect(
      {
        url: servers.srv.url,
        identity: { username, keys: secrets },
        peers,
        messages: new MemoryMessageStore(),
        socketOptions: { transports: ['websocket'] },
        ...(mode === 'hybrid' ? { mode } : { ratchet }),
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    opened.push(client);
    return { client, received, peers };
  }

  it.each(['ratchet', 'hybrid'] as const)('registers, chats both ways (%s mode) and logs in again', async (mode) => {
    const { secrets, privateKeys } = await webCryptoKeys();
    for (const key of privateKeys) await expect(subtle.exportKey('jwk', key)).rejects.toThrow();

    const ratchet = new MemoryRatchetStore();
    const alice = await connect(`wc-alice-${mode}`, secrets, mode, ratchet);
    const bob = track(await connectTestClient(servers.srv.url, `wc-bob-${mode}`, { mode }));

    await alice.client.send(`wc-bob-${mode}`, 'from a browser-style key');
    expect((await bob.waitFor(1))[0]!.body).toBe('from a browser-style key');
    await bob.client.send(`wc-alice-${mode}`, 'and back');
    await waitUntil(() => (alice.received.length >= 1 ? true : undefined), 5000, 'the answer');
    expect(alice.received[0]!.body).toBe('and back');

    // bob pinned the public keys these CryptoKeys belong to.
    const pin = await bob.peers.get(`wc-alice-${mode}`);
    expect(base64urlDecode(pin!.signingKey.x)).toEqual(secrets.signing.publicKey);
    expect(pin!.encryptionKey.n).toBe(secrets.encryptionPublicJwk.n);

    // A second login signs a fresh challenge with the same non-extractable key (same sessions store).
    await alice.client.close();
    const again = await connect(`wc-alice-${mode}`, secrets, mode, ratchet);
    await bob.client.send(`wc-alice-${mode}`, 'after the new login');
    await waitUntil(() => (again.received.length >= 1 ? true : undefined), 5000, 'a message after the new login');
    expect(again.received[0]!.body).toBe('after the new login');
  });

  it('refuses an RSA private key that is not the half of the public key given with it', async () => {
    const { secrets } = await webCryptoKeys();
    const other = (await subtle.generateKey(
      { name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      false,
      ['encrypt', 'decrypt'],
    )) as CryptoKeyPair;
    const signing = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
    await expect(
      webCryptoDeviceSecrets({
        signing: { privateKey: signing.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', signing.publicKey)) },
        encryption: { privateKey: other.privateKey, publicJwk: secrets.encryptionPublicJwk },
      }),
    ).rejects.toThrow(/not the private half/);
  });
});
