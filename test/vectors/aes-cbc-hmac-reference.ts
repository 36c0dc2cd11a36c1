/**
 * Test-only reference implementation of AES_256_CBC_HMAC_SHA_512 ("A256CBC-HS512"), the composite
 * authenticated encryption of RFC 7518 §5.2.2, written directly from the RFC on top of WebCrypto
 * (AES-CBC with PKCS#7 padding, HMAC-SHA-512). Used to pin jose's content encryption to RFC 7518
 * Appendix B.3; never used by the application.
 *
 * RFC 7518 §5.2.2.1 (encryption), with the §5.2.5 parameters for A256CBC-HS512:
 *   K (64 bytes):  MAC_KEY = K[0..32), ENC_KEY = K[32..64)
 *   E  = AES-256-CBC-PKCS7(ENC_KEY, IV, P)
 *   AL = bit length of A as a 64-bit big-endian unsigned integer
 *   M  = HMAC-SHA-512(MAC_KEY, A || IV || E || AL)
 *   T  = M[0..32)
 * §5.2.2.2 (decryption): recompute T and compare it with the received tag first; only then decrypt and
 * remove the padding. Any failure is a single, uninformative error.
 */
import { concatBytes, constantTimeEqual, type Bytes } from '../../src/crypto/bytes.js';

export const A256CBC_HS512 = {
  keyBytes: 64,
  macKeyBytes: 32,
  encKeyBytes: 32,
  ivBytes: 16,
  tagBytes: 32,
} as const;

export class AuthenticatedDecryptionError extends Error {
  constructor() {
    super('A256CBC-HS512: decryption failed');
    this.name = 'AuthenticatedDecryptionError';
  }
}

const subtle = globalThis.crypto.subtle;

function checkLengths(k: Uint8Array, iv: Uint8Array): void {
  if (k.length !== A256CBC_HS512.keyBytes) throw new RangeError(`K must be ${A256CBC_HS512.keyBytes} bytes, got ${k.length}`);
  if (iv.length !== A256CBC_HS512.ivBytes) throw new RangeError(`IV must be ${A256CBC_HS512.ivBytes} bytes, got ${iv.length}`);
}

/** The two halves of K (copies, so the caller's K is never aliased). */
export function splitKey(k: Uint8Array): { macKey: Bytes; encKey: Bytes } {
  return {
    macKey: k.slice(0, A256CBC_HS512.macKeyBytes),
    encKey: k.slice(A256CBC_HS512.macKeyBytes, A256CBC_HS512.keyBytes),
  };
}

/** AL: the number of bits in A, as a 64-bit big-endian unsigned integer (RFC 7518 §5.2.2.1 step 4). */
export function additionalLengthBits(a: Uint8Array): Bytes {
  const al = new Uint8Array(8);
  new DataView(al.buffer).setBigUint64(0, BigInt(a.length) * 8n, false);
  return al;
}

async function computeTag(macKey: Bytes, a: Uint8Array, iv: Uint8Array, e: Uint8Array): Promise<Bytes> {
  const key = await subtle.importKey('raw', macKey, { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']);
  const m = new Uint8Array(await subtle.sign('HMAC', key, concatBytes(a, iv, e, additionalLengthBits(a))));
  return m.slice(0, A256CBC_HS512.tagBytes);
}

export async function a256cbcHs512Encrypt(
  k: Uint8Array,
  iv: Uint8Array,
  p: Uint8Array,
  a: Uint8Array,
): Promise<{ e: Bytes; t: Bytes }> {
  checkLengths(k, iv);
  const { macKey, encKey } = splitKey(k);
  const ivCopy = iv.slice();
  const aesKey = await subtle.importKey('raw', encKey, 'AES-CBC', false, ['encrypt']);
  const e = new Uint8Array(await subtle.encrypt({ name: 'AES-CBC', iv: ivCopy }, aesKey, p.slice()));
  const t = await computeTag(macKey, a, ivCopy, e);
  return { e, t };
}

/** Throws AuthenticatedDecryptionError on a wrong tag or bad padding. */
export async function a256cbcHs512Decrypt(
  k: Uint8Array,
  iv: Uint8Array,
  e: Uint8Array,
  a: Uint8Array,
  t: Uint8Array,
): Promise<Bytes> {
  checkLengths(k, iv);
  const { macKey, encKey } = splitKey(k);
  const expected = await computeTag(macKey, a, iv, e);
  if (!constantTimeEqual(expected, t)) throw new AuthenticatedDecryptionError();
  const aesKey = await subtle.importKey('raw', encKey, 'AES-CBC', false, ['decrypt']);
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-CBC', iv: iv.slice() }, aesKey, e.slice()));
  } catch {
    throw new AuthenticatedDecryptionError();
  }
}
