/**
 * generateUserKeyPairs (src/crypto/keys.ts), with and without the native slot: the Ed25519 pair is made from
 * a seed and the RSA pair, natively, by node:crypto, so check that what comes back is a working standard
 * JWK pair as WebCrypto sees it.
 */
import { describe, expect, it } from 'vitest';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { ed25519Sign, ed25519Verify } from '../../src/crypto/ed25519.js';
import { generateUserKeyPairs, rsaPublicOf } from '../../src/crypto/keys.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('generateUserKeyPairs via $name', ({ install }) => {
  it('returns an Ed25519 JWK pair whose x belongs to its d, usable by WebCrypto and by our signer', async () => {
    install();
    const { signing } = await generateUserKeyPairs();
    expect(base64urlDecode(signing.d)).toHaveLength(32);
    const message = new TextEncoder().encode('a message');
    // A WebCrypto signature made with d verifies under x: the two belong together.
    const key = await crypto.subtle.importKey('jwk', signing, { name: 'Ed25519' }, false, ['sign']);
    const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, message));
    expect(ed25519Verify(signature, message, base64urlDecode(signing.x))).toBe(true);
    expect(ed25519Sign(message, base64urlDecode(signing.d))).toEqual(signature); // Ed25519 is deterministic
  });

  it('returns an RSA-2048 pair (e = 65537) that encrypts with RSA-OAEP-256 under the public half and decrypts with the private', async () => {
    install();
    const { encryption } = await generateUserKeyPairs();
    expect(base64urlDecode(encryption.n)).toHaveLength(256);
    expect(encryption.e).toBe('AQAB');
    const alg = { name: 'RSA-OAEP', hash: 'SHA-256' };
    const pub = await crypto.subtle.importKey('jwk', { ...rsaPublicOf(encryption), alg: 'RSA-OAEP-256' }, alg, false, ['encrypt']);
    const priv = await crypto.subtle.importKey('jwk', { ...encryption, alg: 'RSA-OAEP-256' }, alg, false, ['decrypt']);
    const secret = crypto.getRandomValues(new Uint8Array(64));
    const wrapped = await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, secret);
    expect(new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, priv, wrapped))).toEqual(secret);
  });

  it('never returns the same keys twice', async () => {
    install();
    const [a, b] = await Promise.all([generateUserKeyPairs(), generateUserKeyPairs()]);
    expect(a.signing.d).not.toBe(b.signing.d);
    expect(a.encryption.n).not.toBe(b.encryption.n);
  });
});
