/**
 * The signing-key interface (src/crypto/signing-key.ts) and X25519 pairs held by WebCrypto
 * (X25519KeyPair.fromCryptoKey): a key kept as a non-extractable CryptoKey signs and agrees exactly as
 * the same key kept as bytes, and its secret cannot be read out.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { ed25519Verify } from '../../src/crypto/ed25519.js';
import { ed25519SigningKeyFromSeed, generateWebCryptoSigningKey, webCryptoSigningKey } from '../../src/crypto/signing-key.js';
import { InvalidX25519KeyError, X25519KeyPair } from '../../src/crypto/x25519.js';

const subtle = globalThis.crypto.subtle;

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
const RFC8032 = [
  {
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

const PKCS8_ED25519 = hexDecode('302e020100300506032b657004220420');
const PKCS8_X25519 = hexDecode('302e020100300506032b656e04220420');

function importEd25519(secretHex: string): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', concatBytes(PKCS8_ED25519, hexDecode(secretHex)), { name: 'Ed25519' }, false, ['sign']);
}

describe('Ed25519 signing keys', () => {
  it.each(RFC8032)('signs the RFC 8032 vector identically from a seed and from a non-extractable CryptoKey ($publicKey)', async (v) => {
    const fromSeed = ed25519SigningKeyFromSeed(hexDecode(v.secret));
    expect(hexEncode(fromSeed.publicKey)).toBe(v.publicKey);
    expect(hexEncode(await fromSeed.sign(hexDecode(v.message)))).toBe(v.signature);

    const held = await webCryptoSigningKey(await importEd25519(v.secret), hexDecode(v.publicKey));
    expect(hexEncode(await held.sign(hexDecode(v.message)))).toBe(v.signature);
  });

  it('keeps a generated key non-extractable, and its signatures verify under its public key', async () => {
    const key = await generateWebCryptoSigningKey();
    const handle = await key.cryptoKey();
    expect(handle.extractable).toBe(false);
    await expect(subtle.exportKey('pkcs8', handle)).rejects.toThrow();
    const message = new TextEncoder().encode('login challenge');
    expect(ed25519Verify(await key.sign(message), message, key.publicKey)).toBe(true);
  });

  it('hands jose a non-extractable CryptoKey for a seed key, signing as the seed does', async () => {
    const v = RFC8032[1]!;
    const handle = await ed25519SigningKeyFromSeed(hexDecode(v.secret)).cryptoKey();
    expect(handle.extractable).toBe(false);
    expect(hexEncode(new Uint8Array(await subtle.sign({ name: 'Ed25519' }, handle, hexDecode(v.message))))).toBe(v.signature);
  });

  it('refuses a CryptoKey paired with another public key, and keys of the wrong kind', async () => {
    await expect(webCryptoSigningKey(await importEd25519(RFC8032[0]!.secret), hexDecode(RFC8032[1]!.publicKey))).rejects.toThrow(/not the private half/);
    const x = (await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
    await expect(webCryptoSigningKey(x.privateKey, hexDecode(RFC8032[0]!.publicKey))).rejects.toThrow(TypeError);
    expect(() => ed25519SigningKeyFromSeed(new Uint8Array(31))).toThrow(RangeError);
  });

  it('shows only the public key in JSON and logs', () => {
    const v = RFC8032[0]!;
    const text = JSON.stringify(ed25519SigningKeyFromSeed(hexDecode(v.secret)));
    expect(text).toContain(v.publicKey);
    expect(text).not.toContain(v.secret);
  });
});

// RFC 7748 §6.1.
const ALICE = { secret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', publicKey: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a' };
const BOB_PUBLIC = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const SHARED = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

function importX25519(secretHex: string): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', concatBytes(PKCS8_X25519, hexDecode(secretHex)), { name: 'X25519' }, false, ['deriveBits']);
}

describe('X25519 key pairs held by WebCrypto', () => {
  it('agrees on the RFC 7748 shared secret, as the same key kept as bytes does', async () => {
    const held = await X25519KeyPair.fromCryptoKey(await importX25519(ALICE.secret), hexDecode(ALICE.publicKey));
    expect(hexEncode(await held.agree(hexDecode(BOB_PUBLIC)))).toBe(SHARED);
    const raw = await X25519KeyPair.fromSecretKey(hexDecode(ALICE.secret));
    expect(hexEncode(await raw.agree(hexDecode(BOB_PUBLIC)))).toBe(SHARED);
  });

  it('cannot be exported, and says so', async () => {
    const held = await X25519KeyPair.fromCryptoKey(await importX25519(ALICE.secret), hexDecode(ALICE.publicKey));
    expect(held.extractable).toBe(false);
    expect(() => held.exportSecretKey()).toThrow(/cannot be exported/);
  });

  it('refuses a CryptoKey paired with another public key, and a low-order peer', async () => {
    await expect(X25519KeyPair.fromCryptoKey(await importX25519(ALICE.secret), hexDecode(BOB_PUBLIC))).rejects.toThrow(InvalidX25519KeyError);
    const held = await X25519KeyPair.fromCryptoKey(await importX25519(ALICE.secret), hexDecode(ALICE.publicKey));
    await expect(held.agree(new Uint8Array(32))).rejects.toThrow(InvalidX25519KeyError);
  });
});
