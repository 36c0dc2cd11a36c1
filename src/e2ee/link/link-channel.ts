/**
 * The link channel (docs/PROTOCOL.md §18.3, §18.5): the keys derived from CPace's ISK and the record
 * layer that carries the offer and the provisioning.
 *
 * Key schedule (ISK is fed to a KDF before use, as CPace §10.3 recommends):
 *   okm = HKDF-SHA-256(IKM = ISK, salt = sid, info = "e2ee-chat link v2 channel", L = 64)
 *   kB→A = okm[0:32] (new device → primary), kA→B = okm[32:64] (primary → new device)
 *
 * Records: AES-256-GCM, one key per direction, nonce = 0x00000000 ‖ u64 counter (big-endian) from 0 up
 * by one per record, AAD = "e2ee-chat link v2 record" ‖ sid ‖ frame type ‖ final. The counter is never
 * sent: a record dropped, repeated or moved opens with the wrong nonce and fails its tag, and the first
 * failure ends the direction for good.
 */
import { aes256GcmOpen, aes256GcmSeal, AES_GCM_NONCE_LENGTH, AES_GCM_TAG_LENGTH } from '../../crypto/aes-gcm.js';
import { concatBytes, utf8Encode, wipe, type Bytes } from '../../crypto/bytes.js';
import { hkdfSha256 } from '../../crypto/hkdf.js';
import { ChatError } from '../../protocol/errors.js';
import { LINK_RECORD_MAX_PLAINTEXT_BYTES } from '../../protocol/limits.js';

/** HKDF info of the key schedule (25 ASCII bytes). */
export const LINK_CHANNEL_INFO = utf8Encode('e2ee-chat link v2 channel');
/** First field of every record's AAD (24 ASCII bytes). */
export const LINK_RECORD_AAD_LABEL = utf8Encode('e2ee-chat link v2 record');
export const LINK_CHANNEL_KEY_BYTES = 32;
/** A record is the ciphertext and the 16-byte tag: 16 … 48,016 bytes. */
export const LINK_RECORD_MIN_BYTES = AES_GCM_TAG_LENGTH;
export const LINK_RECORD_MAX_BYTES = LINK_RECORD_MAX_PLAINTEXT_BYTES + AES_GCM_TAG_LENGTH;

export interface LinkChannelKeys {
  /** kB→A: seals what the new device sends (the offer). */
  readonly newToPrimary: Bytes;
  /** kA→B: seals what the primary sends (the provisioning). */
  readonly primaryToNew: Bytes;
}

/** The key schedule; ISK is left to its owner to wipe. */
export function deriveLinkChannelKeys(isk: Uint8Array, sid: Uint8Array): LinkChannelKeys {
  const okm = hkdfSha256(isk, sid, LINK_CHANNEL_INFO, 2 * LINK_CHANNEL_KEY_BYTES);
  try {
    return { newToPrimary: okm.slice(0, LINK_CHANNEL_KEY_BYTES), primaryToNew: okm.slice(LINK_CHANNEL_KEY_BYTES) };
  } finally {
    wipe(okm);
  }
}

/** 0x00000000 ‖ u64 big-endian counter. */
export function linkRecordNonce(counter: number): Bytes {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('"counter" expected a non-negative safe integer');
  const nonce = new Uint8Array(AES_GCM_NONCE_LENGTH);
  const view = new DataView(nonce.buffer);
  view.setUint32(4, Math.floor(counter / 2 ** 32));
  view.setUint32(8, counter >>> 0);
  return nonce;
}

/** "e2ee-chat link v2 record" ‖ sid ‖ type ‖ final. */
export function linkRecordAad(sid: Uint8Array, frameType: number, final: boolean): Bytes {
  if (!Number.isInteger(frameType) || frameType < 0 || frameType > 0xff) throw new RangeError('"frameType" expected a byte');
  return concatBytes(LINK_RECORD_AAD_LABEL, sid, Uint8Array.of(frameType, final ? 1 : 0));
}

/** Cuts a message into records' plaintexts of at most 48,000 bytes; an empty message is one empty record. */
export function splitLinkMessage(message: Uint8Array): Bytes[] {
  const parts: Bytes[] = [];
  for (let at = 0; at < message.length || parts.length === 0; at += LINK_RECORD_MAX_PLAINTEXT_BYTES) {
    parts.push(message.slice(at, at + LINK_RECORD_MAX_PLAINTEXT_BYTES));
  }
  return parts;
}

/** The sending half of one direction. */
export class LinkRecordSealer {
  readonly #key: Bytes;
  readonly #sid: Bytes;
  #counter = 0;
  #wiped = false;

  constructor(key: Uint8Array, sid: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== LINK_CHANNEL_KEY_BYTES) throw new RangeError('"key" expected Uint8Array of length 32');
    this.#key = Uint8Array.from(key);
    this.#sid = Uint8Array.from(sid);
  }

  seal(frameType: number, final: boolean, plaintext: Uint8Array): Bytes {
    if (this.#wiped) throw new Error('this link record sealer was wiped');
    if (plaintext.length > LINK_RECORD_MAX_PLAINTEXT_BYTES) throw new RangeError(`a link record holds at most ${LINK_RECORD_MAX_PLAINTEXT_BYTES} bytes`);
    const record = aes256GcmSeal(this.#key, linkRecordNonce(this.#counter), linkRecordAad(this.#sid, frameType, final), plaintext);
    this.#counter++;
    return record;
  }

  wipe(): void {
    this.#wiped = true;
    wipe(this.#key);
  }
}

/** The receiving half of one direction: records must arrive exactly in the order they were sealed. */
export class LinkRecordOpener {
  readonly #key: Bytes;
  readonly #sid: Bytes;
  #counter = 0;
  #failed = false;

  constructor(key: Uint8Array, sid: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== LINK_CHANNEL_KEY_BYTES) throw new RangeError('"key" expected Uint8Array of length 32');
    this.#key = Uint8Array.from(key);
    this.#sid = Uint8Array.from(sid);
  }

  /**
   * The record's plaintext, or ChatError `link_failed` when it does not open as the next record of this
   * direction with this type and final flag. After one failure every later record fails too.
   */
  open(frameType: number, final: boolean, record: Uint8Array): Bytes {
    const plaintext = this.#failed ? undefined : aes256GcmOpen(this.#key, linkRecordNonce(this.#counter), linkRecordAad(this.#sid, frameType, final), record);
    if (plaintext === undefined) {
      this.#failed = true;
      this.wipe();
      throw new ChatError('link_failed', 'a link record did not open (wrong code, or altered, replayed or reordered on the way)');
    }
    this.#counter++;
    return plaintext;
  }

  wipe(): void {
    wipe(this.#key);
  }
}
