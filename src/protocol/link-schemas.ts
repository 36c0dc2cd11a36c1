/**
 * Wire shapes of the link relay (docs/design/devices-v2.md §6.3): the four client events that open, join,
 * feed and close a link slot, their answers, and the three events the server pushes to the other party.
 * The server relays `data` without reading it: the frames are the two devices' CPace run and its sealed
 * records (§6.5). Payloads are strict; answers and pushed events drop unknown members, like every
 * server → client frame.
 */
import { z } from 'zod';
import { base64urlDecode } from '../crypto/bytes.js';
import { deviceIdSchema } from './device-list-wire.js';
import { LINK_CLOSE_REASONS, type LinkClosedEvent, type LinkDataEvent, type LinkJoinedEvent } from './events-v2.js';
import { LINK_MAX_FRAME_CHARS } from './limits.js';
import { base64url, usernameSchema } from './schemas.js';

/** Slot numbers: decimal without leading zeros, 1 … 999,999 (they route; they are not secret). */
export const LINK_SLOT_PATTERN = /^[1-9][0-9]{0,5}$/;
export const linkSlotSchema = z.string().max(6).regex(LINK_SLOT_PATTERN, 'slot must match ^[1-9][0-9]{0,5}$');

/** Bytes of each party's half of CPace's session id. */
export const LINK_SID_BYTES = 16;
/** A party's `sid`: 16 random bytes as base64url (22 characters, canonical). */
export const linkSidSchema = base64url(22)
  .length(22, 'sid is 16 bytes (22 characters)')
  .refine((sid) => {
    try {
      return base64urlDecode(sid).length === LINK_SID_BYTES;
    } catch {
      return false;
    }
  }, 'sid is not canonical base64url');

/** One relayed frame: base64url of at least one byte, at most LINK_MAX_FRAME_CHARS characters. */
export const linkDataSchema = base64url(LINK_MAX_FRAME_CHARS)
  .min(2, 'a frame is at least one byte')
  .refine((data) => data.length % 4 !== 1, 'impossible base64url length');

/** The new device (not logged in) opens a slot for the account it wants to join. */
export const linkOpenPayloadSchema = z.strictObject({ username: usernameSchema, sid: linkSidSchema });
/** The primary (logged in as that account) joins the slot the code names. */
export const linkJoinPayloadSchema = z.strictObject({ slot: linkSlotSchema, sid: linkSidSchema });
export const linkSendPayloadSchema = z.strictObject({ slot: linkSlotSchema, data: linkDataSchema });
export const linkClosePayloadSchema = z.strictObject({ slot: linkSlotSchema });

const timestampSchema = z.number().int().nonnegative();

export const linkOpenAnswerSchema = z.object({ slot: linkSlotSchema, expiresAt: timestampSchema });
export const linkJoinAnswerSchema = z.object({ slot: linkSlotSchema, sid: linkSidSchema });
/** `link.send` and `link.close` answer `{"ok":true}` alone. */
export const emptyAnswerSchema = z.object({});

export const linkJoinedEventSchema = z.object({ slot: linkSlotSchema, sid: linkSidSchema, device: deviceIdSchema }) satisfies z.ZodType<LinkJoinedEvent>;
export const linkDataEventSchema = z.object({ slot: linkSlotSchema, data: linkDataSchema }) satisfies z.ZodType<LinkDataEvent>;
export const linkClosedEventSchema = z.object({ slot: linkSlotSchema, reason: z.enum(LINK_CLOSE_REASONS) }) satisfies z.ZodType<LinkClosedEvent>;

export type LinkOpenPayload = z.infer<typeof linkOpenPayloadSchema>;
export type LinkJoinPayload = z.infer<typeof linkJoinPayloadSchema>;
export type LinkSendPayload = z.infer<typeof linkSendPayloadSchema>;
export type LinkClosePayload = z.infer<typeof linkClosePayloadSchema>;
