/**
 * Schemas for everything the server sends a client: the answer (ack) to each client event and each
 * pushed event. The server is the adversary, so the client parses every frame through these before use,
 * exactly as the server parses client events through schemas.ts. Unknown members are dropped (a newer
 * server may add some); a missing or ill-typed member makes the whole frame bad.
 *
 * One map per direction: `answerSchemas` (client event → its ok-answer) and `serverEventSchemas`
 * (pushed event → its payload), each checked against the shared TypeScript contract in events.ts; and
 * the same two for protocol 2 (`answerSchemasV2`, `serverEventSchemasV2`, against events-v2.ts), chosen
 * by the protocol of the connection's login.
 */
import { z } from 'zod';
import { BASE64URL_PATTERN } from '../crypto/bytes.js';
import { blobCreateAnswerSchema } from './blob-schemas.js';
import {
  groupCommitAnswerSchema,
  groupCreateAnswerSchema,
  groupEpochStaleDetailsSchema,
  groupInfoAnswerSchema,
  groupMessageEventSchema,
  groupSendAnswerSchema,
  groupSyncAnswerSchema,
  groupWelcomeEventSchema,
  keyPackagesClaimAnswerSchema,
  keyPackagesCountAnswerSchema,
  keyPackagesLowEventSchema,
  keyPackagesUploadAnswerSchema,
} from './group-schemas.js';
import { deviceIdSchema, deviceListVersionSchema, deviceListWireSchema } from './device-list-wire.js';
import { devicesChangedDetailsSchema, quotaDetailsSchema } from './error-details.js';
import { ERROR_CODES } from './errors.js';
import { REJECT_REASONS, type ClientEventName, type ServerToClientEvents } from './events.js';
import type { ClientEventNameV2, ProtocolVersion, ServerToClientEventsV2, WireErrorV2 } from './events-v2.js';
import { MAX_DEVICES_PER_USER, MAX_ENVELOPES_PER_SEND, MAX_STORED_ONE_TIME_PREKEYS } from './limits.js';
import {
  emptyAnswerSchema,
  linkClosedEventSchema,
  linkDataEventSchema,
  linkJoinAnswerSchema,
  linkJoinedEventSchema,
  linkOpenAnswerSchema,
} from './link-schemas.js';
import { MAX_RECEIPTS_PER_EVENT } from './receipt-batches.js';
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
  limits: z
    .object({
      maxEnvelopeBytes: z.number().int().positive(),
      // Its own catch: a malformed attachment limit must not take the envelope limit with it.
      maxAttachmentBytes: z.number().int().nonnegative().optional().catch(undefined),
    })
    .optional()
    .catch(undefined),
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
  'blob.create': blobCreateAnswerSchema,
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
  receipts: z.object({ receipts: z.array(receiptEventSchema).min(1).max(MAX_RECEIPTS_PER_EVENT) }),
  presence: z.object({ username: usernameSchema, online: z.boolean() }),
  'prekeys.low': z.object({ oneTime: countSchema, kemOneTime: countSchema }),
  'backlog.end': z.object({ count: countSchema }),
  protocol_error: z.object({ event: z.string().max(MAX_EVENT_NAME_CHARS), error: serverErrorSchema }),
} as const satisfies { [E in keyof ServerToClientEvents]: z.ZodType<Parameters<ServerToClientEvents[E]>[0]> };

export type ServerEventName = keyof typeof serverEventSchemas;
export type ServerEventOf<E extends ServerEventName> = z.infer<(typeof serverEventSchemas)[E]>;

// ---------------------------------------------------------------------------------------------------
// Protocol 2 (docs/design/devices-v2.md §5). A connection's login chose its protocol; the client parses
// what the server sends with that protocol's maps (`answerSchemasByProtocol`, `serverEventSchemasByProtocol`).

/**
 * A v2 refusal: v1's error with `details` where the code carries some. `devices_changed` is useless
 * without them (required), and so is `group_epoch_stale` (the current epoch); a quota code's details say which device is full (optional, informational). Details
 * on any other code are dropped, as unknown members are.
 */
export const serverErrorV2Schema = z.discriminatedUnion('code', [
  z.object({ code: z.literal('devices_changed'), message: serverErrorSchema.shape.message, details: devicesChangedDetailsSchema }),
  z.object({ code: z.enum(['quota_exceeded', 'sender_quota_exceeded']), message: serverErrorSchema.shape.message, details: quotaDetailsSchema.optional() }),
  z.object({ code: z.literal('group_epoch_stale'), message: serverErrorSchema.shape.message, details: groupEpochStaleDetailsSchema }),
  z.object({
    code: z.enum(ERROR_CODES).exclude(['devices_changed', 'quota_exceeded', 'sender_quota_exceeded', 'group_epoch_stale']),
    message: serverErrorSchema.shape.message,
  }),
]) satisfies z.ZodType<WireErrorV2>;

/** Protocol numbers a server lists: small positive integers. */
const protocolListSchema = z.array(z.number().int().positive()).min(1).max(16);

/**
 * `protocols` is optional here: a 0.1 server does not send it, and a v2 client must tell that apart
 * (`unsupported_server`) from a malformed answer.
 */
export const challengeAnswerV2Schema = answerSchemas.challenge.extend({ protocols: protocolListSchema.optional() });

export const sessionAnswerV2Schema = z.object({
  username: usernameSchema,
  device: deviceIdSchema,
  protocol: z.literal(2),
  registered: z.boolean(),
  limits: z.object({
    maxEnvelopeBytes: z.number().int().positive(),
    // Advisory, as in v1's answer: a malformed one reads as absent.
    maxAttachmentBytes: z.number().int().nonnegative().optional().catch(undefined),
    maxDevicesPerUser: z.number().int().positive(),
    maxEnvelopesPerSend: z.number().int().positive(),
  }),
});

export const devicesListAnswerSchema = z.object({
  username: usernameSchema,
  deviceList: deviceListWireSchema.nullable(),
  lastSeen: z
    .array(z.object({ device: deviceIdSchema, at: timestampSchema }))
    .max(MAX_DEVICES_PER_USER)
    .refine((seen) => new Set(seen.map((s) => s.device)).size === seen.length, 'a device is named twice')
    .optional(),
});

export const deliverySchema = z.object({
  to: usernameSchema,
  device: deviceIdSchema,
  id: serverIdSchema,
  sentAt: timestampSchema,
  status: z.enum(['delivered', 'queued']),
  duplicate: z.literal(true).optional(),
});

export const sendAnswerV2Schema = z.object({ deliveries: z.array(deliverySchema).min(1).max(MAX_ENVELOPES_PER_SEND) });

export const deviceBundleSchema = preKeyBundleAnswerSchema.omit({ username: true }).extend({ device: deviceIdSchema });

export const preKeyBundlesAnswerSchema = z.object({
  username: usernameSchema,
  bundles: z.array(deviceBundleSchema).min(1).max(MAX_DEVICES_PER_USER),
});

/** The ok-answer to each client event of a protocol-2 connection. */
export const answerSchemasV2 = {
  ...answerSchemas,
  challenge: challengeAnswerV2Schema,
  register: sessionAnswerV2Schema,
  login: sessionAnswerV2Schema,
  send: sendAnswerV2Schema,
  'prekeys.bundle': preKeyBundlesAnswerSchema,
  'devices.list': devicesListAnswerSchema,
  'devices.publish': z.object({ version: deviceListVersionSchema }),
  'link.open': linkOpenAnswerSchema,
  'link.join': linkJoinAnswerSchema,
  'link.send': emptyAnswerSchema,
  'link.close': emptyAnswerSchema,
  'mls.keypackages.upload': keyPackagesUploadAnswerSchema,
  'mls.keypackages.count': keyPackagesCountAnswerSchema,
  'mls.keypackages.claim': keyPackagesClaimAnswerSchema,
  'group.create': groupCreateAnswerSchema,
  'group.commit': groupCommitAnswerSchema,
  'group.send': groupSendAnswerSchema,
  'group.sync': groupSyncAnswerSchema,
  'group.info': groupInfoAnswerSchema,
} as const satisfies Record<ClientEventNameV2, z.ZodType>;

export type AnswerOfV2<E extends ClientEventNameV2> = z.infer<(typeof answerSchemasV2)[E]>;

export const incomingMessageV2Schema = incomingMessageSchema.extend({ fromDevice: deviceIdSchema, toDevice: deviceIdSchema });

/** `reason` travels with `unreadable` only (and always with it). */
export const receiptEventV2Schema = receiptEventSchema
  .extend({ toDevice: deviceIdSchema, status: z.enum(['delivered', 'unreadable', 'removed']) })
  .refine((r) => (r.status === 'unreadable') === (r.reason !== undefined), 'reason comes with status unreadable, and only with it');

/** Every server → client event of a protocol-2 connection and the schema of its one argument. */
export const serverEventSchemasV2 = {
  ...serverEventSchemas,
  message: incomingMessageV2Schema,
  receipt: receiptEventV2Schema,
  receipts: z.object({ receipts: z.array(receiptEventV2Schema).min(1).max(MAX_RECEIPTS_PER_EVENT) }),
  protocol_error: z.object({ event: z.string().max(MAX_EVENT_NAME_CHARS), error: serverErrorV2Schema }),
  'devices.changed': z.object({ username: usernameSchema, version: deviceListVersionSchema }),
  'device.removed': z.object({ username: usernameSchema, device: deviceIdSchema, version: deviceListVersionSchema }),
  'link.joined': linkJoinedEventSchema,
  'link.data': linkDataEventSchema,
  'link.closed': linkClosedEventSchema,
  'group.message': groupMessageEventSchema,
  'group.welcome': groupWelcomeEventSchema,
  'mls.keypackages.low': keyPackagesLowEventSchema,
} as const satisfies { [E in keyof ServerToClientEventsV2]: z.ZodType<Parameters<ServerToClientEventsV2[E]>[0]> };

export type ServerEventNameV2 = keyof typeof serverEventSchemasV2;
export type ServerEventOfV2<E extends ServerEventNameV2> = z.infer<(typeof serverEventSchemasV2)[E]>;

/** The schemas a client parses answers with, by the protocol its login chose. */
export const answerSchemasByProtocol = { 1: answerSchemas, 2: answerSchemasV2 } as const satisfies Record<ProtocolVersion, Record<string, z.ZodType>>;
/** The schemas a client parses pushed events with, by the protocol its login chose. */
export const serverEventSchemasByProtocol = { 1: serverEventSchemas, 2: serverEventSchemasV2 } as const satisfies Record<ProtocolVersion, Record<string, z.ZodType>>;
/** The error object of a refusal, by protocol: v2 adds `details`. */
export const serverErrorSchemaByProtocol = { 1: serverErrorSchema, 2: serverErrorV2Schema } as const satisfies Record<ProtocolVersion, z.ZodType>;
