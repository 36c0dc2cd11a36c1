/**
 * Ed25519 key generation helpers (RFC 8032 §5.1.5) next to src/crypto/ed25519.ts, which signs and
 * verifies. The secret key is the 32-byte seed; the public key is the encoding of [s]B.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import type { Bytes } from './bytes.js';
import { ED25519_SECRET_KEY_LENGTH } from './ed25519.js';
import { defaultRandom, type RandomSource } from './random.js';

export function ed25519PublicKeyFromSecret(secretKey: Uint8Array): Bytes {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== ED25519_SECRET_KEY_LENGTH) throw new RangeError('"secretKey" expected Uint8Array of length 32');
  return ed25519.getPublicKey(secretKey) as Bytes;
}

export function ed25519GenerateSecretKey(random: RandomSource = defaultRandom): Bytes {
  return random(ED25519_SECRET_KEY_LENGTH);
}
