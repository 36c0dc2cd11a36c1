/**
 * How large a payload can be and still seal into an envelope the server takes: what history on link
 * packs its items against (history-transfer.ts), so that no history message is refused as too large after
 * it was built. The bound holds whatever the session's state, so it is computed for the largest case.
 *
 * A refused seal would cost more than the message: with no session yet, the seal that is thrown away has
 * fetched the device's bundle (and one of its one-time prekeys) for nothing. So the bound is computed
 * from the constructions, not found by trying.
 */
import { INITIAL_MESSAGE_HEADER_LENGTH } from '../e2ee/pqxdh/initial-message.js';
import { HEADER_LENGTH, MAC_LENGTH } from '../e2ee/ratchet/constants.js';

/** The envelope's JSON around its base64url body (session-manager.ts envelopeBytes measures this text). */
const RATCHET_FRAME_BYTES = JSON.stringify({ type: 'ratchet', v: 1, body: '' }).length;

/** AES-256-CBC with PKCS#7 pads every plaintext by 1 to 16 bytes. */
const CBC_PADDING_MAX = 16;

/**
 * Hybrid mode's fixed cost, bounded from above: the envelope's JSON, the JWE's protected header
 * (~110 characters), wrapped key (342), IV (22) and tag (43), and inside the ciphertext the JWS's
 * protected header (~64) and signature (86), its two dots and the CBC padding, each grown by base64url.
 * About 820 bytes (measured: test/client/history-transfer.test.ts); 1,024 leaves room for headers a
 * later jose might write a little longer.
 */
const HYBRID_FIXED_BYTES = 1024;

/**
 * The most UTF-8 bytes of payload JSON that seal into at most `maxEnvelopeBytes`: in ratchet mode with a
 * PQXDH initial message in front (a new session's messages carry one until the other side answers, and a
 * device that receives history has nothing to answer); in hybrid mode, where the payload is base64url'd
 * twice (once in the JWS, once more as the JWE's ciphertext), so it grows by 16/9.
 */
export function maxPayloadBytes(mode: 'ratchet' | 'hybrid', maxEnvelopeBytes: number): number {
  if (mode === 'hybrid') return Math.max(0, Math.floor(((maxEnvelopeBytes - HYBRID_FIXED_BYTES) * 9) / 16));
  // ceil(4n/3) base64url characters for n bytes: n ≤ 3/4 of the room left in the envelope.
  const messageBytes = Math.floor(((maxEnvelopeBytes - RATCHET_FRAME_BYTES) * 3) / 4);
  return Math.max(0, messageBytes - INITIAL_MESSAGE_HEADER_LENGTH - HEADER_LENGTH - MAC_LENGTH - CBC_PADDING_MAX);
}
