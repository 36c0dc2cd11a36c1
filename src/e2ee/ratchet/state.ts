/**
 * The live Double Ratchet state (spec §3.2 "State variables") and its initialisation (spec §3.3, with
 * PQXDH as in spec §5.1 / PQXDH §3.3: SK is the first root key, SPK_B is Bob's first ratchet key pair, the
 * PQXDH AD is the ratchet's AD).
 *
 * Secrets live in a private field: JSON.stringify and Node's inspect show public values only. Persistence
 * goes through pickle.ts, never through the live object. Byte arrays held here are treated as immutable
 * (replaced, never written in place) so that clone() can share them: decryption runs on a clone and
 * commits only on success (ratchet.ts).
 */
import { hexEncode, type Bytes } from '../../crypto/bytes.js';
import type { RandomSource } from '../../crypto/random.js';
import { X25519KeyPair } from '../../crypto/x25519.js';
import { PQXDH_AD_LENGTH } from '../pqxdh/constants.js';
import { kdfRootKey } from './root-key.js';

export interface SkippedKey {
  readonly dh: Bytes;
  readonly n: number;
  readonly messageKey: Bytes;
}

/** Spec §3.2 names in comments; `skipped` keeps insertion order (oldest first) for eviction. */
export interface RatchetFields {
  dhs: X25519KeyPair; // DHs: our current ratchet key pair
  dhr: Bytes | undefined; // DHr: peer's current ratchet public key
  rk: Bytes; // RK: root key
  cks: Bytes | undefined; // CKs: sending chain key
  ckr: Bytes | undefined; // CKr: receiving chain key
  ns: number; // Ns: message number for sending
  nr: number; // Nr: message number for receiving
  pn: number; // PN: number of messages in the previous sending chain
  skipped: Map<string, SkippedKey>; // MKSKIPPED, keyed by skippedKeyId(dh, n)
  /** The PQXDH AD (PQXDH_AD_LENGTH bytes), prepended to every header: CONCAT(AD, header). */
  ad: Bytes;
  /** EK_A of the PQXDH run that created this state, to recognise a repeated initial message. */
  baseKey: Bytes;
  /** Initiator only: the PQXDH fields of the initial message, resent with each message until a reply arrives. */
  pendingPreKey: Bytes | undefined;
}

/** Hex of recent ratchet keys: every skipped key of a chain names the same one (up to 3000 per record load). */
const dhIds = new WeakMap<Uint8Array, string>();

export function skippedKeyId(dh: Uint8Array, n: number): string {
  let hex = dhIds.get(dh);
  if (hex === undefined) dhIds.set(dh, (hex = hexEncode(dh)));
  return `${hex}.${n}`;
}

let fieldsOf: (state: RatchetState) => RatchetFields;

export class RatchetState {
  #f: RatchetFields;

  constructor(fields: RatchetFields) {
    if (fields.ad.length !== PQXDH_AD_LENGTH) throw new RangeError(`"ad" expected ${PQXDH_AD_LENGTH} bytes (the PQXDH AD)`);
    this.#f = fields;
  }

  static {
    fieldsOf = (state) => state.#f;
  }

  /** An independent copy; key bytes are shared because they are never modified in place. */
  clone(): RatchetState {
    return new RatchetState({ ...this.#f, skipped: new Map(this.#f.skipped) });
  }

  /**
   * Forgets up to `count` skipped message keys, oldest first (a session record's cap across its states,
   * session-record.ts); returns how many it dropped. The key bytes are not wiped: clones share them.
   */
  dropOldestSkippedKeys(count: number): number {
    let dropped = 0;
    for (const id of this.#f.skipped.keys()) {
      if (dropped >= count) break;
      this.#f.skipped.delete(id);
      dropped++;
    }
    return dropped;
  }

  /** Replaces this state's contents with a successfully updated working copy. */
  commit(from: RatchetState): void {
    this.#f = from.#f;
  }

  get ratchetPublicKey(): Bytes {
    return this.#f.dhs.publicKey;
  }
  get remoteRatchetKey(): Bytes | undefined {
    return this.#f.dhr;
  }
  get baseKey(): Bytes {
    return this.#f.baseKey;
  }
  get associatedData(): Bytes {
    return this.#f.ad;
  }
  get counters(): { ns: number; nr: number; pn: number; skipped: number } {
    return { ns: this.#f.ns, nr: this.#f.nr, pn: this.#f.pn, skipped: this.#f.skipped.size };
  }
  get canSend(): boolean {
    return this.#f.cks !== undefined;
  }
  get hasPendingPreKey(): boolean {
    return this.#f.pendingPreKey !== undefined;
  }

  toJSON(): Record<string, unknown> {
    return { type: 'RatchetState', ratchetPublicKey: hexEncode(this.#f.dhs.publicKey), ...this.counters };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const c = this.counters;
    return `RatchetState { ratchetPublicKey: ${hexEncode(this.#f.dhs.publicKey)}, ns: ${c.ns}, nr: ${c.nr}, pn: ${c.pn}, skipped: ${c.skipped} }`;
  }
}

/** @internal For ratchet.ts and pickle.ts only. */
export function ratchetFields(state: RatchetState): RatchetFields {
  return fieldsOf(state);
}

/** RatchetInitAlice (spec §3.3): DHs = GENERATE_DH(); DHr = SPK_B; RK, CKs = KDF_RK(SK, DH(DHs, DHr)). */
export async function initAlice(
  sharedKey: Bytes,
  ad: Bytes,
  bobRatchetKey: Bytes,
  baseKey: Bytes,
  pendingPreKey: Bytes,
  random?: RandomSource,
): Promise<RatchetState> {
  const dhs = await X25519KeyPair.generate(random);
  const { rootKey, chainKey } = kdfRootKey(sharedKey, await dhs.agree(bobRatchetKey));
  return new RatchetState({
    dhs,
    dhr: Uint8Array.from(bobRatchetKey),
    rk: rootKey,
    cks: chainKey,
    ckr: undefined,
    ns: 0,
    nr: 0,
    pn: 0,
    skipped: new Map(),
    ad,
    baseKey,
    pendingPreKey,
  });
}

/** RatchetInitBob (spec §3.3): DHs = SPK_B key pair; DHr = none; RK = SK; no chains yet. */
export function initBob(sharedKey: Bytes, ad: Bytes, signedPreKey: X25519KeyPair, baseKey: Bytes): RatchetState {
  return new RatchetState({
    dhs: signedPreKey,
    dhr: undefined,
    rk: sharedKey,
    cks: undefined,
    ckr: undefined,
    ns: 0,
    nr: 0,
    pn: 0,
    skipped: new Map(),
    ad,
    baseKey,
    pendingPreKey: undefined,
  });
}
