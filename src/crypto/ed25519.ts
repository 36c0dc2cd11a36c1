/**
 * Ed25519 (RFC 8032) signatures over raw bytes: the login challenge, PQXDH identity bindings and prekeys.
 * Hybrid-envelope signatures use JWS (see e2ee/hybrid-envelope.ts), which reaches the same primitive
 * through WebCrypto. The native implementation is used when one is installed (native.ts), else
 * @noble/curves; both pass the same Wycheproof vectors with the same strictness (test/crypto).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexEncode } from './bytes.js';
import { nativeCrypto } from './native.js';

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SECRET_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

export function ed25519Sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== ED25519_SECRET_KEY_LENGTH) throw new RangeError('"secretKey" expected 32 bytes');
  const native = nativeCrypto();
  return native ? native.ed25519Sign(message, secretKey) : ed25519.sign(message, secretKey);
}

/** Public keys already checked by acceptablePublicKey, with the answer (identity keys recur: cache them). */
const checkedKeys = new Map<string, boolean>();
const CHECKED_KEYS_MAX = 4096;

/**
 * What @noble/curves' strict mode requires of A before it verifies, applied before a native verifier
 * (OpenSSL accepts a non-canonical y and small-order keys, for which (R = identity, S = 0) then "verifies"
 * any message): y < p, and A not of small order. Costs a point decoding (~110 µs), hence the cache.
 */
function acceptablePublicKey(publicKey: Uint8Array): boolean {
  const id = hexEncode(publicKey);
  let ok = checkedKeys.get(id);
  if (ok === undefined) {
    try {
      ok = !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
    } catch {
      ok = false;
    }
    if (checkedKeys.size >= CHECKED_KEYS_MAX) checkedKeys.delete(checkedKeys.keys().next().value!);
    checkedKeys.set(id, ok);
  }
  return ok;
}

/**
 * Whether a public key passes the key checks strict verification applies (canonical y < p, not of small
 * order), without a signature: for keys listed before anything is signed with them (a device list's DSK).
 */
export function ed25519PublicKeyAcceptable(publicKey: Uint8Array): boolean {
  return publicKey instanceof Uint8Array && publicKey.length === ED25519_PUBLIC_KEY_LENGTH && acceptablePublicKey(publicKey);
}

/**
 * Strict RFC 8032 verification: rejects non-canonical encodings of R, A and S and small-order keys A, so
 * that one message has exactly one accepted signature per honest key. Never throws: malformed input is
 * simply false. The one difference left between backends: @noble/curves checks the cofactored equation
 * and OpenSSL the cofactorless one; they disagree only on signatures the key's own holder crafted with a
 * small-order component, never on a forgery (docs/PROTOCOL.md §16.4).
 */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  const native = nativeCrypto();
  if (native) return acceptablePublicKey(publicKey) && native.ed25519Verify(signature, message, publicKey);
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
