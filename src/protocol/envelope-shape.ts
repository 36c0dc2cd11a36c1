/**
 * The shape of an envelope as docs/PROTOCOL.md fixes it: lengths and version bytes only, never content.
 * The server refuses junk that no client could ever open before storing it; every check is O(1) beside
 * the base64url check the schema already makes (a few characters are decoded, nothing is decrypted).
 * The numbers are the document's; the e2ee encoders produce exactly these shapes.
 */
import { base64urlDecode } from '../crypto/bytes.js';

/** §8.3: the JWE protected header, as our clients send it. Any spacing or member order is accepted. */
export const HYBRID_PROTECTED_HEADER = { alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512', cty: 'e2ee-chat.message+jws' } as const;
const HYBRID_PROTECTED_B64 = 'eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwiY3R5IjoiZTJlZS1jaGF0Lm1lc3NhZ2UrandzIn0';

/** §8.3: RSA-OAEP with a 2048-bit key wraps the CEK into 256 bytes = 342 base64url characters. */
export const HYBRID_ENCRYPTED_KEY_CHARS = 342;
/** §8.3: 16-byte IV = 22 characters. */
export const HYBRID_IV_CHARS = 22;
/** §8.3: A256CBC-HS512's tag is the first 32 bytes of the HMAC = 43 characters. */
export const HYBRID_TAG_CHARS = 43;
/** AES block size: CBC ciphertexts are whole blocks (PKCS#7 always adds at least one byte). */
export const AES_BLOCK_BYTES = 16;

/** §16.9: ratchet message = 0x01, 40 more header bytes, ≥ 1 AES block, 32-byte HMAC tag: ≥ 89 bytes. */
export const RATCHET_MESSAGE_VERSION = 0x01;
const RATCHET_HEADER_BYTES = 41;
const RATCHET_TAG_BYTES = 32;
export const RATCHET_MESSAGE_MIN_BYTES = RATCHET_HEADER_BYTES + AES_BLOCK_BYTES + RATCHET_TAG_BYTES;
/** §16.7: initial message = 0x02, fixed fields up to byte 1746, then a complete ratchet message. */
export const INITIAL_MESSAGE_VERSION = 0x02;
export const INITIAL_MESSAGE_FIXED_BYTES = 1746;
/** §16.7: offset of the one-time prekey flag (0x00 absent, 0x01 present). */
const INITIAL_MESSAGE_OTK_FLAG_OFFSET = 168;

/** Bytes that a base64url text of this length decodes to, or -1 for an impossible length. */
function decodedLength(chars: number): number {
  return chars % 4 === 1 ? -1 : Math.floor((chars * 3) / 4);
}

/**
 * The byte at `offset` of the base64url `text`, decoding only the 4-character group holding it
 * (undefined when the text is too short or malformed).
 */
function byteAt(text: string, offset: number): number | undefined {
  const group = Math.floor(offset / 3) * 4;
  try {
    return base64urlDecode(text.slice(group, group + 4))[offset % 3];
  } catch {
    return undefined;
  }
}

/** Why a JWE protected header is not the one §8.3 specifies, or undefined when it is. */
export function hybridProtectedProblem(value: string): string | undefined {
  if (value === HYBRID_PROTECTED_B64) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64urlDecode(value)));
  } catch {
    return 'not base64url of JSON';
  }
  const expected = Object.entries(HYBRID_PROTECTED_HEADER);
  const ok =
    typeof header === 'object' &&
    header !== null &&
    !Array.isArray(header) &&
    Object.keys(header).length === expected.length &&
    expected.every(([k, v]) => (header as Record<string, unknown>)[k] === v);
  return ok ? undefined : `must be ${JSON.stringify(HYBRID_PROTECTED_HEADER)}`;
}

/** Why a JWE ciphertext is not a positive number of AES blocks, or undefined when it is. */
export function hybridCiphertextProblem(value: string): string | undefined {
  const bytes = decodedLength(value.length);
  return bytes > 0 && bytes % AES_BLOCK_BYTES === 0 ? undefined : 'must be a positive multiple of 16 bytes';
}

/** Why a ratchet message of `bytes` bytes cannot be one (§16.9), or undefined. */
function ratchetMessageLengthProblem(bytes: number): string | undefined {
  if (bytes < RATCHET_MESSAGE_MIN_BYTES) return `a ratchet message is at least ${RATCHET_MESSAGE_MIN_BYTES} bytes`;
  if ((bytes - RATCHET_HEADER_BYTES - RATCHET_TAG_BYTES) % AES_BLOCK_BYTES !== 0) return 'the ratchet ciphertext must be whole AES blocks';
  return undefined;
}

/** Why a ratchet envelope body is not a ratchet message (0x01) or an initial message (0x02), or undefined. */
export function ratchetBodyProblem(body: string): string | undefined {
  const bytes = decodedLength(body.length);
  if (bytes < 0) return 'impossible base64url length';
  const version = byteAt(body, 0);
  if (version === RATCHET_MESSAGE_VERSION) return ratchetMessageLengthProblem(bytes);
  if (version !== INITIAL_MESSAGE_VERSION) return 'first byte must be 0x01 (ratchet message) or 0x02 (initial message)';
  if (bytes < INITIAL_MESSAGE_FIXED_BYTES + RATCHET_MESSAGE_MIN_BYTES) {
    return `an initial message is at least ${INITIAL_MESSAGE_FIXED_BYTES + RATCHET_MESSAGE_MIN_BYTES} bytes`;
  }
  const flag = byteAt(body, INITIAL_MESSAGE_OTK_FLAG_OFFSET);
  if (flag !== 0x00 && flag !== 0x01) return 'the one-time prekey flag (byte 168) must be 0x00 or 0x01';
  if (byteAt(body, INITIAL_MESSAGE_FIXED_BYTES) !== RATCHET_MESSAGE_VERSION) return 'the ratchet message inside an initial message must start with 0x01';
  return ratchetMessageLengthProblem(bytes - INITIAL_MESSAGE_FIXED_BYTES);
}
