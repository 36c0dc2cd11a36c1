/**
 * The shapes of incremental ciphers and hashes (incremental.ts), apart from their implementations so
 * that the native backend's description (native.ts) can name them without importing the code that uses
 * the backend.
 */
import type { Bytes } from './bytes.js';

/**
 * A cipher fed in pieces. `update` returns what can be output so far (possibly nothing); `final`
 * returns the rest. The outputs may be views of memory the implementation owns: copy before keeping
 * them beyond the next call, and never wipe them.
 */
export interface IncrementalCipher {
  update(data: Uint8Array): Uint8Array;
  /** Encryption: the last block, PKCS#7-padded. Decryption: the last block unpadded; throws on bad padding. */
  final(): Uint8Array;
}

/** A hash or MAC fed in pieces. */
export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Bytes;
}

/** What a native backend provides (native.ts `incremental`); arguments are checked before it is called. */
export interface NativeIncremental {
  aes256CbcEncryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher;
  aes256CbcDecryptor(key: Uint8Array, iv: Uint8Array): IncrementalCipher;
  hmacSha256(key: Uint8Array): IncrementalHash;
  sha256(): IncrementalHash;
}
