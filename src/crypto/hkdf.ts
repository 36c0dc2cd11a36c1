/**
 * HKDF with SHA-256 (RFC 5869): the native implementation when one is installed and takes the input
 * (native.ts), else @noble/hashes. Used by PQXDH (spec §2.2 KDF) and by the Double Ratchet's KDF_RK and
 * ENCRYPT (Double Ratchet spec §5.2).
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Bytes } from './bytes.js';
import { nativeCrypto } from './native.js';

/** RFC 5869 §2.3: L <= 255 * HashLen. */
export const HKDF_SHA256_MAX_OUTPUT = 255 * 32;

/**
 * OKM = HKDF-Expand(HKDF-Extract(salt, ikm), info, length). An empty salt means HashLen zero bytes
 * (RFC 5869 §2.2). Throws RangeError for a length outside 1..8160.
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Bytes {
  for (const [name, v] of [['ikm', ikm], ['salt', salt], ['info', info]] as const) {
    if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
  }
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_MAX_OUTPUT) {
    throw new RangeError(`"length" expected an integer in 1..${HKDF_SHA256_MAX_OUTPUT}`);
  }
  const native = nativeCrypto();
  if (native && info.length <= native.hkdfMaxInfoLength) return native.hkdfSha256(ikm, salt, info, length);
  return hkdf(sha256, ikm, salt, info, length) as Bytes;
}
