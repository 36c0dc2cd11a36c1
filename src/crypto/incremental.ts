/**
 * Incremental forms of AES-256-CBC (PKCS#7), HMAC-SHA-256 and SHA-256, for data too large to hold in
 * memory at once (attachments, attachment-cipher.ts): the caller feeds it in pieces and gets output as it
 * goes. The native implementation when one is installed (native.ts: node:crypto, OpenSSL with AES-NI
 * and SHA extensions, an order of magnitude faster than pure JS on 100 MiB), else @noble's.
 *
 * CBC over pieces is CBC over their concatenation (SP 800-38A §6.2): each piece's whole blocks are
 * chained on from the last ciphertext block of the piece before; only the final block is padded.
 */
import { cbc } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { AES256_KEY_LENGTH, AES_BLOCK_LENGTH } from './aes-cbc.js';
import { nativeCrypto } from './native.js';

import type { Bytes } from './bytes.js';
import type { IncrementalCipher, IncrementalHash } from './incremental-types.js';

export type { IncrementalCipher, IncrementalHash, NativeIncremental } from './incremental-types.js';

const EMPTY = new Uint8Array(0);

function check(key: Uint8Array, iv: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AES256_KEY_LENGTH) throw new RangeError('"key" expected Uint8Array of length 32');
  if (!(iv instanceof Uint8Array) || iv.length !== AES_BLOCK_LENGTH) throw new RangeError('"iv" expected Uint8Array of length 16');
}

/**
 * Pieces of CBC over @noble/ciphers: the bytes that do not fill a block wait for the next piece, and
 * decryption always keeps the last whole block back for `final` (the padding check).
 */
class NobleCbc implements IncrementalCipher {
  private iv: Uint8Array;
  private pending: Uint8Array = EMPTY;

  constructor(
    private readonly key: Uint8Array,
    iv: Uint8Array,
    private readonly decrypt: boolean,
  ) {
    this.iv = Uint8Array.from(iv);
  }

  update(data: Uint8Array): Uint8Array {
    const input = this.pending.length === 0 ? data : concat(this.pending, data);
    let whole = input.length - (input.length % AES_BLOCK_LENGTH);
    // Decryption keeps the last whole block back: only `final` may strip its padding.
    if (this.decrypt && whole === input.length) whole -= AES_BLOCK_LENGTH;
    if (whole <= 0) {
      this.pending = Uint8Array.from(input);
      return EMPTY;
    }
    const blocks = input.subarray(0, whole);
    const cipher = cbc(this.key, this.iv, { disablePadding: true });
    const out = this.decrypt ? cipher.decrypt(blocks) : cipher.encrypt(blocks);
    // The next piece chains on from the last ciphertext block: the output's when encrypting, the input's when decrypting.
    this.iv = Uint8Array.from((this.decrypt ? blocks : out).subarray(whole - AES_BLOCK_LENGTH));
    this.pending = Uint8Array.from(input.subarray(whole));
    return out;
  }

  final(): Uint8Array {
    const rest = this.pending;
    this.pending = EMPTY;
    if (!this.decrypt) return cbc(this.key, this.iv).encrypt(rest);
    if (rest.length !== AES_BLOCK_LENGTH) throw new RangeError('"ciphertext" length is not a positive multiple of 16');
    return cbc(this.key, this.iv).decrypt(rest);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Incremental AES-256-CBC encryption with PKCS#7 padding at `final`. */
export function aes256CbcEncryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher {
  check(key, iv);
  return nativeCrypto()?.incremental?.aes256CbcEncryptor(key, iv) ?? new NobleCbc(key, iv, false);
}

/**
 * Incremental AES-256-CBC decryption; `final` strips the PKCS#7 padding and throws if it is malformed.
 * Unauthenticated: callers verify a MAC over the whole ciphertext before calling `final`, so a padding
 * failure can never act as an oracle.
 */
export function aes256CbcDecryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher {
  check(key, iv);
  return nativeCrypto()?.incremental?.aes256CbcDecryptor(key, iv) ?? new NobleCbc(key, iv, true);
}

/** Incremental HMAC-SHA-256 (RFC 2104), full 32-byte output. */
export function hmacSha256Incremental(key: Uint8Array): IncrementalHash {
  if (!(key instanceof Uint8Array)) throw new TypeError('"key" expected Uint8Array');
  const native = nativeCrypto()?.incremental;
  if (native) return native.hmacSha256(key);
  const mac = hmac.create(nobleSha256, key);
  return { update: (data) => void mac.update(data), digest: () => mac.digest() as Bytes };
}

/** Incremental SHA-256 (FIPS 180-4). */
export function sha256Incremental(): IncrementalHash {
  const native = nativeCrypto()?.incremental;
  if (native) return native.sha256();
  const hash = nobleSha256.create();
  return { update: (data) => void hash.update(data), digest: () => hash.digest() as Bytes };
}
