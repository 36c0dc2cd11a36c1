/**
 * Envelopes of a valid shape (docs/PROTOCOL.md §8, §15.1, §16.7, §16.9) filled with random bytes: the
 * server checks lengths and version bytes, never content, so it cannot tell these from real ones (a real
 * client would fail to decrypt them).
 */
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';

/** The JWE protected header our clients send, byte for byte (§8.3). */
export const HYBRID_PROTECTED_JSON = '{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512","cty":"e2ee-chat.message+jws"}';

/** Random bytes of any length (getRandomValues gives at most 64 KiB per call). */
function randomOfLength(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) out.set(randomBytes(Math.min(65536, n - i)), i);
  return out;
}

const b64 = (n: number) => base64urlEncode(randomBytes(n));

/** Bytes that `chars` base64url characters decode to (chars % 4 must not be 1). */
const bytesOfChars = (chars: number) => Math.floor((chars * 3) / 4);

export interface HybridEnvelopeWire {
  type: 'hybrid';
  v: 1;
  jwe: { protected: string; encrypted_key: string; iv: string; ciphertext: string; tag: string };
}

/**
 * A hybrid envelope whose ciphertext is `blocks` AES blocks. `label` (if any) is written at the start of
 * the ciphertext bytes so a test can recognise the envelope; `protectedJson` may carry extra spacing.
 */
export function hybridEnvelope(opts: { blocks?: number; label?: string; protectedJson?: string } = {}): HybridEnvelopeWire {
  const ciphertext = randomOfLength(16 * (opts.blocks ?? 3));
  if (opts.label) ciphertext.set(new TextEncoder().encode(opts.label).subarray(0, ciphertext.length));
  return {
    type: 'hybrid',
    v: 1,
    jwe: {
      protected: base64urlEncode(new TextEncoder().encode(opts.protectedJson ?? HYBRID_PROTECTED_JSON)),
      encrypted_key: b64(256),
      iv: b64(16),
      ciphertext: base64urlEncode(ciphertext),
      tag: b64(32),
    },
  };
}

/**
 * A valid hybrid envelope whose JSON text is exactly `total` characters (the unit of the server's size
 * cap and byte quotas). Whole AES blocks make the ciphertext grow in steps of 21–22 characters; spaces
 * inside the protected header's JSON (still the same JSON object) make up the rest.
 */
export function hybridEnvelopeOfJsonLength(total: number, label = ''): HybridEnvelopeWire {
  const minimalProtectedChars = base64urlEncode(new TextEncoder().encode(HYBRID_PROTECTED_JSON)).length;
  const overhead = JSON.stringify(hybridEnvelope({ blocks: 0 })).length - minimalProtectedChars;
  for (let blocks = Math.floor((total - overhead) / 21); blocks >= 1; blocks--) {
    const ciphertextChars = Math.ceil((16 * blocks * 4) / 3);
    const protectedChars = total - overhead - ciphertextChars;
    if (protectedChars < minimalProtectedChars || protectedChars % 4 === 1) continue;
    const padding = bytesOfChars(protectedChars) - HYBRID_PROTECTED_JSON.length;
    const protectedJson = `{${' '.repeat(padding)}${HYBRID_PROTECTED_JSON.slice(1)}`;
    const env = hybridEnvelope({ blocks, label, protectedJson });
    if (JSON.stringify(env).length === total) return env;
  }
  throw new RangeError(`no valid hybrid envelope has a JSON length of ${total}`);
}

/** A Double Ratchet message (§16.9): 0x01, 40 header bytes, `blocks` AES blocks, a 32-byte tag. */
export function ratchetMessageBytes(blocks = 1): Uint8Array {
  const bytes = randomOfLength(41 + 16 * blocks + 32);
  bytes[0] = 0x01;
  return bytes;
}

/** A PQXDH initial message (§16.7): 0x02, the 1745 bytes of fixed fields, then a ratchet message. */
export function initialMessageBytes(blocks = 1): Uint8Array {
  const fixed = randomBytes(1746);
  fixed[0] = 0x02;
  fixed[168] = 0x01; // one-time prekey flag: present
  const inner = ratchetMessageBytes(blocks);
  const out = new Uint8Array(fixed.length + inner.length);
  out.set(fixed);
  out.set(inner, fixed.length);
  return out;
}

export function ratchetEnvelope(body: Uint8Array = ratchetMessageBytes()) {
  return { type: 'ratchet' as const, v: 1 as const, body: base64urlEncode(body) };
}
