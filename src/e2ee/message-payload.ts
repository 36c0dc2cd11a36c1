/**
 * The signed (hybrid) or ratchet-encrypted inner payload of a message: who wrote it, from which device,
 * for whom, a sender-chosen unique id (for replay detection) and the text. Compact JSON, UTF-8.
 *
 * Two versions (docs/PROTOCOL.md §8.1, §21.2):
 *  - version 1, from e2ee-chat 0.1 and protocol-1 clients: `{v:1, from, to, id, sentAt, body}`. It names no
 *    device, so it is device 1's. A protocol-2 client still writes it to a peer that has no device list (a
 *    protocol-1 client, which reads nothing else) when it writes from device 1.
 *  - version 2: `{v:2, kind:"message", from, fromDevice, to, id, sentAt, body}`. `fromDevice` makes the
 *    sending device part of what is signed or encrypted, so a server cannot pass one device's message off
 *    as another's. A copy a user's device sends to the same user's other devices names the conversation's
 *    other party in `to` (shown there as sent by the user).
 *  - version 2 of kind "history" (§21.3.1): `{v:2, kind:"history", from, fromDevice, to, id, sentAt, items}`,
 *    the recent history a primary sends a device it just linked: `items` in place of `body`.
 * A version-2 payload of another kind is from a newer client: UnsupportedPayloadError, not garbage.
 */
import { z } from 'zod';
import { ChatError } from '../protocol/errors.js';
import { deviceIdSchema } from '../protocol/device-list-wire.js';
import { MAX_HISTORY_ON_LINK, MAX_RATCHET_BODY_CHARS, USERNAME_MAX_LENGTH } from '../protocol/limits.js';
import { base64url, usernameSchema } from '../protocol/schemas.js';
import { receiptPayloadSchema } from './read-receipt.js';
import { attachmentPointerSchema } from './attachment-pointer.js';

const common = {
  from: usernameSchema,
  to: usernameSchema,
  id: base64url(64).min(16),
  sentAt: z.number().int().nonnegative(),
  body: z.string(),
  /** Present in a receipt only (read-receipt.ts): then the message is not shown and `body` is ignored. */
  receipt: receiptPayloadSchema.optional(),
  /** A file (docs/PROTOCOL.md §20.5); `body` is then its caption, or a fallback naming it for older clients. */
  attachment: attachmentPointerSchema.optional(),
};

export const messagePayloadV1Schema = z.object({ v: z.literal(1), ...common });
export const messagePayloadV2Schema = z.object({ v: z.literal(2), kind: z.literal('message'), fromDevice: deviceIdSchema, ...common });
/** A chat message (or a receipt riding in one), either version: what MessageSealer writes to a conversation. */
export const messagePayloadSchema = z.discriminatedUnion('v', [messagePayloadV1Schema, messagePayloadV2Schema]);

/**
 * The id a history item is kept under in the sender's history: the message's own id, or `<peer>/<id>`
 * for a message whose id another sender had used first (inbound.ts recordIdFor). '/' is in neither
 * usernames nor ids, so the two forms never meet.
 */
const HISTORY_ITEM_ID = /^(?:[a-z][a-z0-9_-]{0,31}\/)?[A-Za-z0-9_-]{16,64}$/;

/**
 * One message of the history (§21.3.1), exactly these members: a file's pointer does not travel (the
 * blob's fetches were counted for the devices the message first went to, and it may have expired), its
 * caption or fallback text does. The body's bound is never the binding one (a whole envelope is at most
 * MAX_RATCHET_BODY_CHARS characters), but it keeps the schema bounded on its own.
 */
export const historyItemSchema = z.strictObject({
  id: z.string().max(USERNAME_MAX_LENGTH + 1 + 64).regex(HISTORY_ITEM_ID),
  direction: z.enum(['in', 'out']),
  peer: usernameSchema,
  body: z.string().max(MAX_RATCHET_BODY_CHARS),
  sentAt: z.number().int().nonnegative(),
});

/** The history a primary sends a device it linked (§21.3.1): `items`, oldest first, instead of a body. */
export const historyPayloadSchema = z.object({
  v: z.literal(2),
  kind: z.literal('history'),
  from: usernameSchema,
  fromDevice: deviceIdSchema,
  to: usernameSchema,
  id: base64url(64).min(16),
  sentAt: z.number().int().nonnegative(),
  items: z.array(historyItemSchema).min(1).max(MAX_HISTORY_ON_LINK),
});

/** Every payload this client reads: a message of either version, or history. */
export const payloadSchema = z.union([messagePayloadSchema, historyPayloadSchema]);

export type MessagePayloadV1 = z.infer<typeof messagePayloadV1Schema>;
export type MessagePayloadV2 = z.infer<typeof messagePayloadV2Schema>;
export type MessagePayload = z.infer<typeof messagePayloadSchema>;
export type HistoryItem = z.infer<typeof historyItemSchema>;
export type HistoryPayload = z.infer<typeof historyPayloadSchema>;
export type Payload = z.infer<typeof payloadSchema>;

/** The version-2 kinds this client knows (§21.3). */
const KINDS: readonly string[] = ['message', 'history'];

/**
 * An authentic payload of a version-2 kind this client does not know (a newer client's): refused as
 * `unsupported` (§21.3), not as decryption_failed, since nothing in it is wrong, only new.
 */
export class UnsupportedPayloadError extends ChatError {
  constructor(kind: string) {
    super('bad_request', `unsupported payload kind ${JSON.stringify(kind.slice(0, 32))}`);
    this.name = 'UnsupportedPayloadError';
  }
}

/**
 * Parses a decrypted and authenticated payload: the payload, or UnsupportedPayloadError for a version-2
 * kind this client does not know, or undefined for anything else that is not a valid payload.
 */
export function parsePayload(json: unknown): Payload | undefined {
  const parsed = payloadSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const { v, kind } = (typeof json === 'object' && json !== null ? json : {}) as { v?: unknown; kind?: unknown };
  if (v === 2 && typeof kind === 'string' && !KINDS.includes(kind)) throw new UnsupportedPayloadError(kind);
  return undefined;
}

/** The device that wrote a payload: version 1 names none and is device 1's. */
export const payloadDevice = (payload: Payload): number => (payload.v === 2 ? payload.fromDevice : 1);

/** Where the server says a message came from, and who received it. */
export interface MessageRoute {
  /** The sending user and device, as the server stamped them. */
  readonly from: string;
  readonly fromDevice: number;
  /** The receiving user. */
  readonly me: string;
}

/**
 * Whether a payload agrees with its route: written by the stamped user and device, and addressed to the
 * receiver, or (a copy from one of the receiver's own other devices) written by the receiver to someone
 * else. Anything else was written for another conversation and replayed here.
 *
 * History is the one payload a user's device writes to the user: it names the receiver at both ends
 * (`from` = `to` = me). Only the user's own devices hold sessions or signing keys that can write as
 * `from` = me, so no peer can put messages into this user's history, whatever else it claims.
 */
export function payloadMatchesRoute(payload: Payload, route: MessageRoute): boolean {
  if (payload.from !== route.from || payloadDevice(payload) !== route.fromDevice) return false;
  if (payload.v === 2 && payload.kind === 'history') return payload.from === route.me && payload.to === route.me;
  return payload.from === route.me ? payload.to !== route.me : payload.to === route.me;
}
