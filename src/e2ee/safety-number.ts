/**
 * Safety numbers: Signal's numeric fingerprint (libsignal NumericFingerprintGenerator,
 * rust/protocol/src/fingerprint.rs; "displayable" 60-digit form), computed over each side's Ed25519
 * identity key and stable identifier (the username, UTF-8).
 *
 * Per side, with K = the encoded identity key and ID = the stable identifier:
 *   H_0 = SHA-512(0x00 0x00 || K || ID || K)        (0x0000 = fingerprint hash version, big-endian u16)
 *   H_i = SHA-512(H_{i-1} || K)                      for i = 1 .. 5199 (5200 hashes in all)
 *   digits = for j in 0..5: (uint40 big-endian of H[5j .. 5j+5]) mod 100000, zero-padded to 5 digits
 * The 60-digit number is the two 30-digit strings concatenated, the lexicographically smaller first, so
 * both parties display the same number.
 *
 * Key encoding K: Signal uses 0x05 || 32-byte Curve25519 key. Our identity key is the Ed25519 key
 * registered with the server (which, by the PQXDH identity binding, vouches for the X25519 identity key),
 * so K = 0xED || 32-byte Ed25519 public key (RFC 8032 §5.1.5): the same type-byte scheme as PQXDH's
 * encodings (pqxdh/constants.ts), with a byte that can never collide with Signal's 0x05 keys.
 */
import { utf8Encode, type Bytes } from '../crypto/bytes.js';
import { ED25519_PUBLIC_KEY_LENGTH } from '../crypto/ed25519.js';
import { sha512 } from '../crypto/sha.js';
import { encodeEd } from './pqxdh/encoding.js';

/** libsignal's iteration count for safety numbers (> 112 bits of work per its documentation). */
export const SAFETY_NUMBER_ITERATIONS = 5200;
/** The u16 hash-input version of libsignal's fingerprint (not the scannable-format version). */
export const FINGERPRINT_HASH_VERSION = Uint8Array.of(0x00, 0x00);
export const SAFETY_NUMBER_DIGITS = 60;

export interface SafetyNumberParty {
  /** Ed25519 identity public key, 32 bytes. */
  readonly identityKey: Uint8Array;
  /** Stable identifier: the username. */
  readonly username: string;
}

/** The 64-byte iterated hash for one side; `encodedKey` already carries its type byte. */
export function fingerprintHash(encodedKey: Uint8Array, stableId: Uint8Array, iterations = SAFETY_NUMBER_ITERATIONS): Bytes {
  if (!Number.isInteger(iterations) || iterations < 2 || iterations > 1_000_000) throw new RangeError('"iterations" out of range'); // libsignal's bounds
  let hash = sha512(FINGERPRINT_HASH_VERSION, encodedKey, stableId, encodedKey);
  for (let i = 1; i < iterations; i++) hash = sha512(hash, encodedKey);
  return hash;
}

/** 30 digits: six 5-byte big-endian chunks of the hash, each mod 100000. */
export function fingerprintDigits(hash: Uint8Array): string {
  let out = '';
  for (let chunk = 0; chunk < 6; chunk++) {
    let value = 0;
    for (let i = 0; i < 5; i++) value = value * 256 + hash[chunk * 5 + i]!; // < 2^40, exact in a double
    out += String(value % 100_000).padStart(5, '0');
  }
  return out;
}

/** Signal's combined displayable fingerprint for already-encoded keys and raw stable identifiers. */
export function numericFingerprint(
  localKey: Uint8Array,
  localId: Uint8Array,
  remoteKey: Uint8Array,
  remoteId: Uint8Array,
  iterations = SAFETY_NUMBER_ITERATIONS,
): string {
  const local = fingerprintDigits(fingerprintHash(localKey, localId, iterations));
  const remote = fingerprintDigits(fingerprintHash(remoteKey, remoteId, iterations));
  return local < remote ? local + remote : remote + local;
}

/** Our safety number: 60 digits, identical on both sides. */
export function safetyNumber(local: SafetyNumberParty, remote: SafetyNumberParty): string {
  for (const p of [local, remote]) if (p.identityKey.length !== ED25519_PUBLIC_KEY_LENGTH) throw new RangeError('"identityKey" expected 32 bytes');
  return numericFingerprint(encodeEd(local.identityKey), utf8Encode(local.username), encodeEd(remote.identityKey), utf8Encode(remote.username));
}

/** For display: twelve groups of five digits separated by spaces. */
export function formatSafetyNumber(digits: string): string {
  return digits.match(/\d{5}/g)?.join(' ') ?? digits;
}
