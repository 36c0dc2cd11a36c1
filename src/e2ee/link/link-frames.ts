/**
 * Link frames (docs/PROTOCOL.md §18.4): the bytes inside one relayed `link.data` (base64url on the wire).
 * The first byte is the type; every field has a fixed length except the record at the end.
 *
 *   0x01 cpace-a    primary → new   Ya (32)
 *   0x02 cpace-b    new → primary   Yb (32) ‖ Tb (64) ‖ final (1) ‖ record
 *   0x03 confirm-a  primary → new   Ta (64) ‖ final (1) ‖ record
 *   0x04 more       either          final (1) ‖ record
 *
 * Decoding is strict: an unknown type, a final byte other than 0x00/0x01, or any length other than these
 * (a record is 16 … 48,016 bytes) is refused with `link_failed`.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import { CPACE_ELEMENT_BYTES, CPACE_TAG_BYTES } from './cpace.js';
import { LINK_RECORD_MAX_BYTES, LINK_RECORD_MIN_BYTES } from './link-channel.js';

export const LINK_FRAME_TYPE = { 'cpace-a': 0x01, 'cpace-b': 0x02, 'confirm-a': 0x03, more: 0x04 } as const;
export type LinkFrameName = keyof typeof LINK_FRAME_TYPE;

/** A record-carrying frame's tail: whether this record ends its message, and the record. */
export interface LinkRecordPart {
  readonly final: boolean;
  readonly record: Bytes;
}

export type LinkFrame =
  | { readonly type: 'cpace-a'; readonly share: Bytes }
  | ({ readonly type: 'cpace-b'; readonly share: Bytes; readonly tag: Bytes } & LinkRecordPart)
  | ({ readonly type: 'confirm-a'; readonly tag: Bytes } & LinkRecordPart)
  | ({ readonly type: 'more' } & LinkRecordPart);

/** The largest frame: a cpace-b with a full record (48,114 bytes; 64,152 base64url characters). */
export const LINK_FRAME_MAX_BYTES = 1 + CPACE_ELEMENT_BYTES + CPACE_TAG_BYTES + 1 + LINK_RECORD_MAX_BYTES;

function fixed(value: Uint8Array, length: number, name: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) throw new RangeError(`"${name}" expected Uint8Array of length ${length}`);
  return value;
}

function recordOf(value: Uint8Array): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length < LINK_RECORD_MIN_BYTES || value.length > LINK_RECORD_MAX_BYTES) {
    throw new RangeError(`"record" expected ${LINK_RECORD_MIN_BYTES} … ${LINK_RECORD_MAX_BYTES} bytes`);
  }
  return value;
}

function frameBytes(type: number, ...fields: Uint8Array[]): Bytes {
  let length = 1;
  for (const f of fields) length += f.length;
  const out = new Uint8Array(length);
  out[0] = type;
  let at = 1;
  for (const f of fields) {
    out.set(f, at);
    at += f.length;
  }
  return out;
}

const finalByte = (final: boolean) => Uint8Array.of(final ? 1 : 0);

export function encodeLinkFrame(frame: LinkFrame): Bytes {
  const type = LINK_FRAME_TYPE[frame.type];
  switch (frame.type) {
    case 'cpace-a':
      return frameBytes(type, fixed(frame.share, CPACE_ELEMENT_BYTES, 'share'));
    case 'cpace-b':
      return frameBytes(type, fixed(frame.share, CPACE_ELEMENT_BYTES, 'share'), fixed(frame.tag, CPACE_TAG_BYTES, 'tag'), finalByte(frame.final), recordOf(frame.record));
    case 'confirm-a':
      return frameBytes(type, fixed(frame.tag, CPACE_TAG_BYTES, 'tag'), finalByte(frame.final), recordOf(frame.record));
    case 'more':
      return frameBytes(type, finalByte(frame.final), recordOf(frame.record));
  }
}

const refuse = (why: string): never => {
  throw new ChatError('link_failed', `malformed link frame: ${why}`);
};

/** Reads `final ‖ record` starting at `at`. */
function recordPart(bytes: Uint8Array, at: number, name: LinkFrameName): LinkRecordPart {
  if (bytes.length < at + 1 + LINK_RECORD_MIN_BYTES) refuse(`${name} is too short`);
  if (bytes.length > at + 1 + LINK_RECORD_MAX_BYTES) refuse(`${name} is too long`);
  const flag = bytes[at]!;
  if (flag !== 0 && flag !== 1) refuse(`${name} has final byte ${flag}`);
  return { final: flag === 1, record: bytes.slice(at + 1) };
}

export function decodeLinkFrame(bytes: Uint8Array): LinkFrame {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return refuse('empty');
  const share = (): Bytes => bytes.slice(1, 1 + CPACE_ELEMENT_BYTES);
  switch (bytes[0]) {
    case LINK_FRAME_TYPE['cpace-a']:
      if (bytes.length !== 1 + CPACE_ELEMENT_BYTES) refuse(`cpace-a is ${bytes.length} bytes, not 33`);
      return { type: 'cpace-a', share: share() };
    case LINK_FRAME_TYPE['cpace-b']: {
      const at = 1 + CPACE_ELEMENT_BYTES + CPACE_TAG_BYTES;
      const rest = recordPart(bytes, at, 'cpace-b');
      return { type: 'cpace-b', share: share(), tag: bytes.slice(1 + CPACE_ELEMENT_BYTES, at), ...rest };
    }
    case LINK_FRAME_TYPE['confirm-a']: {
      const at = 1 + CPACE_TAG_BYTES;
      const rest = recordPart(bytes, at, 'confirm-a');
      return { type: 'confirm-a', tag: bytes.slice(1, at), ...rest };
    }
    case LINK_FRAME_TYPE.more:
      return { type: 'more', ...recordPart(bytes, 1, 'more') };
    default:
      return refuse(`unknown type 0x${bytes[0]!.toString(16).padStart(2, '0')}`);
  }
}
