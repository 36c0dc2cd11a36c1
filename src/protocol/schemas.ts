/**
 * Schemas for everything that crosses the wire. The server parses every client event through these
 * once, at the edge; inside, code trusts the resulting types.
 */
import { z } from 'zod';
import { BASE64URL_PATTERN, base64urlDecode } from '../crypto/bytes.js';
import {
  HYBRID_ENCRYPTED_KEY_CHARS,
  HYBRID_IV_CHARS,
  HYBRID_TAG_CHARS,
  hybridCiphertextProblem,
  hybridProtectedProblem,
  ratchetBodyProblem,
} from './envelope-shape.js';
import { REJECT_REASONS } from './errors.js';
import { CLIENT_ID_MAX_LENGTH, CLIENT_ID_MIN_LENGTH, MAX_ACK_IDS, MAX_RATCHET_BODY_CHARS, USERNAME_MAX_LENGTH, USERNAME_PATTERN } from './limits.js';

export const base64url = (maxLength: number) => z.string().max(maxLength).regex(BASE64URL_PATTERN, 'expected base64url');

export const usernameSchema = z
  .string()
  .max(USERNAME_MAX_LENGTH, 'username is at most 32 characters')
  .regex(USERNAME_PATTERN, 'username must match ^[a-z][a-z0-9_-]{0,31}$');

/** Ed25519 public key as an OKP JWK (RFC 8037); x is exactly 32 bytes. Unknown members are dropped. */
export const ed25519PublicJwkSchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().length(43).regex(BASE64URL_PATTERN),
});

/** RSA public key as a JWK: modulus of exactly 2048 bits, public exponent 65537 ("AQAB"). */
export const rsa2048PublicJwkSchema = z.object({
  kty: z.literal('RSA'),
  n: z
    .string()
    .length(342)
    .regex(BASE64URL_PATTERN)
    .refine((n) => {
      try {
        const bytes = base64urlDecode(n);
        return bytes.length === 256 && bytes[0]! >= 0x80 && (bytes[255]! & 1) === 1;
      } catch {
        return false;
      }
    }, 'n must be a 2048-bit odd modulus'),
  e: z.literal('AQAB'),
});

/** Ed25519 signature, 64 bytes as base64url (86 characters). */
export const signatureSchema = z.string().length(86).regex(BASE64URL_PATTERN);

/**
 * Events without arguments: a missing payload, `{}` (unknown members ignored) or `null`, which is what
 * socket.io-client puts on the wire for `emit('challenge', undefined, ack)`.
 */
export const emptyPayloadSchema = z.object({}).nullish();

export const registerPayloadSchema = z.object({
  username: usernameSchema,
  signingKey: ed25519PublicJwkSchema,
  encryptionKey: rsa2048PublicJwkSchema,
  signature: signatureSchema,
});

export const loginPayloadSchema = z.object({
  username: usernameSchema,
  signature: signatureSchema,
});

export const keysPayloadSchema = z.object({ username: usernameSchema });

/** Adds the shape check `problem` (undefined: fine) to a string schema, its text as the issue's message. */
const shaped = (schema: z.ZodString, problem: (value: string) => string | undefined) =>
  schema.superRefine((value, ctx) => {
    const why = problem(value);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  });

/**
 * Envelopes are opaque to the server: it checks the shape and size, never the content. The JWE is in
 * flattened JSON serialization (RFC 7516 §7.2.2) with exactly the members our clients produce, each of
 * the length docs/PROTOCOL.md §8.3 gives (envelope-shape.ts).
 */
export const hybridEnvelopeSchema = z.strictObject({
  type: z.literal('hybrid'),
  v: z.literal(1),
  // Strict: a JWE `aad`, `header` or `unprotected` member would be dropped in transit and the recipient
  // could never decrypt; refuse it at the sender instead.
  jwe: z.strictObject({
    protected: shaped(base64url(2048), hybridProtectedProblem),
    encrypted_key: base64url(HYBRID_ENCRYPTED_KEY_CHARS).length(HYBRID_ENCRYPTED_KEY_CHARS, 'must be 256 bytes (342 characters)'),
    iv: base64url(HYBRID_IV_CHARS).length(HYBRID_IV_CHARS, 'must be 16 bytes (22 characters)'),
    ciphertext: shaped(base64url(256 * 1024), hybridCiphertextProblem),
    tag: base64url(HYBRID_TAG_CHARS).length(HYBRID_TAG_CHARS, 'must be 32 bytes (43 characters)'),
  }),
});

/**
 * A Double Ratchet message (docs/PROTOCOL.md §15): `body` is the base64url of the ratchet wire message
 * (first byte 0x01, §16.9), or of a PQXDH initial message (first byte 0x02, §16.7) while the sender has
 * had no reply. The server checks the version bytes and lengths only; the content is the recipient's.
 */
export const ratchetEnvelopeSchema = z.strictObject({
  type: z.literal('ratchet'),
  v: z.literal(1),
  body: shaped(base64url(MAX_RATCHET_BODY_CHARS).min(1), ratchetBodyProblem),
});

export const envelopeSchema = z.discriminatedUnion('type', [hybridEnvelopeSchema, ratchetEnvelopeSchema]);

/** The sender's id for a message: its idempotency key (a resend with the same id is stored once). */
export const clientMessageIdSchema = base64url(CLIENT_ID_MAX_LENGTH).min(CLIENT_ID_MIN_LENGTH);

export const sendPayloadSchema = z.object({
  to: usernameSchema,
  id: clientMessageIdSchema.optional(),
  envelope: envelopeSchema,
});

/** Server ids are 16 random bytes, base64url. */
const serverIdSchema = z.string().length(22).regex(BASE64URL_PATTERN);

export const ackPayloadSchema = z
  .object({
    /** Envelopes this device has stored (server ids). */
    ids: z.array(serverIdSchema).max(MAX_ACK_IDS).optional(),
    /** Receipts this device has seen (server ids of the envelopes they are for). */
    receipts: z.array(serverIdSchema).max(MAX_ACK_IDS).optional(),
    /**
     * Envelopes this device is done with but could not read: removed from the queue like `ids`, and the
     * sender's receipt says `unreadable` with the reason.
     */
    rejected: z.array(z.strictObject({ id: serverIdSchema, reason: z.enum(REJECT_REASONS) })).max(MAX_ACK_IDS).optional(),
  })
  .refine((p) => (p.ids?.length ?? 0) + (p.receipts?.length ?? 0) + (p.rejected?.length ?? 0) > 0, 'ack needs ids, receipts or rejected');

export type Ed25519PublicJwkWire = z.infer<typeof ed25519PublicJwkSchema>;
export type Rsa2048PublicJwkWire = z.infer<typeof rsa2048PublicJwkSchema>;
export type RegisterPayload = z.infer<typeof registerPayloadSchema>;
export type LoginPayload = z.infer<typeof loginPayloadSchema>;
export type KeysPayload = z.infer<typeof keysPayloadSchema>;
export type SendPayload = z.infer<typeof sendPayloadSchema>;
export type AckPayload = z.infer<typeof ackPayloadSchema>;
export type Envelope = z.infer<typeof envelopeSchema>;
export type HybridEnvelope = z.infer<typeof hybridEnvelopeSchema>;
export type RatchetEnvelope = z.infer<typeof ratchetEnvelopeSchema>;
