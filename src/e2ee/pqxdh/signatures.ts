/**
 * The three PQXDH signature checks as pure boolean functions over raw public bytes (docs/PROTOCOL.md
 * §16.4): the identity binding, the signed prekey and an ML-KEM prekey, all Ed25519 (strict RFC 8032) by
 * the user's registered signing key. This module holds no secret and no session code, which is why the
 * server may import it (test/architecture.test.ts): it verifies uploads, it cannot decrypt anything.
 */
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, ed25519Verify } from '../../crypto/ed25519.js';
import { MLKEM1024_PUBLIC_KEY_LENGTH } from '../../crypto/mlkem.js';
import { X25519_KEY_LENGTH } from '../../crypto/x25519.js';
import { identityBindingMessage, kemPreKeyMessage, signedPreKeyMessage } from './encoding.js';

function verify(signature: Uint8Array, message: () => Uint8Array, signingKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH || signingKey.length !== ED25519_PUBLIC_KEY_LENGTH) return false;
  return ed25519Verify(signature, message(), signingKey);
}

/** Binding of the X25519 identity key IK to the Ed25519 identity key IDS; false for any malformed input. */
export function verifyIdentityBindingSignature(signingKey: Uint8Array, dhKey: Uint8Array, signature: Uint8Array): boolean {
  return dhKey.length === X25519_KEY_LENGTH && verify(signature, () => identityBindingMessage(signingKey, dhKey), signingKey);
}

export function verifySignedPreKeySignature(signingKey: Uint8Array, preKey: Uint8Array, signature: Uint8Array): boolean {
  return preKey.length === X25519_KEY_LENGTH && verify(signature, () => signedPreKeyMessage(preKey), signingKey);
}

export function verifyKemPreKeySignature(signingKey: Uint8Array, preKey: Uint8Array, signature: Uint8Array): boolean {
  return preKey.length === MLKEM1024_PUBLIC_KEY_LENGTH && verify(signature, () => kemPreKeyMessage(preKey), signingKey);
}
