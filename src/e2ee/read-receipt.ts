/**
 * A receipt inside an end-to-end encrypted message (the payload's optional `receipt` member,
 * docs/PROTOCOL.md §8.1): the recipient of some messages tells their sender it has shown them. It travels
 * as an ordinary message to that sender, so the server sees one more envelope and learns nothing of what
 * it says. A payload with a `receipt` is a receipt and nothing else: it is never shown as a chat line
 * (its `body` is empty and ignored).
 */
import { z } from 'zod';
import { base64url } from '../protocol/schemas.js';

/**
 * Message ids one receipt names at most: a batch of what a person reads at once (a backlog shown by
 * `receive`, a screen of `chat`), and a small envelope (~2.5 KB of ids). More are sent in several.
 */
export const MAX_READ_RECEIPT_IDS = 100;

/** Receipt kinds this client acts on; others (from newer clients) are recorded, never shown, and ignored. */
export const READ_RECEIPT = 'read';

export const receiptPayloadSchema = z.object({
  /**
   * A string, not the one known literal: a newer client's kind must not make the whole message
   * unreadable to this one (it is ignored instead). Short, as a kind name is.
   */
  type: z.string().min(1).max(32),
  /** The sender's own ids (the payload `id`) of the messages the receipt is about. */
  ids: z.array(base64url(64).min(16)).min(1).max(MAX_READ_RECEIPT_IDS),
});

export type ReceiptPayload = z.infer<typeof receiptPayloadSchema>;
