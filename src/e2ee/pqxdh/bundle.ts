/**
 * The prekey bundle Alice fetches (PQXDH spec §3.3) and its verification: the identity binding, the
 * signed prekey signature and the KEM prekey signature must all verify (strict RFC 8032) or the protocol
 * aborts with ChatError('bad_signature'); wrong key sizes or low-order keys abort with ChatError('bad_request').
 */
import type { Bytes } from '../../crypto/bytes.js';
import { ED25519_SIGNATURE_LENGTH, ed25519Verify } from '../../crypto/ed25519.js';
import { MLKEM1024_PUBLIC_KEY_LENGTH } from '../../crypto/mlkem.js';
import { X25519_KEY_LENGTH } from '../../crypto/x25519.js';
import { ChatError } from '../../protocol/errors.js';
import { checkPreKeyId, kemPreKeyMessage, signedPreKeyMessage } from './encoding.js';
import { verifyIdentityBinding, type LocalIdentity, type PublicIdentity } from './identity.js';
import type { KemPreKeyRecord, OneTimePreKeyRecord, SignedPreKeyRecord } from './prekeys.js';

export interface PreKeyBundle {
  readonly identity: PublicIdentity;
  readonly signedPreKey: { readonly id: number; readonly publicKey: Bytes; readonly signature: Bytes };
  /** A one-time ML-KEM prekey when the server has one left, else the last-resort one (spec §3.3). */
  readonly kemPreKey: { readonly id: number; readonly publicKey: Bytes; readonly signature: Bytes };
  /** Absent when the server ran out of one-time curve prekeys. */
  readonly oneTimePreKey?: { readonly id: number; readonly publicKey: Bytes };
}

function fail(code: 'bad_signature' | 'bad_request', what: string): never {
  throw new ChatError(code, `prekey bundle rejected: ${what}`);
}

/** Sizes and id ranges only (cheap); throws ChatError('bad_request'). */
export function checkPreKeyBundleShape(bundle: PreKeyBundle): void {
  const { identity, signedPreKey, kemPreKey, oneTimePreKey } = bundle;
  if (identity?.dhKey?.length !== X25519_KEY_LENGTH) fail('bad_request', 'identity key size');
  if (signedPreKey?.publicKey?.length !== X25519_KEY_LENGTH) fail('bad_request', 'signed prekey size');
  if (kemPreKey?.publicKey?.length !== MLKEM1024_PUBLIC_KEY_LENGTH) fail('bad_request', 'KEM prekey size');
  if (oneTimePreKey && oneTimePreKey.publicKey?.length !== X25519_KEY_LENGTH) fail('bad_request', 'one-time prekey size');
  for (const id of [signedPreKey.id, kemPreKey.id, ...(oneTimePreKey ? [oneTimePreKey.id] : [])]) {
    try {
      checkPreKeyId(id);
    } catch {
      fail('bad_request', 'prekey id out of range');
    }
  }
}

/** Spec §3.3: "Alice verifies the prekey signatures and aborts the protocol if verification fails." */
export function verifyPreKeyBundle(bundle: PreKeyBundle): void {
  checkPreKeyBundleShape(bundle);
  const { identity, signedPreKey, kemPreKey } = bundle;
  if (!verifyIdentityBinding(identity)) fail('bad_signature', 'identity binding signature');
  const ok = (sig: Bytes, msg: Bytes) => sig?.length === ED25519_SIGNATURE_LENGTH && ed25519Verify(sig, msg, identity.signingKey);
  if (!ok(signedPreKey.signature, signedPreKeyMessage(signedPreKey.publicKey))) fail('bad_signature', 'signed prekey signature');
  if (!ok(kemPreKey.signature, kemPreKeyMessage(kemPreKey.publicKey))) fail('bad_signature', 'KEM prekey signature');
}

/** What Bob (or the server on his behalf) hands out: public parts of the chosen records. */
export function buildPreKeyBundle(
  identity: LocalIdentity,
  signedPreKey: SignedPreKeyRecord,
  kemPreKey: KemPreKeyRecord,
  oneTimePreKey?: OneTimePreKeyRecord,
): PreKeyBundle {
  return {
    identity: identity.publicIdentity(),
    signedPreKey: { id: signedPreKey.id, publicKey: signedPreKey.keyPair.publicKey, signature: signedPreKey.signature },
    kemPreKey: { id: kemPreKey.id, publicKey: kemPreKey.publicKey, signature: kemPreKey.signature },
    ...(oneTimePreKey ? { oneTimePreKey: { id: oneTimePreKey.id, publicKey: oneTimePreKey.keyPair.publicKey } } : {}),
  };
}
