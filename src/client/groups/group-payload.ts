/**
 * What a group's application messages carry, inside MLS (the server sees none of it):
 *
 *   0x01 (format) || UTF-8 JSON, one of
 *     {"type": "text", "text": string, "sentAt": number}   a message to the group
 *     {"type": "leave"}                                    the sender's user leaves; any member commits the removal of its devices
 *
 * A leave is an application message, not an MLS Remove proposal: the Delivery Service orders commits and
 * application messages only (design §4.2: every change is one commit), and a proposal would need a third
 * kind in the log. What it costs: the removal waits for a member to read the request.
 */
import { concatBytes, utf8Decode, utf8Encode, type Bytes } from '../../crypto/bytes.js';

export const GROUP_PAYLOAD_FORMAT = 0x01;
/** A group message's text, in UTF-8 bytes: the same order of size as a 1:1 message's body. */
export const MAX_GROUP_TEXT_BYTES = 64 * 1024;

export type GroupPayload = { readonly type: 'text'; readonly text: string; readonly sentAt: number } | { readonly type: 'leave' };

export function encodeGroupPayload(payload: GroupPayload): Bytes {
  if (payload.type === 'text' && utf8Encode(payload.text).length > MAX_GROUP_TEXT_BYTES) throw new RangeError(`"text" expected at most ${MAX_GROUP_TEXT_BYTES} bytes of UTF-8`);
  return concatBytes(Uint8Array.of(GROUP_PAYLOAD_FORMAT), utf8Encode(JSON.stringify(payload)));
}

/** The payload, or undefined for anything that is not exactly one of ours (shown as unreadable, never guessed at). */
export function decodeGroupPayload(bytes: Uint8Array): GroupPayload | undefined {
  if (bytes[0] !== GROUP_PAYLOAD_FORMAT) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(utf8Decode(bytes.subarray(1)));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (o.type === 'leave' && Object.keys(o).length === 1) return { type: 'leave' };
  if (o.type === 'text' && typeof o.text === 'string' && Number.isSafeInteger(o.sentAt) && Object.keys(o).length === 3) {
    if (utf8Encode(o.text).length > MAX_GROUP_TEXT_BYTES) return undefined;
    return { type: 'text', text: o.text, sentAt: o.sentAt as number };
  }
  return undefined;
}
