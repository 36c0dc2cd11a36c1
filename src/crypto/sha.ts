/**
 * SHA-2 digests (FIPS 180-4) from @noble/hashes, synchronous so that iterated hashing (the safety
 * number runs SHA-512 5200 times per side) does not pay a promise per round.
 */
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';
import type { Bytes } from './bytes.js';

export const SHA256_OUTPUT_LENGTH = 32;
export const SHA512_OUTPUT_LENGTH = 64;

export function sha256(...parts: Uint8Array[]): Bytes {
  const h = nobleSha256.create();
  for (const p of parts) h.update(p);
  return h.digest() as Bytes;
}

export function sha512(...parts: Uint8Array[]): Bytes {
  const h = nobleSha512.create();
  for (const p of parts) h.update(p);
  return h.digest() as Bytes;
}
