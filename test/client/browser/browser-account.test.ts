/**
 * An account in the browser's IndexedDB (src/client/browser/browser-account.ts), in Node over
 * fake-indexeddb: its identity's private keys come back from the database as non-extractable CryptoKeys
 * that sign and decrypt; everything the stores hold survives closing and reopening the database; and a
 * real ChatClient on these stores chats, is stopped, and goes on after a "reload" in the same sessions
 * with its history. The real-Chromium run of the same stores comes through the web app's tests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserAccount } from '../../../src/client/browser/browser-account.js';
import { generateWrappableDeviceKeys } from '../../../src/client/browser/browser-identity.js';
import { ChatClient, type ReceivedMessage } from '../../../src/client/chat-client.js';
import { exportLocalKeys, loadOrCreateIdentity, LocalKeys } from '../../../src/client/local-prekeys.js';
import { X25519KeyPair } from '../../../src/crypto/x25519.js';
import type { PeerSessionPickle } from '../../../src/client/ratchet-store.js';
import { base64urlDecode, hexEncode, utf8Encode } from '../../../src/crypto/bytes.js';
import { ed25519Verify } from '../../../src/crypto/ed25519.js';
import { ed25519SigningKeyFromSeed } from '../../../src/crypto/signing-key.js';
import { rsaPublicOf } from '../../../src/crypto/keys.js';
import { unpickleSessionRecord } from '../../../src/e2ee/ratchet/pickle.js';
import { linkCodeHash } from '../../../src/e2ee/link/link-code.js';
import { LINK_TTL_MS } from '../../../src/protocol/limits.js';
import { freshAccountName, reopenIdbAccount, TEST_PASSPHRASE, TEST_SCRYPT } from '../../helpers/browser-stores.js';
import { STORES } from '../../../src/client/browser/account-database.js';
import { requestResult, transact } from '../../../src/client/browser/idb.js';
import type { SealedRow } from '../../../src/client/browser/record-rows.js';
import { connectTestClient, keysFor, waitUntil, type TestClient } from '../../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../../helpers/test-server.js';

const servers: TestServer[] = [];
const clients: ChatClient[] = [];
const accounts: BrowserAccount[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const a of accounts.splice(0)) a.close();
  for (const s of servers.splice(0)) {
    await s.stop();
    removeDir(s.dataDir);
  }
});

const options = { scrypt: TEST_SCRYPT };

/** The code of the BrowserAccountError `run` throws. */
function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

async function create(username: string): Promise<BrowserAccount> {
  const account = await BrowserAccount.create(username, TEST_PASSPHRASE, options);
  accounts.push(account);
  return account;
}

async function open(username: string): Promise<BrowserAccount> {
  const account = await BrowserAccount.open(username, TEST_PASSPHRASE, options);
  accounts.push(account);
  return account;
}

describe('a browser account', () => {
  it("keeps the device's private keys wrapped and gives them back as non-extractable keys that sign and decrypt", async () => {
    const username = freshAccountName();
    const keys = await keysFor();
    const account = await create(username);
    expect(account.identity).toBeUndefined(); // a vault before its keys: the app stores them when they exist
    expect(codeOf(() => account.clientIdentity())).toBe('no_identity');
    await account.storeIdentity({ username, keys });
    account.close();

    const { identity } = await open(username);
    expect(identity).toMatchObject({ username, device: 1, role: 'primary', public: { signingKey: { x: keys.signing.x } } });
    expect(identity!.account).toEqual(identity!.public);
    const { secrets } = identity!;
    for (const key of [await secrets.signing.cryptoKey(), await secrets.decryptionKey()]) {
      expect(key.extractable).toBe(false);
      await expect(crypto.subtle.exportKey('pkcs8', key)).rejects.toThrow();
      await expect(crypto.subtle.exportKey('jwk', key)).rejects.toThrow();
    }
    expect(secrets.signing.publicKey).toEqual(base64urlDecode(keys.signing.x));
    const message = utf8Encode('login challenge');
    expect(ed25519Verify(await secrets.signing.sign(message), message, base64urlDecode(keys.signing.x))).toBe(true);
    const rsaPublic = await crypto.subtle.importKey('jwk', rsaPublicOf(keys.encryption), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['encrypt']);
    const ciphertext = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, rsaPublic, utf8Encode('a content key'));
    expect(new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, await secrets.decryptionKey(), ciphertext))).toBe('a content key');
    expect(JSON.stringify(identity)).not.toContain(keys.signing.d);
  });

  it('takes WebCrypto keys made to be wrapped, and refuses non-extractable ones (they cannot be wrapped), storing nothing', async () => {
    const username = freshAccountName();
    const account = await create(username);
    const stuck = await generateWrappableDeviceKeys();
    const locked = { ...stuck, signing: { ...stuck.signing, privateKey: (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign'])).privateKey as CryptoKey } };
    await expect(account.storeIdentity({ username, keys: locked })).rejects.toThrow(/must be extractable to be wrapped/);
    expect(account.identity).toBeUndefined();

    const keys = await generateWrappableDeviceKeys();
    const stored = await account.storeIdentity({ username, keys });
    expect(stored.secrets.signing.publicKey).toEqual(keys.signing.publicKey);
    expect(stored.public.encryptionKey).toEqual(keys.encryption.publicJwk);
    expect((await stored.secrets.signing.cryptoKey()).extractable).toBe(false);
    account.close();
    const again = (await open(username)).identity!;
    expect((await again.secrets.decryptionKey()).extractable).toBe(false);
    expect(again.secrets.encryptionPublicJwk).toEqual(keys.encryption.publicJwk);
  });

  it('a linked device keeps its own keys and the account public keys; an identity is never replaced', async () => {
    const username = freshAccountName();
    const [own, primary] = [await keysFor(true), await keysFor()];
    const account = await create(username);
    const accountKeys = { signingKey: { kty: 'OKP', crv: 'Ed25519', x: primary.signing.x } as const, encryptionKey: rsaPublicOf(primary.encryption) };
    const stored = await account.storeIdentity({ username, device: 3, keys: own, account: accountKeys });
    expect(stored).toMatchObject({ device: 3, role: 'linked', account: accountKeys, public: { signingKey: { x: own.signing.x } } });
    await expect(account.storeIdentity({ username, keys: primary })).rejects.toMatchObject({ code: 'account_exists' });
    account.close();
    expect((await open(username)).identity).toMatchObject({ device: 3, role: 'linked', public: { signingKey: { x: own.signing.x } } });
  });

  it('keeps every store across closing and reopening the database', async () => {
    const username = freshAccountName();
    const secret = crypto.getRandomValues(new Uint8Array(32));
    const first = await create(username);
    const { messages, ratchet, peers, triedLinkCodes } = first.stores;
    await messages.recordIncoming({ id: 'in-1', direction: 'in', peer: 'bob', body: 'kept', sentAt: 1, status: 'received' });
    await messages.addOutgoing({ id: 'out-1', to: 'bob', messages: [{ to: 'bob', device: 1, envelope: { type: 'ratchet', v: 1, body: 'AAAA' } }], createdAt: 2 }, { id: 'out-1', direction: 'out', peer: 'bob', body: 'pending', sentAt: 2, status: 'outbox' });
    await messages.hold({ serverId: 'S'.repeat(22), from: 'carol', to: username, sentAt: 3, envelope: { type: 'ratchet', v: 1, body: 'BBBB' } });
    const signingKey = ed25519SigningKeyFromSeed(secret);
    const keys = await exportLocalKeys(ratchet, signingKey, 1_000);
    const session: PeerSessionPickle = { v: 1, record: { v: 1, current: null, previous: [] }, delivered: [['srv-1', 'in-1']] };
    expect(await ratchet.saveSession({ user: 'bob', device: 2 }, session, 0)).toBe(true);
    await peers.put({ username: 'bob', signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'x' }, encryptionKey: { kty: 'RSA', n: 'n', e: 'AQAB' }, signingKeyThumbprint: 's', encryptionKeyThumbprint: 'e', pinnedAt: 1, verified: true });
    const code = linkCodeHash({ slot: '417', secret: 'K7QM9TZC' });
    expect(await triedLinkCodes.claim(code, 10, LINK_TTL_MS)).toBe(true);
    first.close();

    const again = (await open(username)).stores;
    expect(await again.messages.history()).toMatchObject([{ id: 'in-1', body: 'kept' }, { id: 'out-1', body: 'pending', status: 'outbox' }]);
    expect(await again.messages.undisplayed()).toMatchObject([{ id: 'in-1' }]);
    expect((await again.messages.outbox()).map((e) => e.id)).toEqual(['out-1']);
    expect((await again.messages.held('carol')).map((h) => h.serverId)).toEqual(['S'.repeat(22)]);
    expect(await again.ratchet.loadSession({ user: 'bob', device: 2 })).toEqual({ value: session, version: 1 });
    const reloaded = await exportLocalKeys(again.ratchet, signingKey, 2_000);
    expect(reloaded.identity.dhKeyPair.publicKey).toEqual(keys.identity.dhKeyPair.publicKey);
    expect(await again.ratchet.loadKeyState()).toEqual({ currentSignedId: keys.currentSignedPreKey.id, lastResortId: keys.lastResortKemPreKey.id, nextIds: keys.nextIds });
    expect((await again.peers.get('bob'))?.verified).toBe(true);
    expect(await again.triedLinkCodes.claim(code, 20, LINK_TTL_MS)).toBe(false);
  });

  it("keeps the PQXDH identity key wrapped: it comes back as a non-extractable X25519 key that agrees like the original", async () => {
    const username = freshAccountName();
    const signingKey = ed25519SigningKeyFromSeed(crypto.getRandomValues(new Uint8Array(32)));
    const generated = await LocalKeys.generate(signingKey, 1_000);
    const account = await create(username);
    const created = await account.stores.ratchet.createKeys(generated.pickle());
    account.close();

    const { ratchet } = (await open(username)).stores;
    const held = (await ratchet.loadIdentity())!;
    expect('secretKey' in held).toBe(false);
    expect(held.privateKey.extractable).toBe(false);
    expect(held.privateKey.algorithm.name).toBe('X25519');
    await expect(crypto.subtle.exportKey('pkcs8', held.privateKey)).rejects.toThrow();
    expect(held.publicKey).toBe(created.publicKey);
    const identity = await loadOrCreateIdentity(ratchet, signingKey, 2_000);
    expect(identity.dhKeyPair.extractable).toBe(false);
    expect(() => identity.dhKeyPair.exportSecretKey()).toThrow();
    // The same DH as the key it was made from.
    const peer = await X25519KeyPair.generate();
    expect(await identity.dhKeyPair.agree(peer.publicKey)).toEqual(await generated.identity.dhKeyPair.agree(peer.publicKey));
    // Even opened with the vault, the record holds no secret: only its wrap (under the data key, for this purpose).
    const raw = await reopenIdbAccount(username);
    const row = await transact(raw.db, STORES.meta, 'readonly', (tx) => requestResult<SealedRow>(tx.objectStore(STORES.meta).get('ratchetIdentity')));
    const record = await raw.vault.sealer.open<Record<string, unknown>>(STORES.meta, 'ratchetIdentity', row.data);
    expect(Object.keys(record).sort()).toEqual(['binding', 'publicKey', 'wrapped']);
    expect(JSON.stringify(record)).not.toContain(generated.pickle().identity.secretKey);
    raw.db.close();
  });

  it('lists the accounts of this browser and removes one with everything in it', async () => {
    const [a, b] = [freshAccountName('list'), freshAccountName('list')];
    (await create(a)).close();
    (await create(b)).close();
    expect(await BrowserAccount.list()).toEqual(expect.arrayContaining([a, b]));
    await BrowserAccount.remove(a);
    expect(await BrowserAccount.list()).not.toContain(a);
    await expect(BrowserAccount.open(a, TEST_PASSPHRASE, options)).rejects.toMatchObject({ code: 'no_account' });
  });
});

describe('a ChatClient on the IndexedDB stores', () => {
  async function start(url: string, account: BrowserAccount): Promise<{ client: ChatClient; received: ReceivedMessage[] }> {
    const received: ReceivedMessage[] = [];
    const client = await ChatClient.connect(
      {
        url,
        identity: account.clientIdentity(),
        peers: account.stores.peers,
        messages: account.stores.messages,
        ratchet: account.stores.ratchet,
        triedLinkCodes: account.stores.triedLinkCodes,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    clients.push(client);
    return { client, received };
  }

  it('chats on its non-extractable keys, is stopped, and after the database is reopened goes on in the same sessions with its history', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const username = freshAccountName('web');
    const account = await create(username);
    // The web app's path: WebCrypto keys made to be wrapped, wrapped, then used only as unwrapped non-extractable copies.
    await account.storeIdentity({ username, keys: await generateWrappableDeviceKeys() });
    const bob: TestClient = await connectTestClient(srv.url, 'bob');
    clients.push(bob.client);

    const first = await start(srv.url, account);
    await first.client.send('bob', 'hello from the browser');
    await bob.waitFor(1);
    await bob.client.send(username, 'hello browser');
    await waitUntil(() => (first.received.length === 1 ? true : undefined), 10_000, 'the reply');
    const before = (await account.stores.ratchet.loadSession('bob'))!;
    await first.client.close();
    account.close();

    // The "reload": a new connection to the database, unlocked with the passphrase, and a new client.
    const reopened = await open(username);
    const second = await start(srv.url, reopened);
    await bob.client.send(username, 'after the reload');
    await waitUntil(() => (second.received.length === 1 ? true : undefined), 10_000, 'the message after the reload');
    expect(second.received[0]!.body).toBe('after the reload');
    await second.client.send('bob', 'and back');
    await bob.waitFor(2);
    expect(bob.received.map((m) => m.body)).toEqual(['hello from the browser', 'and back']);
    expect(bob.rejected).toEqual([]);

    // The same session went on (the same PQXDH run: same base key; its version grew from where it was).
    const after = (await reopened.stores.ratchet.loadSession('bob'))!;
    expect(after.version).toBeGreaterThan(before.version);
    const baseKey = (s: typeof before) => hexEncode(unpickleSessionRecord(s.value.record).current!.baseKey);
    expect(baseKey(after)).toBe(baseKey(before));
    expect((await reopened.stores.messages.history({ peer: 'bob' })).map((r) => r.body)).toEqual(['hello from the browser', 'hello browser', 'after the reload', 'and back']);
  });
});
