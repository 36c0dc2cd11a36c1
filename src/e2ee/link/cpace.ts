/**
 * CPace, cipher suite CPACE-RISTR255-SHA512, initiator-responder setting, with the explicit key
 * confirmation of the draft's §10.4. Spec: M. Abdalla, B. Haase, J. Hesse, "CPace, a balanced composable
 * PAKE", draft-irtf-cfrg-cpace-21 (editor's copy at github.com/cfrg/draft-irtf-cfrg-cpace, commit
 * 8fb4056). Section numbers are the draft's own ("Status of This Memo" is §1); the pinned vectors of its
 * Appendix B.3 are reproduced byte for byte by test/e2ee/link/cpace-vectors.test.ts.
 *
 * Group: ristretto255 (RFC 9496) from @noble/curves; hash: SHA-512 from @noble/hashes. Nothing here knows
 * about device linking: link-cpace-inputs.ts maps the link's code, account and session ids onto PRS, CI
 * and sid (docs/PROTOCOL.md §18).
 *
 * Secrets (the scalar, K, the generator string that holds PRS, ISK, the MAC key) are wiped once used.
 * Best effort: the curve arithmetic runs on bigints, which JavaScript cannot overwrite.
 */
import { ristretto255, ristretto255_hasher } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { concatBytes, constantTimeEqual, utf8Encode, wipe, type Bytes } from '../../crypto/bytes.js';
import { hmacSha512 } from '../../crypto/hmac.js';
import type { RandomSource } from '../../crypto/random.js';
import { sha512 } from '../../crypto/sha.js';
import { ChatError } from '../../protocol/errors.js';

/** G_Ristretto255.DSI (§8.3). */
export const CPACE_RISTRETTO255_DSI = utf8Encode('CPaceRistretto255');
/** G.DSI || "_ISK", the label of the ISK hash (§7.2). */
const ISK_DSI = utf8Encode('CPaceRistretto255_ISK');
/** The prefix of mac_key = H.hash("CPaceMac" || sid || ISK) (§10.4). */
const MAC_KEY_PREFIX = utf8Encode('CPaceMac');
/** H.s_in_bytes of SHA-512: its input block size (§6.2). */
export const SHA512_BLOCK_BYTES = 128;
/** Encoded ristretto255 elements (shares, K) and scalars: G.field_size_bytes (§8.3). */
export const CPACE_ELEMENT_BYTES = 32;
/** ISK is one SHA-512 output. */
export const CPACE_ISK_BYTES = 64;
/** Key-confirmation tags are full HMAC-SHA-512 outputs. */
export const CPACE_TAG_BYTES = 64;

/** G.I: the encoding of ristretto255's identity element (all zero bytes, RFC 9496 §4.3.2). */
const IDENTITY = new Uint8Array(CPACE_ELEMENT_BYTES);

export type RistrettoPoint = InstanceType<typeof ristretto255.Point>;

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array`);
}

/** prepend_len (§6.3, Appendix A.1): the LEB128 encoding of len(data), then data. */
export function prependLen(data: Uint8Array): Bytes {
  checkBytes(data, 'data');
  const length: number[] = [];
  let n = data.length;
  do {
    length.push(n < 128 ? n : (n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  } while (n > 0);
  return concatBytes(Uint8Array.from(length), data);
}

/** lv_cat(a0, a1, …) = prepend_len(a0) || prepend_len(a1) || … (§6.3, Appendix A.1). */
export function lvCat(...parts: Uint8Array[]): Bytes {
  return concatBytes(...parts.map(prependLen));
}

/**
 * generator_string (§8.1, Appendix A.2): lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid) with
 * len_zpad = max(0, s_in_bytes − 1 − len(prepend_len(PRS)) − len(prepend_len(DSI))), so that DSI, PRS and
 * the padding fill the hash's first input block and its cost does not depend on a short PRS.
 */
export function generatorString(dsi: Uint8Array, prs: Uint8Array, ci: Uint8Array, sid: Uint8Array, sInBytes: number): Bytes {
  for (const [name, v] of [['dsi', dsi], ['prs', prs], ['ci', ci], ['sid', sid]] as const) checkBytes(v, name);
  const prefixed = prependLen(prs);
  const zpad = Math.max(0, sInBytes - 1 - prefixed.length - prependLen(dsi).length);
  wipe(prefixed);
  return lvCat(dsi, prs, new Uint8Array(zpad), ci, sid);
}

/**
 * G.calculate_generator (§8.3): element_derivation(SHA-512(generator_string(DSI, PRS, CI, sid, 128))),
 * the element derivation of RFC 9496 §4.3.4 on the 64-byte digest (noble's `deriveToCurve`; not
 * `hashToCurve`, which runs RFC 9380's expand_message first and gives another point).
 */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): RistrettoPoint {
  const genStr = generatorString(CPACE_RISTRETTO255_DSI, prs, ci, sid, SHA512_BLOCK_BYTES);
  const digest = sha512(genStr);
  try {
    // Typed optional in noble's generic hasher interface; ristretto255's always has it (noble ≥ 2.0).
    const g = ristretto255_hasher.deriveToCurve?.(digest);
    if (g === undefined) throw new Error('@noble/curves has no ristretto255 element derivation');
    return g;
  } finally {
    wipe(genStr);
    wipe(digest);
  }
}

/**
 * G.sample_scalar (§8.3, the recommended way): 32 random bytes, the bits above group_size_bits = 252
 * cleared, read little-endian. Every such value is below the group order (2^252 + …); zero, which has
 * probability 2^-252, is drawn again rather than used.
 */
export function sampleScalar(random: RandomSource): Bytes {
  for (;;) {
    const scalar = random(CPACE_ELEMENT_BYTES);
    if (!(scalar instanceof Uint8Array) || scalar.length !== CPACE_ELEMENT_BYTES) throw new RangeError('the random source returned the wrong length');
    scalar[31] = scalar[31]! & 0x0f;
    if (!constantTimeEqual(scalar, IDENTITY)) return scalar;
  }
}

function scalarOf(scalar: Uint8Array): bigint {
  if (!(scalar instanceof Uint8Array) || scalar.length !== CPACE_ELEMENT_BYTES) throw new RangeError('"scalar" expected Uint8Array of length 32');
  return bytesToNumberLE(scalar);
}

/** G.scalar_mult(y, _g) (§8.3): encode(y · _g), for a generator in the internal representation. */
export function scalarMult(scalar: Uint8Array, g: RistrettoPoint): Bytes {
  return g.multiply(scalarOf(scalar)).toBytes() as Bytes;
}

/**
 * G.scalar_mult_vfy(y, X) (§8.3): G.I when X does not decode (RFC 9496 §4.3.1: non-canonical, negative,
 * or not a group element), else encode(y · decode(X)). Callers abort on G.I (§7.2), which also covers an
 * X that encodes the identity itself.
 */
export function scalarMultVfy(scalar: Uint8Array, encoded: Uint8Array): Bytes {
  const y = scalarOf(scalar);
  let point: RistrettoPoint;
  try {
    if (!(encoded instanceof Uint8Array) || encoded.length !== CPACE_ELEMENT_BYTES) return IDENTITY.slice();
    point = ristretto255.Point.fromBytes(encoded);
  } catch {
    return IDENTITY.slice();
  }
  return point.multiply(y).toBytes() as Bytes;
}

/** transcript_ir(Ya, ADa, Yb, ADb) = lv_cat(Ya, ADa) || lv_cat(Yb, ADb) (§6.3, Appendix A.3). */
export function transcriptIr(ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Bytes {
  return concatBytes(lvCat(ya, adA), lvCat(yb, adB));
}

/** ISK = H.hash(lv_cat(G.DSI || "_ISK", sid, K) || transcript_ir(Ya, ADa, Yb, ADb)) (§7.2). */
export function intermediateSessionKey(sid: Uint8Array, k: Uint8Array, ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): Bytes {
  const prefix = lvCat(ISK_DSI, sid, k);
  try {
    return sha512(prefix, transcriptIr(ya, adA, yb, adB));
  } finally {
    wipe(prefix);
  }
}

/**
 * The key confirmation of §10.4: mac_key = H.hash("CPaceMac" || sid || ISK) (plain concatenation),
 * Ta = MAC(mac_key, lv_cat(Ya, ADa)), Tb = MAC(mac_key, lv_cat(Yb, ADb)), with MAC = HMAC-SHA-512
 * (the draft names HMAC as one suitable MAC and leaves the hash to the application).
 */
export function confirmationTags(sid: Uint8Array, isk: Uint8Array, ya: Uint8Array, adA: Uint8Array, yb: Uint8Array, adB: Uint8Array): { ta: Bytes; tb: Bytes } {
  const macKey = sha512(MAC_KEY_PREFIX, sid, isk);
  try {
    return { ta: hmacSha512(macKey, lvCat(ya, adA)), tb: hmacSha512(macKey, lvCat(yb, adB)) };
  } finally {
    wipe(macKey);
  }
}

/** The inputs both parties must share (§4.1): PRS, CI and sid. */
export interface CPaceInputs {
  readonly prs: Uint8Array;
  readonly ci: Uint8Array;
  readonly sid: Uint8Array;
}

/** A is the initiator, who speaks first; B the responder (§4, initiator-responder setting). */
export type CPaceRole = 'initiator' | 'responder';

/** What a party holds once both shares are known: ISK and the two confirmation tags. */
export class CPaceSession {
  readonly #isk: Bytes;
  readonly #ownTag: Bytes;
  readonly #peerTag: Bytes;

  /** @internal Built by CPaceParty.finish. */
  constructor(isk: Bytes, ownTag: Bytes, peerTag: Bytes) {
    this.#isk = isk;
    this.#ownTag = ownTag;
    this.#peerTag = peerTag;
  }

  /** ISK (§7.2): feed it to a KDF before use (§10.3). A copy: wiping it leaves this session intact. */
  isk(): Bytes {
    return this.#isk.slice();
  }

  /** This party's confirmation tag to send: Ta for the initiator, Tb for the responder (§10.4). */
  ownTag(): Bytes {
    return this.#ownTag.slice();
  }

  /** The peer's tag checked in constant time (§10.4: abort when it is wrong). */
  confirms(peerTag: Uint8Array): boolean {
    return peerTag instanceof Uint8Array && constantTimeEqual(peerTag, this.#peerTag);
  }

  wipe(): void {
    wipe(this.#isk);
    wipe(this.#ownTag);
    wipe(this.#peerTag);
  }
}

/**
 * One party's run (§7.2). `start` computes the generator, samples the scalar and the share to send with
 * this party's AD; `finish` takes the peer's share and AD, computes K = scalar_mult_vfy(y, Y_peer),
 * aborts when K = G.I, and returns the session. A party finishes once; its scalar is wiped then.
 */
export class CPaceParty {
  readonly role: CPaceRole;
  /** Ya for the initiator, Yb for the responder. */
  readonly share: Bytes;
  readonly ad: Bytes;
  readonly #sid: Bytes;
  #scalar: Bytes | undefined;

  private constructor(role: CPaceRole, share: Bytes, ad: Bytes, sid: Bytes, scalar: Bytes) {
    this.role = role;
    this.share = share;
    this.ad = ad;
    this.#sid = sid;
    this.#scalar = scalar;
  }

  static start(role: CPaceRole, inputs: CPaceInputs, ad: Uint8Array, random: RandomSource): CPaceParty {
    checkBytes(ad, 'ad');
    const g = calculateGenerator(inputs.prs, inputs.ci, inputs.sid);
    const scalar = sampleScalar(random);
    return new CPaceParty(role, scalarMult(scalar, g), Uint8Array.from(ad), Uint8Array.from(inputs.sid), scalar);
  }

  /** Forgets the scalar without finishing (the run was abandoned). */
  wipe(): void {
    if (this.#scalar) wipe(this.#scalar);
    this.#scalar = undefined;
  }

  /** Throws ChatError `link_failed` when the peer's share does not decode or gives the identity. */
  finish(peerShare: Uint8Array, peerAd: Uint8Array): CPaceSession {
    checkBytes(peerShare, 'peerShare');
    checkBytes(peerAd, 'peerAd');
    const scalar = this.#scalar;
    if (scalar === undefined) throw new Error('this CPace party has already finished');
    this.#scalar = undefined;
    const k = scalarMultVfy(scalar, peerShare);
    wipe(scalar);
    try {
      if (constantTimeEqual(k, IDENTITY)) throw new ChatError('link_failed', "CPace aborted: the other party's share is not a valid ristretto255 element");
      const [ya, adA, yb, adB] = this.role === 'initiator' ? [this.share, this.ad, peerShare, peerAd] : [peerShare, peerAd, this.share, this.ad];
      const isk = intermediateSessionKey(this.#sid, k, ya, adA, yb, adB);
      const { ta, tb } = confirmationTags(this.#sid, isk, ya, adA, yb, adB);
      return this.role === 'initiator' ? new CPaceSession(isk, ta, tb) : new CPaceSession(isk, tb, ta);
    } finally {
      wipe(k);
    }
  }
}
