/**
 * A256CBC-HS512 (AES_256_CBC_HMAC_SHA_512, RFC 7518 §5.2), the content encryption of the hybrid envelope.
 *
 * Vector source: RFC 7518 (JSON Web Algorithms), Appendix B.3 "Test Cases for AES_256_CBC_HMAC_SHA_512":
 * https://www.rfc-editor.org/rfc/rfc7518#appendix-B.3. The bytes below are copied from the RFC text
 * (K, P, IV, A, AL, E, T), laid out as in the RFC.
 *
 * 1. A test-only reference implementation of RFC 7518 §5.2.2 (test/vectors/aes-cbc-hmac-reference.ts,
 *    WebCrypto AES-CBC + HMAC-SHA-512) must reproduce B.3's E and T exactly and reject any tampering.
 * 2. jose's FlattenedEncrypt with alg RSA-OAEP-256 / enc A256CBC-HS512 (what src/e2ee/hybrid-envelope.ts
 *    uses) is then checked against that reference: the content key is unwrapped independently with
 *    WebCrypto RSA-OAEP (SHA-256) and the reference opens and re-creates ciphertext and tag with
 *    AAD = ASCII(protected). So jose's content encryption is exactly the construction B.3 pins.
 * 3. jose must reject the JWE when any byte of ciphertext, tag, iv, encrypted_key or protected is flipped.
 *
 * There are no Wycheproof-style `acceptable` cases here: every check is exact.
 */
import { FlattenedEncrypt, errors, flattenedDecrypt, generateKeyPair, type FlattenedJWE } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode, constantTimeEqual, hexDecode, hexEncode, utf8Decode, utf8Encode, type Bytes } from '../../src/crypto/bytes.js';
import {
  A256CBC_HS512,
  AuthenticatedDecryptionError,
  a256cbcHs512Decrypt,
  a256cbcHs512Encrypt,
  additionalLengthBits,
  splitKey,
} from '../vectors/aes-cbc-hmac-reference.js';

/** Hex as laid out in the RFC (whitespace and line breaks ignored). */
const hex = (spaced: string): Bytes => hexDecode(spaced.replace(/\s+/g, ''));

// ---- RFC 7518 Appendix B.3 ---------------------------------------------------------------------------
const B3 = {
  K: hex(`
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
    10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
    20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f
    30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f`),
  MAC_KEY: hex(`
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f
    10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f`),
  ENC_KEY: hex(`
    20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f
    30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f`),
  P: hex(`
    41 20 63 69 70 68 65 72 20 73 79 73 74 65 6d 20
    6d 75 73 74 20 6e 6f 74 20 62 65 20 72 65 71 75
    69 72 65 64 20 74 6f 20 62 65 20 73 65 63 72 65
    74 2c 20 61 6e 64 20 69 74 20 6d 75 73 74 20 62
    65 20 61 62 6c 65 20 74 6f 20 66 61 6c 6c 20 69
    6e 74 6f 20 74 68 65 20 68 61 6e 64 73 20 6f 66
    20 74 68 65 20 65 6e 65 6d 79 20 77 69 74 68 6f
    75 74 20 69 6e 63 6f 6e 76 65 6e 69 65 6e 63 65`),
  IV: hex(`1a f3 8c 2d c2 b9 6f fd d8 66 94 09 23 41 bc 04`),
  A: hex(`
    54 68 65 20 73 65 63 6f 6e 64 20 70 72 69 6e 63
    69 70 6c 65 20 6f 66 20 41 75 67 75 73 74 65 20
    4b 65 72 63 6b 68 6f 66 66 73`),
  AL: hex(`00 00 00 00 00 00 01 50`),
  E: hex(`
    4a ff aa ad b7 8c 31 c5 da 4b 1b 59 0d 10 ff bd
    3d d8 d5 d3 02 42 35 26 91 2d a0 37 ec bc c7 bd
    82 2c 30 1d d6 7c 37 3b cc b5 84 ad 3e 92 79 c2
    e6 d1 2a 13 74 b7 7f 07 75 53 df 82 94 10 44 6b
    36 eb d9 70 66 29 6a e6 42 7e a7 5c 2e 08 46 a1
    1a 09 cc f5 37 0d c8 0b fe cb ad 28 c7 3f 09 b3
    a3 b7 5e 66 2a 25 94 41 0a e4 96 b2 e2 e6 60 9e
    31 e6 e0 2c c8 37 f0 53 d2 1f 37 ff 4f 51 95 0b
    be 26 38 d0 9d d7 a4 93 09 30 80 6d 07 03 b1 f6`),
  T: hex(`
    4d d3 b4 c0 88 a7 f4 5c 21 68 39 64 5b 20 12 bf
    2e 62 69 a8 c5 6a 81 6d bc 1b 26 77 61 95 5b c5`),
} as const;

/** A copy of `bytes` with byte `i` changed (a different bit for each position). */
function flipped(bytes: Uint8Array, i: number): Bytes {
  const out = new Uint8Array(bytes);
  out[i] = out[i]! ^ (1 << (i % 8));
  return out;
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('A256CBC-HS512 reference implementation (RFC 7518 §5.2.2), against RFC 7518 Appendix B.3', () => {
  it('has the B.3 inputs as the RFC states them (K = 00..3f, P and A are the quoted ASCII sentences)', () => {
    expect(B3.K).toEqual(Uint8Array.from({ length: 64 }, (_, i) => i));
    expect(utf8Decode(B3.P)).toBe(
      'A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience',
    );
    expect(utf8Decode(B3.A)).toBe('The second principle of Auguste Kerckhoffs');
    expect([B3.P.length, B3.IV.length, B3.A.length, B3.E.length, B3.T.length]).toEqual([128, 16, 42, 144, 32]);
  });

  it('splits K into MAC_KEY = first 32 bytes and ENC_KEY = last 32 bytes, and encodes AL as the 64-bit big-endian bit length of A', () => {
    const { macKey, encKey } = splitKey(B3.K);
    expect(hexEncode(macKey)).toBe(hexEncode(B3.MAC_KEY));
    expect(hexEncode(encKey)).toBe(hexEncode(B3.ENC_KEY));
    expect(hexEncode(additionalLengthBits(B3.A))).toBe(hexEncode(B3.AL)); // 42 bytes = 336 bits = 0x150
    expect(hexEncode(additionalLengthBits(new Uint8Array(0)))).toBe('0000000000000000');
  });

  it('reproduces B.3 E and T exactly from K, P, IV and A', async () => {
    const { e, t } = await a256cbcHs512Encrypt(B3.K, B3.IV, B3.P, B3.A);
    expect(hexEncode(e)).toBe(hexEncode(B3.E));
    expect(hexEncode(t)).toBe(hexEncode(B3.T));
  });

  it('decrypts B.3 (IV, E, A, T) back to P', async () => {
    const p = await a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, B3.A, B3.T);
    expect(hexEncode(p)).toBe(hexEncode(B3.P));
  });

  it('rejects B.3 when any single byte of T, E, IV, A or K is flipped', async () => {
    const cases: Array<[string, () => Promise<Bytes>]> = [];
    for (let i = 0; i < B3.T.length; i++) cases.push([`T[${i}]`, () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, B3.A, flipped(B3.T, i))]);
    for (let i = 0; i < B3.E.length; i++) cases.push([`E[${i}]`, () => a256cbcHs512Decrypt(B3.K, B3.IV, flipped(B3.E, i), B3.A, B3.T)]);
    for (let i = 0; i < B3.IV.length; i++) cases.push([`IV[${i}]`, () => a256cbcHs512Decrypt(B3.K, flipped(B3.IV, i), B3.E, B3.A, B3.T)]);
    for (let i = 0; i < B3.A.length; i++) cases.push([`A[${i}]`, () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, flipped(B3.A, i), B3.T)]);
    for (let i = 0; i < B3.K.length; i++) cases.push([`K[${i}]`, () => a256cbcHs512Decrypt(flipped(B3.K, i), B3.IV, B3.E, B3.A, B3.T)]);
    const accepted: string[] = [];
    for (const [name, run] of cases) {
      const error = await rejects(run());
      if (!(error instanceof AuthenticatedDecryptionError)) accepted.push(name);
    }
    expect(accepted).toEqual([]);
    expect(cases).toHaveLength(32 + 144 + 16 + 42 + 64);
  });

  it('rejects B.3 with a truncated or extended tag, truncated E, or A extended by one byte', async () => {
    const bad: Array<[string, () => Promise<Bytes>]> = [
      ['T truncated to 16 bytes', () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, B3.A, B3.T.slice(0, 16))],
      ['empty T', () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, B3.A, new Uint8Array(0))],
      ['T extended by a byte', () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, B3.A, Uint8Array.from([...B3.T, 0]))],
      ['E truncated by a block', () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E.slice(0, 128), B3.A, B3.T)],
      ['A extended by a byte', () => a256cbcHs512Decrypt(B3.K, B3.IV, B3.E, Uint8Array.from([...B3.A, 0]), B3.T)],
    ];
    for (const [name, run] of bad) expect(await rejects(run()), name).toBeInstanceOf(AuthenticatedDecryptionError);
  });
});

// ---- jose cross-check ------------------------------------------------------------------------------

const ALG = 'RSA-OAEP-256';
const ENC = 'A256CBC-HS512';
const DECRYPT_OPTIONS = { keyManagementAlgorithms: [ALG], contentEncryptionAlgorithms: [ENC] };

interface CompleteJwe {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

function complete(jwe: FlattenedJWE): CompleteJwe {
  const { protected: p, encrypted_key, iv, ciphertext, tag } = jwe;
  if (p === undefined || encrypted_key === undefined || iv === undefined || tag === undefined) {
    throw new Error('jose produced a JWE without protected, encrypted_key, iv or tag');
  }
  // Nothing else: no JSON "aad", no unprotected headers, so the JWE AAD is exactly ASCII(protected).
  expect(Object.keys(jwe).sort()).toEqual(['ciphertext', 'encrypted_key', 'iv', 'protected', 'tag']);
  return { protected: p, encrypted_key, iv, ciphertext, tag };
}

/** RFC 7516 §5.1 step 14: with no JSON "aad" member, the AAD is ASCII(BASE64URL(UTF8(protected header))). */
function asciiAad(protectedB64: string): Bytes {
  expect(protectedB64).toMatch(/^[A-Za-z0-9_-]+$/);
  return utf8Encode(protectedB64); // pure ASCII, so UTF-8 = ASCII
}

describe('jose A256CBC-HS512 is exactly the RFC 7518 §5.2 construction pinned by Appendix B.3', () => {
  let publicKey: CryptoKey;
  let privateKey: CryptoKey;

  beforeAll(async () => {
    ({ publicKey, privateKey } = await generateKeyPair(ALG, { extractable: true }));
  });

  /** Unwraps the CEK ourselves, with WebCrypto RSA-OAEP / SHA-256 (not through jose). */
  async function unwrapCek(encryptedKey: string): Promise<Bytes> {
    expect(privateKey.algorithm).toMatchObject({ name: 'RSA-OAEP', modulusLength: 2048, hash: { name: 'SHA-256' } });
    return new Uint8Array(await globalThis.crypto.subtle.decrypt({ name: 'RSA-OAEP' }, privateKey, base64urlDecode(encryptedKey)));
  }

  async function joseEncrypt(plaintext: Bytes, header: Record<string, string> = {}): Promise<CompleteJwe> {
    const jwe = await new FlattenedEncrypt(plaintext).setProtectedHeader({ alg: ALG, enc: ENC, ...header }).encrypt(publicKey);
    return complete(jwe);
  }

  const PLAINTEXT_LENGTHS = [0, 1, 15, 16, 17, 31, 32, 33, 128, 1000];

  it.each(PLAINTEXT_LENGTHS)(
    'opens a jose RSA-OAEP-256/A256CBC-HS512 JWE of a %i-byte plaintext with the reference (own CEK unwrap, AAD = ASCII(protected)) and re-creates its ciphertext and tag byte for byte',
    async (length) => {
      const plaintext = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
      const jwe = await joseEncrypt(plaintext, { cty: 'e2ee-chat.message+jws' });
      expect(JSON.parse(utf8Decode(base64urlDecode(jwe.protected)))).toEqual({ alg: ALG, enc: ENC, cty: 'e2ee-chat.message+jws' });

      const cek = await unwrapCek(jwe.encrypted_key);
      expect(cek.length).toBe(A256CBC_HS512.keyBytes);
      const iv = base64urlDecode(jwe.iv);
      const ciphertext = base64urlDecode(jwe.ciphertext);
      const tag = base64urlDecode(jwe.tag);
      expect([iv.length, tag.length, ciphertext.length]).toEqual([16, 32, (Math.floor(length / 16) + 1) * 16]);
      const aad = asciiAad(jwe.protected);

      const opened = await a256cbcHs512Decrypt(cek, iv, ciphertext, aad, tag);
      expect(constantTimeEqual(opened, plaintext)).toBe(true);

      const again = await a256cbcHs512Encrypt(cek, iv, plaintext, aad);
      expect(base64urlEncode(again.e)).toBe(jwe.ciphertext);
      expect(base64urlEncode(again.t)).toBe(jwe.tag);

      // And jose itself opens what it produced (the control for the tampering test below).
      const { plaintext: viaJose } = await flattenedDecrypt(jwe, privateKey, DECRYPT_OPTIONS);
      expect(constantTimeEqual(viaJose, plaintext)).toBe(true);
    },
  );

  it("gives B.3's E byte for byte when jose is handed B.3's K as CEK, IV and P, with T the reference tag over ASCII(protected)", async () => {
    const jwe = complete(
      await new FlattenedEncrypt(B3.P)
        .setProtectedHeader({ alg: ALG, enc: ENC })
        .setContentEncryptionKey(B3.K) // deprecated in jose: "use only for testing and vector validation"
        .setInitializationVector(B3.IV)
        .encrypt(publicKey),
    );
    expect(hexEncode(await unwrapCek(jwe.encrypted_key))).toBe(hexEncode(B3.K));
    expect(hexEncode(base64urlDecode(jwe.iv))).toBe(hexEncode(B3.IV));
    // E depends only on ENC_KEY, IV and P, so it must be B.3's E exactly.
    expect(hexEncode(base64urlDecode(jwe.ciphertext))).toBe(hexEncode(B3.E));
    // T depends on A, which in JWE is ASCII(protected) rather than B.3's sentence.
    const { t } = await a256cbcHs512Encrypt(B3.K, B3.IV, B3.P, asciiAad(jwe.protected));
    expect(jwe.tag).toBe(base64urlEncode(t));
  });

  it('lets jose decrypt a JWE assembled by hand: B.3 K wrapped with WebCrypto RSA-OAEP-256, content sealed by the reference', async () => {
    const protectedB64 = base64urlEncode(utf8Encode(JSON.stringify({ alg: ALG, enc: ENC })));
    const encryptedKey = new Uint8Array(await globalThis.crypto.subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, B3.K));
    const { e, t } = await a256cbcHs512Encrypt(B3.K, B3.IV, B3.P, asciiAad(protectedB64));
    expect(hexEncode(e)).toBe(hexEncode(B3.E));
    const jwe: CompleteJwe = {
      protected: protectedB64,
      encrypted_key: base64urlEncode(encryptedKey),
      iv: base64urlEncode(B3.IV),
      ciphertext: base64urlEncode(e),
      tag: base64urlEncode(t),
    };
    const { plaintext, protectedHeader } = await flattenedDecrypt(jwe, privateKey, DECRYPT_OPTIONS);
    expect(hexEncode(plaintext)).toBe(hexEncode(B3.P));
    expect(protectedHeader).toEqual({ alg: ALG, enc: ENC });
  });

  it('makes flattenedDecrypt throw when any byte of ciphertext, tag, iv, encrypted_key or protected is flipped', async () => {
    const plaintext = utf8Encode('{"v":1,"body":"tamper with me"}');
    const jwe = await joseEncrypt(plaintext, { cty: 'e2ee-chat.message+jws' });
    // Control: the untouched JWE opens.
    expect(constantTimeEqual((await flattenedDecrypt(jwe, privateKey, DECRYPT_OPTIONS)).plaintext, plaintext)).toBe(true);

    const fields = ['ciphertext', 'tag', 'iv', 'encrypted_key', 'protected'] as const;
    const accepted: string[] = [];
    const notDecryptionFailed: string[] = [];
    const tried: Record<(typeof fields)[number], number> = { ciphertext: 0, tag: 0, iv: 0, encrypted_key: 0, protected: 0 };
    for (const field of fields) {
      const bytes = base64urlDecode(jwe[field]);
      expect(bytes.length).toBeGreaterThan(0);
      for (let i = 0; i < bytes.length; i++) {
        tried[field]++;
        const tampered: CompleteJwe = { ...jwe, [field]: base64urlEncode(flipped(bytes, i)) };
        const error = await rejects(flattenedDecrypt(tampered, privateKey, DECRYPT_OPTIONS));
        if (error === undefined) accepted.push(`${field}[${i}]`);
        // Everything except a broken header must end in the one generic decryption failure (the RSA
        // step included: jose substitutes a random CEK on unwrap failure, RFC 7516 §11.5).
        else if (field !== 'protected' && !(error instanceof errors.JWEDecryptionFailed)) {
          notDecryptionFailed.push(`${field}[${i}]: ${String(error)}`);
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(notDecryptionFailed).toEqual([]);
    expect(tried).toMatchObject({ ciphertext: 32, tag: 32, iv: 16, encrypted_key: 256 });
  });

  it('rejects a JWE whose protected header is re-serialized with the same members (the tag covers the exact protected bytes)', async () => {
    const plaintext = utf8Encode('same header, different bytes');
    const jwe = await joseEncrypt(plaintext, { cty: 'e2ee-chat.message+jws' });
    const header = JSON.parse(utf8Decode(base64urlDecode(jwe.protected))) as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(header).reverse());
    const variants = [JSON.stringify(reordered), JSON.stringify(header, null, 1), ` ${JSON.stringify(header)}`];
    for (const variant of variants) {
      const protectedB64 = base64urlEncode(utf8Encode(variant));
      expect(protectedB64).not.toBe(jwe.protected);
      const error = await rejects(flattenedDecrypt({ ...jwe, protected: protectedB64 }, privateKey, DECRYPT_OPTIONS));
      expect(error, variant).toBeInstanceOf(errors.JWEDecryptionFailed);
    }
  });
});
