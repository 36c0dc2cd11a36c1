/**
 * The two messages a link carries (docs/PROTOCOL.md §18.6), as strict schemas: the *offer* (new device →
 * primary: the new device's public keys and first prekeys) and the *provisioning* (primary → new device:
 * the account's public keys, the new device list, the primary's pins). Both travel as UTF-8 JSON inside
 * link records; any other member, a wrong shape or a failed check here is `link_failed`.
 *
 * Checked here, with no network: shapes and sizes, the device name (≤ 32 UTF-8 bytes, no control
 * characters), the offer's X25519 keys not of low order and its three signatures by its signing key.
 * Left to the caller, which has the state they need: on the primary, that the offer's keys are not
 * already listed; on the new device, the list's signature and contents (PROTOCOL.md §17, §18.6) and the
 * directory's agreement with `account`.
 */
import { z } from 'zod';
import { BASE64URL_PATTERN, base64urlDecode, utf8Decode, utf8Encode, type Bytes } from '../../crypto/bytes.js';
import { isLowOrderX25519Key } from '../../crypto/x25519-low-order.js';
import { deviceListWireSchema } from '../../protocol/device-list-wire.js';
import { ChatError } from '../../protocol/errors.js';
import { MAX_DEVICE_ID, MAX_DEVICE_NAME_BYTES, MAX_HISTORY_ON_LINK } from '../../protocol/limits.js';
import { identityKeyWireSchema, kemPreKeyWireSchema, signedPreKeyWireSchema } from '../../protocol/prekey-schemas.js';
import { ed25519PublicJwkSchema, rsa2048PublicJwkSchema, usernameSchema } from '../../protocol/schemas.js';
import { verifyIdentityBindingSignature, verifyKemPreKeySignature, verifySignedPreKeySignature } from '../pqxdh/signatures.js';

/** Why a device name is refused, or undefined. Control characters are Unicode's Cc: C0, DEL and C1. */
export function deviceNameProblem(name: string): string | undefined {
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) return 'the name is not valid Unicode (a lone surrogate)';
    if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) return 'the name contains a control character';
  }
  if (utf8Encode(name).length > MAX_DEVICE_NAME_BYTES) return `the name is longer than ${MAX_DEVICE_NAME_BYTES} bytes of UTF-8`;
  return undefined;
}

export const deviceNameSchema = z.string().superRefine((name, ctx) => {
  const why = deviceNameProblem(name);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

/** A 32-byte key as canonical unpadded base64url (43 characters, zero trailing bits). */
const key32Schema = z
  .string()
  .length(43)
  .regex(BASE64URL_PATTERN)
  .refine((k) => {
    try {
      return base64urlDecode(k).length === 32;
    } catch {
      return false;
    }
  }, 'not canonical base64url');

const strictEd25519JwkSchema = z.strictObject(ed25519PublicJwkSchema.shape);
const strictRsaJwkSchema = z.strictObject(rsa2048PublicJwkSchema.shape);

export const linkOfferSchema = z.strictObject({
  v: z.literal(2),
  name: deviceNameSchema,
  /** DSK, the new device's Ed25519 signing key. */
  signingKey: key32Schema,
  /** IK_d and its binding by DSK (PROTOCOL.md §16.3). */
  identity: identityKeyWireSchema,
  encryptionKey: strictRsaJwkSchema,
  signedPreKey: signedPreKeyWireSchema,
  lastResortKemPreKey: kemPreKeyWireSchema,
});

export const linkPinSchema = z.strictObject({
  username: usernameSchema,
  signingKey: strictEd25519JwkSchema,
  encryptionKey: strictRsaJwkSchema,
  pinnedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  verified: z.boolean(),
  /** The newest list the primary verified for this peer, when it has seen one. */
  deviceList: deviceListWireSchema.optional(),
});

export const linkProvisioningSchema = z.strictObject({
  v: z.literal(2),
  username: usernameSchema,
  /** The id the new device was listed under: never 1, the primary's. */
  device: z.number().int().min(2).max(MAX_DEVICE_ID),
  /** Only the primary changes the list (design §2.3). */
  approvedBy: z.literal(1),
  account: z.strictObject({ signingKey: strictEd25519JwkSchema, encryptionKey: strictRsaJwkSchema }),
  deviceList: deviceListWireSchema,
  pins: z.array(linkPinSchema).refine((pins) => new Set(pins.map((p) => p.username)).size === pins.length, 'a peer is pinned twice'),
  history: z.strictObject({ count: z.number().int().min(0).max(MAX_HISTORY_ON_LINK) }),
});

export type LinkOffer = z.infer<typeof linkOfferSchema>;
export type LinkPin = z.infer<typeof linkPinSchema>;
export type LinkProvisioning = z.infer<typeof linkProvisioningSchema>;

const refuse = (what: string, why: string): never => {
  throw new ChatError('link_failed', `the ${what} is malformed: ${why}`);
};

function parseJson<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(utf8Decode(bytes));
  } catch {
    return refuse(what, 'not UTF-8 JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return refuse(what, `${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The offer's keys and signatures: no low-order X25519 key (PROTOCOL.md §14.1: its DH output is all
 * zero), and the identity binding and both prekey signatures valid under its signing key (§16.3, §16.4;
 * strict Ed25519, which also refuses a non-canonical or small-order signing key).
 */
function offerKeysProblem(offer: LinkOffer): string | undefined {
  const b = base64urlDecode;
  try {
    if (isLowOrderX25519Key(b(offer.identity.dhKey))) return 'identity.dhKey is a low-order X25519 key';
    if (isLowOrderX25519Key(b(offer.signedPreKey.publicKey))) return 'signedPreKey.publicKey is a low-order X25519 key';
    const dsk = b(offer.signingKey);
    if (!verifyIdentityBindingSignature(dsk, b(offer.identity.dhKey), b(offer.identity.binding))) return 'identity binding does not verify';
    if (!verifySignedPreKeySignature(dsk, b(offer.signedPreKey.publicKey), b(offer.signedPreKey.signature))) return 'signed prekey signature does not verify';
    if (!verifyKemPreKeySignature(dsk, b(offer.lastResortKemPreKey.publicKey), b(offer.lastResortKemPreKey.signature))) {
      return 'ML-KEM prekey signature does not verify';
    }
  } catch {
    return 'a key or signature is not canonical base64url';
  }
  return undefined;
}

export function parseLinkOffer(bytes: Uint8Array): LinkOffer {
  const offer = parseJson(bytes, linkOfferSchema, 'offer');
  const why = offerKeysProblem(offer);
  if (why !== undefined) refuse('offer', why);
  return offer;
}

/** The provisioning, which must be for the account this device is being linked to. */
export function parseLinkProvisioning(bytes: Uint8Array, username: string): LinkProvisioning {
  const provisioning = parseJson(bytes, linkProvisioningSchema, 'provisioning');
  if (provisioning.username !== username) refuse('provisioning', `it is for ${provisioning.username}, not ${username}`);
  return provisioning;
}

/** UTF-8 JSON of a message, checked against its schema first so that we never send what the peer refuses. */
export function encodeLinkOffer(offer: LinkOffer): Bytes {
  const bytes = utf8Encode(JSON.stringify(offer));
  parseLinkOffer(bytes);
  return bytes;
}

export function encodeLinkProvisioning(provisioning: LinkProvisioning): Bytes {
  const bytes = utf8Encode(JSON.stringify(provisioning));
  parseLinkProvisioning(bytes, provisioning.username);
  return bytes;
}
