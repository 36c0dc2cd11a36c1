/**
 * Wire shapes of the prekey service (docs/PROTOCOL.md §14): `prekeys.upload`, `prekeys.count` and
 * `prekeys.bundle`. Keys travel as unpadded base64url of their raw bytes (no type byte: the field names
 * the type); signatures are Ed25519 by the user's registered signing key over the labelled messages of
 * §16.4. Sizes are exact, so the server's store never holds anything but well-formed keys.
 */
import { z } from 'zod';
import { BASE64URL_PATTERN } from '../crypto/bytes.js';
import { MAX_PREKEYS_PER_UPLOAD } from './limits.js';
import { signatureSchema, usernameSchema } from './schemas.js';

/** Prekey ids are uint32 (they are written as 4 big-endian bytes in the initial message). */
export const preKeyIdSchema = z.number().int().min(0).max(0xffff_ffff);
/** X25519 public key, 32 bytes = 43 base64url characters. */
const x25519KeySchema = z.string().length(43).regex(BASE64URL_PATTERN);
/** ML-KEM-1024 encapsulation key, 1568 bytes = 2091 base64url characters. */
const mlkem1024KeySchema = z.string().length(2091).regex(BASE64URL_PATTERN);

export const identityKeyWireSchema = z.strictObject({ dhKey: x25519KeySchema, binding: signatureSchema });
export const signedPreKeyWireSchema = z.strictObject({ id: preKeyIdSchema, publicKey: x25519KeySchema, signature: signatureSchema });
export const kemPreKeyWireSchema = z.strictObject({ id: preKeyIdSchema, publicKey: mlkem1024KeySchema, signature: signatureSchema });
export const oneTimePreKeyWireSchema = z.strictObject({ id: preKeyIdSchema, publicKey: x25519KeySchema });

/**
 * Everything optional but the identity: a client sends the signed prekey and last-resort KEM prekey when
 * they are new, and one-time prekeys in batches. A new identity key replaces the user's published keys.
 */
export const preKeysUploadPayloadSchema = z.object({
  identity: identityKeyWireSchema,
  signedPreKey: signedPreKeyWireSchema.optional(),
  lastResortKemPreKey: kemPreKeyWireSchema.optional(),
  oneTimePreKeys: z.array(oneTimePreKeyWireSchema).max(MAX_PREKEYS_PER_UPLOAD).optional(),
  kemPreKeys: z.array(kemPreKeyWireSchema).max(MAX_PREKEYS_PER_UPLOAD).optional(),
});

export const preKeysBundlePayloadSchema = z.object({ username: usernameSchema });

export type IdentityKeyWire = z.infer<typeof identityKeyWireSchema>;
export type SignedPreKeyWire = z.infer<typeof signedPreKeyWireSchema>;
export type KemPreKeyWire = z.infer<typeof kemPreKeyWireSchema>;
export type OneTimePreKeyWire = z.infer<typeof oneTimePreKeyWireSchema>;
export type PreKeysUploadPayload = z.infer<typeof preKeysUploadPayloadSchema>;

/** Ack of `prekeys.count` (and of `prekeys.upload`): what the server holds for the caller. */
export interface PreKeyCountResult {
  /** The published X25519 identity key, or null before the first upload. */
  identityKey: string | null;
  signedPreKeyId: number | null;
  lastResortKemPreKeyId: number | null;
  /** One-time X25519 and one-time ML-KEM prekeys not yet handed out. */
  oneTime: number;
  kemOneTime: number;
  /**
   * The ids of those keys (at most MAX_STORED_ONE_TIME_PREKEYS of each kind): a client deletes, after a
   * grace period, the one-time keys it uploaded that the server has handed out but no one ever used.
   * Absent from servers before 0.2.
   */
  oneTimeIds?: number[];
  kemOneTimeIds?: number[];
}

/** Ack of `prekeys.bundle`: one bundle; its one-time keys were handed to this requester only. */
export interface PreKeyBundleWire {
  username: string;
  /** `signingKey`: the user's registered Ed25519 key (32 bytes, base64url). */
  identity: { signingKey: string; dhKey: string; binding: string };
  signedPreKey: SignedPreKeyWire;
  /** A one-time ML-KEM prekey while any is left, else the last-resort one. */
  kemPreKey: KemPreKeyWire;
  /** Absent once the one-time X25519 prekeys ran out. */
  oneTimePreKey?: OneTimePreKeyWire;
}
