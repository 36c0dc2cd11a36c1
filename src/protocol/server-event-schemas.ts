/**
 * Schemas for everything the server sends a client: the answer (ack) to each client event and each
 * pushed event. The server is the adversary, so the client parses every frame through these before use,
 * exactly as the server parses client events through schemas.ts. Unknown members are dropped (a newer
 * server may add some); a missing or ill-typed member makes the whole frame bad.
 *
 * One map per direction: `answerSchemas` (client event → its ok-answer) and `serverEventSchemas`
 * (pushed event → its payload), each checked against the shared TypeScript contract in events.ts.
 */
import { z } from 'zod';
import { BASE64URL_PATTERN } from '../crypto/bytes.js';
import { ERROR_CODES } from './errors.js';
import { REJECT_REASONS, type ClientEventName, type ServerToClientEvents } from './events.js';
import { MAX_STORED_ONE_TIME_PREKEYS } from './limits.js';
import { kemPreKeyWireSchema, oneTimePreKeyWireSchema, preKeyIdSchema, signedPreKeyWireSchema } from './prekey-schemas.js';
import { clientMessageIdSchema, ed25519PublicJwkSchema, rsa2048PublicJwkSchema, signatureSchema, usernameSchema, type Envelope } from './schemas.js';

/**
 * Longest server error text kept: enough for any message our server writes; longer ones are cut, not
 * refused, so an error stays an error.
 */
export const MAX_SERVER_ERROR_MESSAGE_CHARS = 500;
/** Event names in `protocol_error` are cut to 64 characters by the server (connection.ts). */
const MAX_EVENT_NAME_CHARS = 64;
/**
 * Longest challenge accepted: ours are 32 bytes (43 characters); a much longer one would only make the
 * client sign whatever the server chose to put in it.
 */
const MAX_CHALLENGE_CHARS = 128;

/** Server ids are 16 random bytes, base64url. */
const serverIdSchema = z.string().length(22).regex(BASE64URL_PATTERN);
/** A time in ms since the epoch, as a server stamps it. */
const timestampSchema = z.number().int().nonnegative();
const countSchema = z.number().int().nonnegative();
const key32Schema = z.string().length(43).regex(BASE64URL_PATTERN);

export const serverErrorSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string().transform((m) => m.slice(0, MAX_SERVER_ERROR_MESSAGE_CHARS)),
});

export const sessionAnswerSchema = z.object({
  username: usernameSchema,
  registered: z.boolean(),
  // Advisory (the client clamps it to a believable range): a malformed one reads as absent, not as a
  // failed login.
  limits: z.object({ maxEnvelopeBytes: z.number().int().positive() }).optional().catch(undefined),
});

export const userKeysAnswerSchema = z.object({
  username: usernameSchema,
  signingKey: ed25519PublicJwkSchema,
  encryptionKey: rsa2048PublicJwkSchema,
  registeredAt: timestampSchema,
});

export const preKeyCountAnswerSchema = z.object({
  identityKey: key32Schema.nullable(),
  signedPreKeyId: preKeyIdSchema.nullable(),
  lastResortKemPreKeyId: preKeyIdSchema.nullable(),
  oneTime: countSchema,
  kemOneTime: countSchema,
  oneTimeIds: z.array(preKeyIdSchema).max(MAX_STORED_ONE_TIME_PREKEYS).optional(),
  kemOneTimeIds: z.array(preKeyIdSchema).max(MAX_STORED_ONE_TIME_PREKEYS).optional(),
});

export const preKeyBundleAnswerSchema = z.object({
  username: usernameSchema,
  identity: z.object({ signingKey: key32Schema, dhKey: key32Schema, binding: signatureSchema }),
  signedPreKey: signedPreKeyWireSchema,
  kemPreKey: kemPreKeyWireSchema,
  oneTimePreKey: oneTimePreKeyWireSchema.optional(),
});

/** The ok-answer to each client event (its members beside `ok: true`). */
export const answerSchemas = {
  challenge: z.object({ challenge: z.string().min(1).max(MAX_CHALLENGE_CHARS).regex(BASE64URL_PATTERN) }),
  register: sessionAnswerSchema,
  login: sessionAnswerSchema,
  keys: userKeysAnswerSchema,
  users: z.object({ users: z.array(usernameSchema) }),
  send: z.object({ id: serverIdSchema, sentAt: timestampSchema, status: z.enum(['delivered', 'queued']), duplicate: z.literal(true).optional() }),
  ack: z.object({ acknowledged: countSchema }),
  'prekeys.upload': preKeyCountAnswerSchema,
  'prekeys.count': preKeyCountAnswerSchema,
  'prekeys.bundle': preKeyBundleAnswerSchema,
} as const satisfies Record<ClientEventName, z.ZodType>;

export type AnswerOf<E extends ClientEventName> = z.infer<(typeof answerSchemas)[E]>;

export const incomingMessageSchema = z.object({
  id: serverIdSchema,
  from: usernameSchema,
  to: usernameSchema,
  sentAt: timestampSchema,
  /**
   * Only "an object" here: the client's Inbound parses the envelope itself, so that a delivery with an
   * envelope it cannot read (another type or version, a malformed body) is acknowledged as rejected and
   * reported to both sides, instead of being dropped as a bad frame and left in the delivery window.
   */
  envelope: z.custom<Envelope>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an envelope object'),
});

export const receiptEventSchema = z.object({
  id: serverIdSchema,
  clientId: clientMessageIdSchema,
  to: usernameSchema,
  deliveredAt: timestampSchema,
  status: z.enum(['delivered', 'unreadable']).optional(),
  reason: z.enum(REJECT_REASONS).optional(),
});

/** Every server → client event and the schema of its one argument. */
export const serverEventSchemas = {
  message: incomingMessageSchema,
  receipt: receiptEventSchema,
  presence: z.object({ username: usernameSchema, online: z.boolean() }),
  'prekeys.low': z.object({ oneTime: countSchema, kemOneTime: countSchema }),
  'backlog.end': z.object({ count: countSchema }),
  protocol_error: z.object({ event: z.string().max(MAX_EVENT_NAME_CHARS), error: serverErrorSchema }),
} as const satisfies { [E in keyof ServerToClientEvents]: z.ZodType<Parameters<ServerToClientEvents[E]>[0]> };

export type ServerEventName = keyof typeof serverEventSchemas;
export type ServerEventOf<E extends ServerEventName> = z.infer<(typeof serverEventSchemas)[E]>;
