/**
 * The signed inner payload of a hybrid envelope: who wrote it, for whom, a sender-chosen unique id (for
 * replay detection) and the text. Serialized as compact JSON, UTF-8.
 */
import { z } from 'zod';
import { base64url, usernameSchema } from '../protocol/schemas.js';
import { receiptPayloadSchema } from './read-receipt.js';

export const messagePayloadSchema = z.object({
  v: z.literal(1),
  from: usernameSchema,
  to: usernameSchema,
  id: base64url(64).min(16),
  sentAt: z.number().int().nonnegative(),
  body: z.string(),
  /** Present in a receipt only (read-receipt.ts): then the message is not shown and `body` is ignored. */
  receipt: receiptPayloadSchema.optional(),
});

export type MessagePayload = z.infer<typeof messagePayloadSchema>;
