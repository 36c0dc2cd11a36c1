/**
 * AES-256-GCM (NIST SP 800-38D) with a 96-bit nonce and the full 128-bit tag, from @noble/ciphers, for
 * the link channel's records (docs/PROTOCOL.md §18). Synchronous, so the link state machines stay plain
 * functions of their input in every runtime; a link carries a few records, so speed does not matter here.
 *
 * Callers own nonce uniqueness: the link channel derives each nonce from a per-direction counter under a
 * key used for one link only (SP 800-38D §8.2.1, deterministic construction).
 */
import { gcm } from '@noble/ciphers/aes.js';
import type { Bytes } from './bytes.js';

export const AES256_GCM_KEY_LENGTH = 32;
export const AES_GCM_NONCE_LENGTH = 12;
export const AES_GCM_TAG_LENGTH = 16;

function check(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES256_GCM_KEY_LENGTH) throw new RangeError('"key" expected Uint8Array of length 32');
  if (!(nonce instanceof Uint8Array) || nonce.length !== AES_GCM_NONCE_LENGTH) throw new RangeError('"nonce" expected Uint8Array of length 12');
  if (!(aad instanceof Uint8Array)) throw new TypeError('"aad" expected Uint8Array');
}

/** Returns ciphertext ‖ tag (plaintext length + 16 bytes). */
export function aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Bytes {
  check(key, nonce, aad);
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('"plaintext" expected Uint8Array');
  return gcm(key, nonce, aad).encrypt(plaintext) as Bytes;
}

/**
 * Opens ciphertext ‖ tag; undefined when the tag does not verify (or the input is shorter than a tag),
 * so callers cannot tell one failure from another and have nothing to catch.
 */
export function aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Bytes | undefined {
  check(key, nonce, aad);
  if (!(sealed instanceof Uint8Array)) throw new TypeError('"sealed" expected Uint8Array');
  if (sealed.length < AES_GCM_TAG_LENGTH) return undefined;
  try {
    return gcm(key, nonce, aad).decrypt(sealed) as Bytes;
  } catch {
    return undefined;
  }
}
