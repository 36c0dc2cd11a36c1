/**
 * Our identity: an Ed25519 signing key IDS (the key registered with the server, RFC 8032) plus an X25519
 * identity key IK used in the PQXDH DHs, bound to IDS by an Ed25519 signature over
 * identityBindingMessage(IDS, IK).
 *
 * ADAPTATION of PQXDH spec §2.4 (one XEdDSA key that both signs and does DH): here the signing role is
 * IDS and the DH role is IK. A peer that trusts IDS and verifies the binding trusts IK exactly as it would
 * trust the single XEdDSA key; every DH of spec §3.3 is unchanged; AD carries IK_A, IK_B and both IDS
 * keys. docs/PROTOCOL.md §16 §"Identity adaptation" argues why the spec's properties are kept.
 *
 * IDS's secret stays behind the Ed25519SigningKey interface (src/crypto/signing-key.ts): raw bytes in
 * the CLI's folder, a non-extractable WebCrypto key in a browser.
 */
import { hexEncode, type Bytes } from '../../crypto/bytes.js';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, ed25519Verify } from '../../crypto/ed25519.js';
import type { Ed25519SigningKey } from '../../crypto/signing-key.js';
import type { RandomSource } from '../../crypto/random.js';
import { X25519KeyPair, X25519_KEY_LENGTH } from '../../crypto/x25519.js';
import { identityBindingMessage } from './encoding.js';

/** What peers learn about an identity (in a bundle, or in an initial message). */
export interface PublicIdentity {
  /** IDS: Ed25519 public key, 32 bytes. */
  readonly signingKey: Bytes;
  /** IK: X25519 public key, 32 bytes. */
  readonly dhKey: Bytes;
  /** Ed25519 signature by IDS over identityBindingMessage(IDS, IK), 64 bytes. */
  readonly binding: Bytes;
}

/** Strict RFC 8032 check of the binding; false (never a throw) for any malformed field. */
export function verifyIdentityBinding(identity: PublicIdentity): boolean {
  if (identity.signingKey?.length !== ED25519_PUBLIC_KEY_LENGTH || identity.dhKey?.length !== X25519_KEY_LENGTH) return false;
  if (identity.binding?.length !== ED25519_SIGNATURE_LENGTH) return false;
  return ed25519Verify(identity.binding, identityBindingMessage(identity.signingKey, identity.dhKey), identity.signingKey);
}

export class LocalIdentity {
  readonly signingPublicKey: Bytes;
  readonly dhKeyPair: X25519KeyPair;
  readonly binding: Bytes;
  readonly #signingKey: Ed25519SigningKey;

  private constructor(signingKey: Ed25519SigningKey, dhKeyPair: X25519KeyPair, binding: Bytes) {
    this.#signingKey = signingKey;
    this.signingPublicKey = signingKey.publicKey;
    this.dhKeyPair = dhKeyPair;
    this.binding = binding;
  }

  /** A new X25519 identity key for an existing Ed25519 signing key, with its binding signature. */
  static async generate(signingKey: Ed25519SigningKey, random?: RandomSource): Promise<LocalIdentity> {
    const dhKeyPair = await X25519KeyPair.generate(random);
    const binding = await signingKey.sign(identityBindingMessage(signingKey.publicKey, dhKeyPair.publicKey));
    return new LocalIdentity(signingKey, dhKeyPair, binding);
  }

  /** Rebuilds a saved identity; checks that the binding verifies so a corrupted save fails early. */
  static restore(signingKey: Ed25519SigningKey, dhKeyPair: X25519KeyPair, binding: Uint8Array): LocalIdentity {
    const identity = new LocalIdentity(signingKey, dhKeyPair, Uint8Array.from(binding));
    if (!verifyIdentityBinding(identity.publicIdentity())) throw new TypeError('saved identity binding does not verify');
    return identity;
  }

  /** Ed25519 signature by IDS (RFC 8032, deterministic). */
  sign(message: Uint8Array): Promise<Bytes> {
    return this.#signingKey.sign(message);
  }

  publicIdentity(): PublicIdentity {
    return { signingKey: this.signingPublicKey, dhKey: this.dhKeyPair.publicKey, binding: this.binding };
  }

  toJSON(): { type: 'LocalIdentity'; signingKey: string; dhKey: string } {
    return { type: 'LocalIdentity', signingKey: hexEncode(this.signingPublicKey), dhKey: hexEncode(this.dhKeyPair.publicKey) };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `LocalIdentity { signingKey: ${hexEncode(this.signingPublicKey)}, dhKey: ${hexEncode(this.dhKeyPair.publicKey)} }`;
  }
}
