/**
 * An optional native implementation of the primitives the protocol runs most often (X25519, Ed25519,
 * HMAC-SHA-256, HKDF-SHA-256, AES-256-CBC), installed by a runtime-specific entry point
 * (src/crypto/node/node-crypto.ts on Node: the CLI, the server and the library's Node entry). The protocol
 * core stays runtime-neutral: without one, x25519.ts uses WebCrypto or @noble/curves and the others use
 * @noble/curves, @noble/hashes and @noble/ciphers.
 *
 * Why it exists: on Node, WebCrypto runs each X25519 operation as an asynchronous job (~80–130 µs) and
 * pure-JS Ed25519 verification costs ~1.2 ms, while node:crypto's synchronous OpenSSL calls take 30–80 µs;
 * HMAC, HKDF and AES-CBC take about half the time of @noble's. PQXDH setup verifies four signatures and the
 * Double Ratchet does two derivations and one key generation per DH step, so these costs are most of a
 * session setup and of a ping-pong exchange (docs/PROTOCOL.md §16.14). Every implementation must pass the
 * same Wycheproof vectors (test/crypto runs each vector file against each implementation).
 */
import type { Bytes } from './bytes.js';
import type { NativeIncremental } from './incremental-types.js';

/** Opaque, implementation-specific key handles (e.g. node:crypto KeyObjects). */
export type NativePrivateKey = { readonly __nativePrivateKey: unique symbol };
export type NativePublicKey = { readonly __nativePublicKey: unique symbol };

export interface NativeCrypto {
  readonly name: string;
  /** The longest HKDF info this implementation takes (node:crypto: 1024 bytes); longer goes to noble. */
  readonly hkdfMaxInfoLength: number;
  /** A fresh X25519 key pair from the platform CSPRNG, with a handle for derivations. */
  x25519Generate(): { publicKey: Bytes; secretKey: Bytes; handle: NativePrivateKey };
  /** Imports a secret; returns its public key X25519(secret, 9) and a handle. */
  x25519Import(secretKey: Uint8Array): { publicKey: Bytes; handle: NativePrivateKey };
  /** Imports a peer's public key, for one or more derivations. */
  x25519ImportPublic(publicKey: Uint8Array): NativePublicKey;
  /** X25519(secret, peer). Throws for a low-order peer (all-zero output). */
  x25519Derive(handle: NativePrivateKey, peer: NativePublicKey): Bytes;
  /** RFC 8032 Ed25519 signature with a 32-byte seed. */
  ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Bytes;
  /** RFC 8032 verification; false for any malformed input, never throws. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * A fresh RSA key pair (e = 65537) as a private JWK, its encoding done inside the generation job (see
   * node/node-crypto.ts for why that matters on Node).
   */
  rsaGenerateJwk(modulusBits: number): Promise<{ kty: 'RSA'; n: string; e: string; d: string; p: string; q: string; dp: string; dq: string; qi: string }>;
  /** AES-256-CBC with PKCS#7 padding; decryption throws on bad padding. Arguments already checked. */
  aes256CbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Bytes;
  aes256CbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Bytes;
  /** HMAC-SHA-256 (RFC 2104) over the concatenation of the parts. */
  hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Bytes;
  /** HKDF-SHA-256 (RFC 5869); arguments already checked by the caller, info at most hkdfMaxInfoLength. */
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Bytes;
  /**
   * Incremental AES-256-CBC, HMAC-SHA-256 and SHA-256 for attachments (incremental.ts). Optional: an
   * implementation without them leaves those to @noble.
   */
  readonly incremental?: NativeIncremental;
}

let installed: NativeCrypto | undefined;

/** Installs (or, with `undefined`, removes) the native implementation for this process. */
export function installNativeCrypto(implementation: NativeCrypto | undefined): void {
  installed = implementation;
}

export function nativeCrypto(): NativeCrypto | undefined {
  return installed;
}
