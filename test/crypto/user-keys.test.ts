/**
 * generateUserKeyPairs (src/crypto/keys.ts): the Ed25519 pair is made from a seed without WebCrypto's
 * key generation, so check that what it returns is a working, standard JWK pair as WebCrypto sees it.
 */
import { describe, expect, it } from 'vitest';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { ed25519Sign, ed25519Verify } from '../../src/crypto/ed25519.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';

describe('generateUserKeyPairs', () => {
  it('returns an Ed25519 JWK pair whose x belongs to its d, usable by WebCrypto and by our signer', async () => {
    const { signing } = await generateUserKeyPairs();
    expect(base64urlDecode(signing.d)).toHaveLength(32);
    const message = new TextEncoder().encode('a message');
    // A WebCrypto signature made with d verifies under x: the two belong together.
    const key = await crypto.subtle.importKey('jwk', signing, { name: 'Ed25519' }, false, ['sign']);
    const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, message));
    expect(ed25519Verify(signature, message, base64urlDecode(signing.x))).toBe(true);
    expect(ed25519Sign(message, base64urlDecode(signing.d))).toEqual(signature); // Ed25519 is deterministic
  });

  it('never returns the same seed twice', async () => {
    const [a, b] = await Promise.all([generateUserKeyPairs(), generateUserKeyPairs()]);
    expect(a.signing.d).not.toBe(b.signing.d);
    expect(a.encryption.n).not.toBe(b.encryption.n);
  });
});
