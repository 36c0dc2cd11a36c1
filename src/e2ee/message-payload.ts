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
 */
import { z } from 'zod';
import { deviceIdSchema } from '../protocol/device-list-wire.js';
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
export const messagePayloadSchema = z.discriminatedUnion('v', [messagePayloadV1Schema, messagePayloadV2Schema]);

export type MessagePayloadV1 = z.infer<typeof messagePayloadV1Schema>;
export type MessagePayloadV2 = z.infer<typeof messagePayloadV2Schema>;
export type MessagePayload = z.infer<typeof messagePayloadSchema>;

/** The device that wrote a payload: version 1 names none and is device 1's. */
export const payloadDevice = (payload: MessagePayload): number => (payload.v === 2 ? payload.fromDevice : 1);

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
 */
export function payloadMatchesRoute(payload: MessagePayload, route: MessageRoute): boolean {
  if (payload.from !== route.from || payloadDevice(payload) !== route.fromDevice) return false;
  return payload.from === route.me ? payload.to !== route.me : payload.to === route.me;
}
