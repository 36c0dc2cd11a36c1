/** The prekey service over real sockets: signatures are verified at upload; exhaustion falls back to the last-resort key. */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { base64urlDecode, base64urlEncode as e } from '../../src/crypto/bytes.js';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { generateKemPreKey } from '../../src/e2ee/pqxdh/prekeys.js';
import { call, keysFor, rawSocket, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

let srv: TestServer;
let bob: Socket;
let keys: LocalKeys;
beforeAll(async () => {
  srv = await startTestServer();
  const userKeys = await keysFor();
  bob = await rawSocket(srv.url);
  expect((await registerRaw(bob, 'bob', userKeys)).ok).toBe(true);
  keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(base64urlDecode(userKeys.signing.d)), Date.now());
});
afterAll(async () => {
  bob.close();
  await srv.stop();
  removeDir(srv.dataDir);
});

const identity = () => ({ dhKey: e(keys.identity.dhKeyPair.publicKey), binding: e(keys.identity.binding) });
const signed = () => ({ id: keys.currentSignedId, publicKey: e(keys.currentSignedPreKey.keyPair.publicKey), signature: e(keys.currentSignedPreKey.signature) });
const kem = (k = keys.lastResortKemPreKey) => ({ id: k.id, publicKey: e(k.publicKey), signature: e(k.signature) });
const flip = (sig: string) => e(base64urlDecode(sig).map((b, i) => (i === 0 ? b ^ 1 : b)));

describe('prekeys.upload', () => {
  it('refuses a bad identity binding, signed prekey or ML-KEM prekey signature with bad_signature, storing nothing', async () => {
    const bad = [
      { identity: { ...identity(), binding: flip(identity().binding) } },
      { identity: identity(), signedPreKey: { ...signed(), signature: flip(signed().signature) } },
      { identity: identity(), lastResortKemPreKey: { ...kem(), signature: flip(kem().signature) } },
      { identity: identity(), kemPreKeys: [kem(), { ...kem(), id: 77, signature: flip(kem().signature) }] },
    ];
    for (const payload of bad) {
      const ack = await call(bob, 'prekeys.upload', payload);
      expect(ack, JSON.stringify(Object.keys(payload))).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    }
    expect(await call(bob, 'prekeys.count', {})).toMatchObject({ ok: true, identityKey: null, oneTime: 0, kemOneTime: 0 });
    expect(await call(bob, 'prekeys.bundle', { username: 'bob' })).toMatchObject({ ok: false, error: { code: 'no_prekeys' } });
  });

  it('accepts a signed upload; when one-time keys run out the last-resort key serves and the curve one-time key is absent', async () => {
    const oneTimeKem = await generateKemPreKey(keys.identity, 5, 'one-time');
    const ack = await call(bob, 'prekeys.upload', {
      identity: identity(),
      signedPreKey: signed(),
      lastResortKemPreKey: kem(),
      oneTimePreKeys: [{ id: 9, publicKey: e(keys.identity.dhKeyPair.publicKey) }],
      kemPreKeys: [kem(oneTimeKem)],
    });
    expect(ack).toMatchObject({ ok: true, oneTime: 1, kemOneTime: 1, signedPreKeyId: 1, lastResortKemPreKeyId: 1 });
    const first = await call(bob, 'prekeys.bundle', { username: 'bob' });
    expect(first).toMatchObject({ ok: true, oneTimePreKey: { id: 9 }, kemPreKey: { id: 5 } });
    const second = await call(bob, 'prekeys.bundle', { username: 'bob' });
    expect(second).toMatchObject({ ok: true, kemPreKey: { id: 1 } });
    expect(second).not.toHaveProperty('oneTimePreKey');
    expect(await call(bob, 'prekeys.bundle', { username: 'nobody' })).toMatchObject({ ok: false, error: { code: 'unknown_user' } });
  });
});
