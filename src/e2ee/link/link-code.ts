/**
 * The link code (docs/PROTOCOL.md §18.1): `<slot>-<secret>`, e.g. `417-K7QM-9TZC`. The new device draws
 * the secret and prints the code; the user types it on the primary. The slot only routes (the server
 * picks it); the secret is CPace's password, 8 characters of Crockford's base32 alphabet, 40 bits.
 */
import { base64urlEncode, utf8Encode, type Bytes } from '../../crypto/bytes.js';
import type { RandomSource } from '../../crypto/random.js';
import { sha256 } from '../../crypto/sha.js';
import { ChatError } from '../../protocol/errors.js';
import { LINK_CODE_SECRET_CHARS } from '../../protocol/limits.js';
import { LINK_SLOT_PATTERN } from '../../protocol/link-schemas.js';

/** Crockford's base32 digits, value = index: no I, L, O (confusable with 1 and 0) and no U. */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const SECRET_PATTERN = new RegExp(`^[${CROCKFORD_ALPHABET}]{${LINK_CODE_SECRET_CHARS}}$`);
/** Bytes drawn for a secret: 8 characters × 5 bits = 40 bits. */
const SECRET_RANDOM_BYTES = (LINK_CODE_SECRET_CHARS * 5) / 8;

export interface LinkCode {
  /** The relay slot, canonical decimal (`417`). */
  readonly slot: string;
  /** The secret in canonical form: 8 upper-case alphabet characters, no separator (`K7QM9TZC`). */
  readonly secret: string;
}

/** A fresh secret: 40 bits from the CSPRNG, 5 bits per character, most significant bits first. */
export function generateLinkSecret(random: RandomSource): string {
  const bytes = random(SECRET_RANDOM_BYTES);
  if (!(bytes instanceof Uint8Array) || bytes.length !== SECRET_RANDOM_BYTES) throw new RangeError('the random source returned the wrong length');
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  bytes.fill(0);
  let secret = '';
  for (let i = LINK_CODE_SECRET_CHARS - 1; i >= 0; i--) secret += CROCKFORD_ALPHABET[Number((bits >> BigInt(5 * i)) & 31n)]!;
  return secret;
}

/** `417-K7QM-9TZC`: the slot, then the secret as two groups of four. */
export function formatLinkCode(code: LinkCode): string {
  if (!LINK_SLOT_PATTERN.test(code.slot) || !SECRET_PATTERN.test(code.secret)) throw new RangeError('not a canonical link code');
  return `${code.slot}-${code.secret.slice(0, 4)}-${code.secret.slice(4)}`;
}

const refuse = (why: string): never => {
  throw new ChatError('link_failed', `that is not a link code (${why}); it looks like 417-K7QM-9TZC`);
};

/**
 * Reads a typed code: trim, upper-case, drop spaces; the slot is the digits before the first `-`; the
 * rest, with every `-` removed and `O`→`0`, `I`/`L`→`1`, must be 8 alphabet characters. Anything else is
 * refused here, before any network traffic. Non-ASCII input is refused before upper-casing, since
 * Unicode case mapping would turn some letters into ASCII ones (`ı`→`I`, `ſ`→`S`).
 */
export function parseLinkCode(text: string): LinkCode {
  const trimmed = text.trim();
  // Printable ASCII only (space included): nothing Unicode case mapping could turn into a code.
  if (!/^[\x20-\x7e]*$/.test(trimmed)) refuse('it has characters outside printable ASCII');
  const compact = trimmed.toUpperCase().replaceAll(' ', '');
  const dash = compact.indexOf('-');
  if (dash < 0) refuse('no "-" after the slot number');
  const slot = compact.slice(0, dash);
  if (!LINK_SLOT_PATTERN.test(slot)) refuse('the slot number before the first "-" must be 1 to 6 digits, not starting with 0');
  const secret = compact
    .slice(dash + 1)
    .replaceAll('-', '')
    .replaceAll('O', '0')
    .replaceAll('I', '1')
    .replaceAll('L', '1');
  if (!SECRET_PATTERN.test(secret)) refuse(`the part after the slot must be ${LINK_CODE_SECRET_CHARS} characters of 0-9 and A-Z without U`);
  return { slot, secret };
}

/** CPace's PRS: the secret's 8 canonical characters as ASCII bytes (`K7QM9TZC`). */
export function linkCodePrs(code: LinkCode): Bytes {
  if (!SECRET_PATTERN.test(code.secret)) throw new RangeError('not a canonical link secret');
  return utf8Encode(code.secret);
}

/** What linkCodeHash returns: a SHA-256 digest in base64url, 43 characters. */
export const LINK_CODE_HASH_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * The name under which the primary records a code it tried (docs/design/devices-v2.md §6.6; the
 * TriedLinkCodes of src/client/stores.ts): SHA-256 of the canonical printed code (`417-K7QM-9TZC`), in
 * base64url. Every way of typing one code gives the same hash, and the slot is part of it, as the code is.
 * Hashed so that the ledger file is no list of codes in clear; it guards nothing more (40 bits and a
 * slot are quickly searched), and a recorded code is dead anyway: the primary never runs it again.
 */
export function linkCodeHash(code: LinkCode): string {
  return base64urlEncode(sha256(utf8Encode(formatLinkCode(code))));
}
