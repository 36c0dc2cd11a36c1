/**
 * Ed25519 (RFC 8032) signatures over raw bytes, used for the login challenge. Message signatures use
 * JWS (see e2ee/hybrid-envelope.ts), which reaches the same primitive through WebCrypto.
 */
import { ed25519 } from '@noble/curves/ed25519.js';

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SECRET_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_LENGTH) throw new RangeError('"secretKey" expected 32 bytes');
  return ed25519.sign(message, secretKey);
}

/**
 * Strict RFC 8032 verification (zip215 off): rejects non-canonical encodings of R, A and S, so that one
 * message has exactly one accepted signature per key. Never throws: malformed input is simply false.
 */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
