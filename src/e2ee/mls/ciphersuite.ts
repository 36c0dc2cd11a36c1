/**
 * The one MLS ciphersuite our groups use (docs/design/groups-mls.md §2), and its implementation bound to
 * one device's signing key.
 *
 * MLS_256_XWING_AES256GCM_SHA512_Ed25519 (ts-mls code point 83): the X-Wing hybrid KEM (X25519 +
 * ML-KEM-768) for every HPKE encryption of path secrets and Welcome secrets, so a recording of today's
 * handshakes stays closed to a quantum computer later; Ed25519 signatures, so a member's MLS signature key
 * is exactly the device key its user's signed device list names (PROTOCOL.md §17).
 *
 * ts-mls passes a signing secret as bytes to `signature.sign`, and keeps those bytes in its group state.
 * We route signing to the device's Ed25519SigningKey instead and hand ts-mls an empty placeholder: the
 * secret stays behind its interface (a browser's is a non-extractable WebCrypto key), and no group state,
 * in memory or serialised, ever contains it. Verification goes through our strict Ed25519 check, the one
 * every other signature of the protocol uses.
 */
import { ciphersuites, getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName } from 'ts-mls';
import { ed25519Verify } from '../../crypto/ed25519.js';
import type { Ed25519SigningKey } from '../../crypto/signing-key.js';

export const GROUP_CIPHERSUITE_NAME: CiphersuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
/** The code point as it appears in KeyPackages, Welcomes and GroupContexts (uint16). */
export const GROUP_CIPHERSUITE_ID = ciphersuites[GROUP_CIPHERSUITE_NAME];

/** What ts-mls holds where it would hold a signing secret: nothing. The real key signs through the hook. */
export const SIGNING_SECRET_PLACEHOLDER = new Uint8Array(0);

let base: Promise<CiphersuiteImpl> | undefined;

/** The suite's KEM, AEAD, KDF and hash from ts-mls (X-Wing from @hpke/hybridkem-x-wing), built once. */
function baseCiphersuite(): Promise<CiphersuiteImpl> {
  base ??= getCiphersuiteImpl(getCiphersuiteFromName(GROUP_CIPHERSUITE_NAME));
  return base;
}

/** Called with the signer's public key each time a signature verifies (see group-messages.ts). */
export type VerifiedSignatureListener = (publicKey: Uint8Array, signContent: Uint8Array) => void;

/**
 * The ciphersuite for one device: signs with `signingKey` whatever bytes ts-mls passes as the secret,
 * verifies strictly, and refuses to make signature keys (a member's key is its device key, never a
 * fresh one).
 */
export async function deviceCiphersuite(signingKey: Ed25519SigningKey, onVerified?: VerifiedSignatureListener): Promise<CiphersuiteImpl> {
  const suite = await baseCiphersuite();
  return {
    ...suite,
    signature: {
      sign: (_placeholder: Uint8Array, message: Uint8Array) => signingKey.sign(message),
      verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => {
        const ok = ed25519Verify(signature, message, publicKey);
        if (ok) onVerified?.(publicKey, message);
        return Promise.resolve(ok);
      },
      keygen: () => Promise.reject(new TypeError('MLS signature keys are device keys; none is generated')),
    },
  };
}
