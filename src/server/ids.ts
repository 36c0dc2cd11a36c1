/**
 * Server ids for envelopes: 16 random bytes, base64url. Drawn from a pool refilled 4 KiB at a time,
 * because one getRandomValues call per message was a measurable share of the relay's CPU.
 */
import { base64urlEncode } from '../crypto/bytes.js';

const POOL_BYTES = 4096;
const ID_BYTES = 16;
let pool = new Uint8Array(0);
let offset = POOL_BYTES;

export function newServerId(): string {
  if (offset + ID_BYTES > pool.length) {
    pool = new Uint8Array(POOL_BYTES);
    globalThis.crypto.getRandomValues(pool);
    offset = 0;
  }
  const id = base64urlEncode(pool.subarray(offset, offset + ID_BYTES));
  // Each id's bytes are used once: wipe them so the pool never hands the same bytes out twice.
  pool.fill(0, offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return id;
}
