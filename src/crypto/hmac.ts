/**
 * HMAC-SHA-256 (RFC 2104, FIPS 198-1): the native implementation when one is installed (native.ts;
 * ~3 µs per call here), else @noble/hashes (~6 µs). Synchronous on purpose: the Double Ratchet calls it
 * several times per message (KDF_CK, the message MAC), and a WebCrypto importKey + sign round trip costs
 * ~50 µs. HMAC-SHA-512 (@noble/hashes only: two calls per device link) is CPace's key-confirmation MAC.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { constantTimeEqual, type Bytes } from './bytes.js';
import { nativeCrypto } from './native.js';

export const HMAC_SHA256_LENGTH = 32;
export const HMAC_SHA512_LENGTH = 64;

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
}

/** HMAC-SHA-256(key, message[0] || message[1] || ...), full 32-byte output. */
export function hmacSha256(key: Uint8Array, ...message: Uint8Array[]): Bytes {
  checkBytes(key, 'key');
  for (const part of message) checkBytes(part, 'message');
  const native = nativeCrypto();
  if (native) return native.hmacSha256(key, message);
  const mac = hmac.create(sha256, key);
  for (const part of message) mac.update(part);
  return mac.digest() as Bytes;
}

/** Recomputes the tag and compares in constant time (never early-exits on the first differing byte). */
export function hmacSha256Verify(key: Uint8Array, tag: Uint8Array, ...message: Uint8Array[]): boolean {
  return constantTimeEqual(hmacSha256(key, ...message), tag);
}

/** HMAC-SHA-512(key, message[0] || message[1] || ...), full 64-byte output. */
export function hmacSha512(key: Uint8Array, ...message: Uint8Array[]): Bytes {
  checkBytes(key, 'key');
  for (const part of message) checkBytes(part, 'message');
  const mac = hmac.create(sha512, key);
  for (const part of message) mac.update(part);
  return mac.digest() as Bytes;
}
