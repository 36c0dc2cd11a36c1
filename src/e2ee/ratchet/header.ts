/**
 * The Double Ratchet message header HEADER(dh_pair, pn, n) (spec §3.1) and message framing:
 *
 *   off  len  field
 *   0    1    type/version 0x01
 *   1    32   sender's current DH ratchet public key (X25519 u, little-endian, RFC 7748 §5)
 *   33   4    PN: number of messages in the sender's previous sending chain (uint32 big-endian)
 *   37   4    N: message number in the current sending chain (uint32 big-endian)
 *   41   16k  AES-256-CBC ciphertext (k >= 1)
 *   end  32   HMAC-SHA-256 tag
 */
import { concatBytes, type Bytes } from '../../crypto/bytes.js';
import { HEADER_LENGTH, HEADER_VERSION, MAC_LENGTH, MAX_COUNTER } from './constants.js';

export interface RatchetHeader {
  readonly dh: Bytes;
  readonly pn: number;
  readonly n: number;
}

export function encodeHeader(header: RatchetHeader): Bytes {
  if (header.dh.length !== 32) throw new RangeError('"dh" expected 32 bytes');
  for (const v of [header.pn, header.n]) if (!Number.isInteger(v) || v < 0 || v > MAX_COUNTER) throw new RangeError('header counter out of range');
  const out = new Uint8Array(HEADER_LENGTH);
  out[0] = HEADER_VERSION;
  out.set(header.dh, 1);
  const view = new DataView(out.buffer);
  view.setUint32(33, header.pn, false);
  view.setUint32(37, header.n, false);
  return out;
}

export class MalformedMessageError extends Error {
  constructor(why: string) {
    super(`malformed ratchet message: ${why}`);
    this.name = 'MalformedMessageError';
  }
}

/** Splits a message into its parsed header, the exact header bytes (for the AD) and ciphertext || tag. */
export function parseMessage(message: Uint8Array): { header: RatchetHeader; headerBytes: Bytes; body: Bytes } {
  if (message.length < HEADER_LENGTH + 16 + MAC_LENGTH) throw new MalformedMessageError('too short');
  if ((message.length - HEADER_LENGTH - MAC_LENGTH) % 16 !== 0) throw new MalformedMessageError('ciphertext is not whole AES blocks');
  if (message[0] !== HEADER_VERSION) throw new MalformedMessageError('unknown version');
  const headerBytes = message.slice(0, HEADER_LENGTH);
  const view = new DataView(headerBytes.buffer);
  return {
    header: { dh: headerBytes.slice(1, 33), pn: view.getUint32(33, false), n: view.getUint32(37, false) },
    headerBytes,
    body: message.slice(HEADER_LENGTH),
  };
}

export function frameMessage(headerBytes: Uint8Array, body: Uint8Array): Bytes {
  return concatBytes(headerBytes, body);
}
