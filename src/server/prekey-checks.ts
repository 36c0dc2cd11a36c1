/**
 * The checks on published prekeys, for `prekeys.upload` and for the first prekeys a device list's added
 * device brings (`devices.publish`, design §6.7): no low-order X25519 key (`bad_request`), then every
 * signature under the device's own signing key (`bad_signature`), so the directory never serves a key
 * its device did not sign.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { isLowOrderX25519Key } from '../crypto/x25519-low-order.js';
import { verifyIdentityBindingSignature, verifyKemPreKeySignature, verifySignedPreKeySignature } from '../e2ee/pqxdh/signatures.js';
import { ChatError } from '../protocol/errors.js';
import type { IdentityKeyWire, KemPreKeyWire, OneTimePreKeyWire, SignedPreKeyWire } from '../protocol/prekey-schemas.js';

/** The keys of an upload that carry checks; absent members are not checked. */
export interface PublishedPreKeys {
  identity: IdentityKeyWire;
  signedPreKey?: SignedPreKeyWire | undefined;
  lastResortKemPreKey?: KemPreKeyWire | undefined;
  oneTimePreKeys?: readonly OneTimePreKeyWire[] | undefined;
  kemPreKeys?: readonly KemPreKeyWire[] | undefined;
}

/** The bytes of a base64url text, or undefined if it is not canonical base64url (schemas check the alphabet and length only). */
function decoded(text: string): Uint8Array | undefined {
  try {
    return base64urlDecode(text);
  } catch {
    return undefined;
  }
}

/**
 * Throws `bad_request` naming the first X25519 key that is low-order: X25519 with it gives the all-zero
 * shared secret, which every client refuses (docs/PROTOCOL.md §16.5), so storing it would only hand out
 * bundles no one can use. A one-time key, which nothing signs, is refused here too when its text is not
 * canonical base64url; a signed key that is not fails its signature check. `prefix` is the path of the
 * keys in the payload (`added.` in a publish).
 */
export function refuseLowOrderKeys(p: PublishedPreKeys, prefix = ''): void {
  const signed: Array<[string, string]> = [
    ['identity.dhKey', p.identity.dhKey],
    ...(p.signedPreKey ? [['signedPreKey.publicKey', p.signedPreKey.publicKey] as [string, string]] : []),
  ];
  const oneTime = (p.oneTimePreKeys ?? []).map((k, i): [string, string] => [`oneTimePreKeys.${i}.publicKey`, k.publicKey]);
  for (const [path, key] of [...signed, ...oneTime]) {
    const bytes = decoded(key);
    if (!bytes && oneTime.some(([other]) => other === path)) throw new ChatError('bad_request', `${prefix}${path}: not canonical base64url`);
    if (bytes && isLowOrderX25519Key(bytes)) {
      throw new ChatError('bad_request', `${prefix}${path}: low-order X25519 key (its shared secrets are all zero)`);
    }
  }
}

/**
 * Throws `bad_signature` naming the first key whose signature does not verify under `signingKey` (raw
 * Ed25519). A key or signature whose text does not decode cannot have been signed: it fails the same way.
 */
export function verifyPreKeySignatures(signingKey: Uint8Array, p: PublishedPreKeys, whose: string): void {
  const none = new Uint8Array(0); // verifies as nothing: each check refuses a key or signature of the wrong length
  const b = (text: string) => decoded(text) ?? none;
  const refuse = (what: string) => {
    throw new ChatError('bad_signature', `${what}: signature does not verify against ${whose}`);
  };
  if (!verifyIdentityBindingSignature(signingKey, b(p.identity.dhKey), b(p.identity.binding))) refuse('identity binding');
  if (p.signedPreKey && !verifySignedPreKeySignature(signingKey, b(p.signedPreKey.publicKey), b(p.signedPreKey.signature))) {
    refuse(`signed prekey ${p.signedPreKey.id}`);
  }
  for (const k of [...(p.lastResortKemPreKey ? [p.lastResortKemPreKey] : []), ...(p.kemPreKeys ?? [])]) {
    if (!verifyKemPreKeySignature(signingKey, b(k.publicKey), b(k.signature))) refuse(`ML-KEM prekey ${k.id}`);
  }
}
