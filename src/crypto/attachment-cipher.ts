/**
 * Signal's attachment encryption, streamed (docs/PROTOCOL.md §20.2; Signal-Android
 * `AttachmentCipherOutputStream`, `AttachmentCipherInputStream`, `PaddingInputStream`):
 *
 *   key    = 64 random bytes: AES key = key[0..32), MAC key = key[32..64)
 *   iv     = 16 random bytes
 *   padded = the file, then zero bytes up to paddedAttachmentSize(size)   (hides the exact size)
 *   ct     = AES-256-CBC(AES key, iv, PKCS#7(padded))
 *   mac    = HMAC-SHA-256(MAC key, iv || ct)
 *   blob   = iv || ct || mac                                            (what the server stores)
 *   digest = SHA-256(blob)
 *
 * The key and the digest travel inside the end-to-end encrypted message (the `attachment` member); the
 * server only ever holds the blob. The recipient checks the MAC and the digest, both in constant time,
 * before it trusts a single byte; it is handed plaintext as the blob streams in (to write into a
 * temporary file) and learns only at the end, from `decryptAttachment` finishing or throwing, whether
 * that plaintext may be kept. The padding check (PKCS#7) runs after the MAC check, so it is no oracle.
 * Neither side ever holds more than one piece of the file in memory.
 */
import { AES_BLOCK_LENGTH } from './aes-cbc.js';
import { constantTimeEqual, type Bytes } from './bytes.js';
import { HMAC_SHA256_LENGTH } from './hmac.js';
import { aes256CbcDecryptor, aes256CbcEncryptor, hmacSha256Incremental, sha256Incremental, type IncrementalCipher, type IncrementalHash } from './incremental.js';
import { defaultRandom, type RandomSource } from './random.js';
import { SHA256_OUTPUT_LENGTH } from './sha.js';

export const ATTACHMENT_KEY_LENGTH = 64;
export const ATTACHMENT_IV_LENGTH = AES_BLOCK_LENGTH;
export const ATTACHMENT_MAC_LENGTH = HMAC_SHA256_LENGTH;
export const ATTACHMENT_DIGEST_LENGTH = SHA256_OUTPUT_LENGTH;
/** Blob bytes besides the ciphertext: the IV in front, the MAC behind. */
export const BLOB_OVERHEAD = ATTACHMENT_IV_LENGTH + ATTACHMENT_MAC_LENGTH;
/** The smallest blob: an empty (padded) plaintext still has one block of PKCS#7 padding. */
export const MIN_BLOB_LENGTH = BLOB_OVERHEAD + AES_BLOCK_LENGTH;
/** Signal's smallest padded size: every file under 541 bytes looks the same. */
export const MIN_PADDED_SIZE = 541;
/** Signal's bucket growth: padded sizes are powers of 1.05, so the padding costs at most 5 %. */
const PADDING_BASE = 1.05;

/** Zero bytes fed to the cipher per step of padding (never written to: the cipher only reads its input). */
const ZEROS = new Uint8Array(64 * 1024);

/**
 * The size a file of `size` bytes is padded to before encryption: Signal's
 * `max(541, floor(1.05 ^ ceil(log(size) / log(1.05))))`, and never less than `size` (the float
 * arithmetic could round a power just below it).
 */
export function paddedAttachmentSize(size: number): number {
  checkSize(size);
  const bucket = Math.floor(PADDING_BASE ** Math.ceil(Math.log(size) / Math.log(PADDING_BASE)));
  return Math.max(MIN_PADDED_SIZE, bucket, size);
}

/** The length of the blob for a padded plaintext of `paddedSize` bytes: IV, whole blocks with PKCS#7's 1..16 bytes, MAC. */
export function blobLengthOfPadded(paddedSize: number): number {
  checkSize(paddedSize);
  return BLOB_OVERHEAD + AES_BLOCK_LENGTH * (Math.floor(paddedSize / AES_BLOCK_LENGTH) + 1);
}

/** The length of the blob of a file of `size` bytes, as this module encrypts it. */
export function attachmentBlobLength(size: number): number {
  return blobLengthOfPadded(paddedAttachmentSize(size));
}

/**
 * The longest blob a recipient accepts for a file of `size` bytes: any padding up to Signal's bound
 * (a padded size is at most 541 or 1.05 × size), so a hostile server cannot stream without end.
 */
export function maxAttachmentBlobLength(size: number): number {
  checkSize(size);
  return blobLengthOfPadded(Math.max(MIN_PADDED_SIZE, Math.floor(size * PADDING_BASE) + 1, size));
}

/** Whether `length` can be the length of a blob: IV, MAC and at least one whole block between. */
export function isBlobLength(length: number): boolean {
  return Number.isSafeInteger(length) && length >= MIN_BLOB_LENGTH && (length - BLOB_OVERHEAD) % AES_BLOCK_LENGTH === 0;
}

function checkSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('"size" expected a non-negative safe integer');
}

function checkBytes(value: Uint8Array, length: number, name: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw new RangeError(`"${name}" expected Uint8Array of length ${length}`);
}

/** A fresh 64-byte attachment key (AES key || MAC key). */
export function newAttachmentKey(random: RandomSource = defaultRandom): Bytes {
  return random(ATTACHMENT_KEY_LENGTH);
}

/** A fresh 16-byte IV. */
export function newAttachmentIv(random: RandomSource = defaultRandom): Bytes {
  return random(ATTACHMENT_IV_LENGTH);
}

/**
 * The one error every failed check of a blob becomes (wrong length, MAC, digest, padding, a plaintext
 * shorter than announced): which check failed is kept in `cause` for debugging only.
 */
export class AttachmentIntegrityError extends Error {
  constructor(reason: string) {
    super('attachment integrity check failed', { cause: new Error(reason) });
    this.name = 'AttachmentIntegrityError';
  }
}

/**
 * One pass of encryption of a file of `size` bytes. The same key and IV give the same blob, byte for
 * byte, so an interrupted upload resumes by running a new pass and skipping what the server holds.
 */
export class AttachmentEncryption {
  readonly blobLength: number;
  readonly paddedSize: number;
  private finished: Bytes | undefined;

  constructor(
    readonly size: number,
    private readonly key: Uint8Array,
    private readonly iv: Uint8Array,
  ) {
    checkBytes(key, ATTACHMENT_KEY_LENGTH, 'key');
    checkBytes(iv, ATTACHMENT_IV_LENGTH, 'iv');
    this.paddedSize = paddedAttachmentSize(size);
    this.blobLength = blobLengthOfPadded(this.paddedSize);
  }

  /**
   * The blob, in pieces: the IV, the ciphertext of the file and then of its padding, the MAC. `source`
   * must yield exactly `size` bytes (a file that changed under us is an error, not a shorter blob).
   * Each piece may be reused by the next step: copy it before asking for the next one.
   */
  async *blob(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    const cipher = aes256CbcEncryptor(this.key.subarray(0, 32), this.iv);
    const mac = hmacSha256Incremental(this.key.subarray(32));
    const digest = sha256Incremental();
    const emit = (bytes: Uint8Array): Uint8Array => {
      digest.update(bytes);
      return bytes;
    };
    const encrypt = (plain: Uint8Array): Uint8Array => {
      const ct = cipher.update(plain);
      mac.update(ct);
      return emit(ct);
    };
    mac.update(this.iv);
    yield emit(Uint8Array.from(this.iv));
    let read = 0;
    for await (const piece of source) {
      read += piece.length;
      if (read > this.size) throw new RangeError(`the file is longer than the ${this.size} bytes announced (it changed while being read)`);
      const ct = encrypt(piece);
      if (ct.length > 0) yield ct;
    }
    if (read !== this.size) throw new RangeError(`the file is shorter than the ${this.size} bytes announced (it changed while being read)`);
    for (let left = this.paddedSize - this.size; left > 0; left -= ZEROS.length) {
      const ct = encrypt(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
      if (ct.length > 0) yield ct;
    }
    const last = cipher.final();
    mac.update(last);
    yield emit(last);
    yield emit(mac.digest());
    this.finished = digest.digest();
  }

  /** SHA-256 of the whole blob; only once `blob` has been read to its end. */
  get digest(): Bytes {
    if (!this.finished) throw new Error('the blob has not been produced to its end');
    return this.finished;
  }
}

/** What the recipient needs from the message to open a blob. */
export interface AttachmentSecrets {
  readonly key: Uint8Array;
  readonly digest: Uint8Array;
  /** The file's size, before padding. */
  readonly size: number;
}

/**
 * Opens a blob as it streams in: yields the file's bytes (the first `size` of the padded plaintext),
 * and at the end checks length, MAC, digest and padding, throwing AttachmentIntegrityError if any fails.
 * What was yielded is only trustworthy once the generator has finished without throwing; a blob longer
 * than maxAttachmentBlobLength(size) is refused as soon as it passes that length.
 */
export async function* decryptAttachment(blob: AsyncIterable<Uint8Array>, secrets: AttachmentSecrets): AsyncGenerator<Uint8Array, void, undefined> {
  checkBytes(secrets.key, ATTACHMENT_KEY_LENGTH, 'key');
  checkBytes(secrets.digest, ATTACHMENT_DIGEST_LENGTH, 'digest');
  const limit = maxAttachmentBlobLength(secrets.size);
  const opener = new BlobOpener(secrets.key, secrets.size);
  const digest = sha256Incremental();
  let total = 0;
  for await (const piece of blob) {
    total += piece.length;
    if (total > limit) throw new AttachmentIntegrityError(`blob longer than ${limit} bytes`);
    digest.update(piece);
    for (const plain of opener.update(piece)) yield plain;
  }
  if (!isBlobLength(total)) throw new AttachmentIntegrityError(`impossible blob length ${total}`);
  // Both checks run whatever the first says: the time taken does not tell which one failed.
  const macOk = opener.macMatches();
  const digestOk = constantTimeEqual(digest.digest(), secrets.digest);
  if (!macOk || !digestOk) throw new AttachmentIntegrityError(macOk ? 'digest mismatch' : 'MAC mismatch');
  const last = opener.final();
  if (last.length > 0) yield last;
}

/**
 * The inside of decryptAttachment: splits the stream into IV, ciphertext and the trailing MAC (always
 * the last 32 bytes seen so far, held back), MACs and decrypts the ciphertext, and trims the plaintext
 * to `size`.
 */
class BlobOpener {
  private readonly mac: IncrementalHash;
  private cipher: IncrementalCipher | undefined;
  private readonly iv = new Uint8Array(ATTACHMENT_IV_LENGTH);
  private ivLength = 0;
  /** The last ATTACHMENT_MAC_LENGTH bytes (or fewer) seen: the MAC, if the stream ends here. */
  private tail = new Uint8Array(0);
  /** Plaintext bytes handed out so far (at most `size`). */
  private written = 0;
  /** Plaintext bytes decrypted so far, padding included. */
  private decrypted = 0;

  constructor(
    private readonly key: Uint8Array,
    private readonly size: number,
  ) {
    this.mac = hmacSha256Incremental(key.subarray(32));
  }

  /** The file bytes this piece completes (none, one or two runs: the held-back tail, then the rest). */
  update(piece: Uint8Array): Uint8Array[] {
    let data = piece;
    if (this.ivLength < ATTACHMENT_IV_LENGTH) {
      const take = Math.min(ATTACHMENT_IV_LENGTH - this.ivLength, data.length);
      this.iv.set(data.subarray(0, take), this.ivLength);
      this.ivLength += take;
      data = data.subarray(take);
      if (this.ivLength < ATTACHMENT_IV_LENGTH) return [];
      this.mac.update(this.iv);
      this.cipher = aes256CbcDecryptor(this.key.subarray(0, 32), this.iv);
    }
    // Everything but the last MAC-length bytes seen is ciphertext. A large piece is not copied: the
    // tail held back from before goes in first, then the piece up to its own last 32 bytes.
    if (data.length >= ATTACHMENT_MAC_LENGTH) {
      const out = [this.decrypt(this.tail), this.decrypt(data.subarray(0, data.length - ATTACHMENT_MAC_LENGTH))];
      this.tail = Uint8Array.from(data.subarray(data.length - ATTACHMENT_MAC_LENGTH));
      return out.filter((p) => p.length > 0);
    }
    const both = joined(this.tail, data);
    const cut = Math.max(0, both.length - ATTACHMENT_MAC_LENGTH);
    this.tail = both.slice(cut);
    const out = this.decrypt(both.subarray(0, cut));
    return out.length > 0 ? [out] : [];
  }

  private decrypt(ciphertext: Uint8Array): Uint8Array {
    if (ciphertext.length === 0) return ciphertext;
    this.mac.update(ciphertext);
    return this.trim(this.cipher!.update(ciphertext));
  }

  macMatches(): boolean {
    return this.tail.length === ATTACHMENT_MAC_LENGTH && constantTimeEqual(this.mac.digest(), this.tail);
  }

  /** The last block, unpadded; call only after the MAC and digest matched. */
  final(): Uint8Array {
    let last: Uint8Array;
    try {
      last = this.cipher!.final();
    } catch {
      throw new AttachmentIntegrityError('bad PKCS#7 padding');
    }
    const out = this.trim(last);
    if (this.decrypted < this.size) throw new AttachmentIntegrityError(`plaintext of ${this.decrypted} bytes, shorter than the ${this.size} announced`);
    return out;
  }

  /** The part of freshly decrypted bytes that is file, not padding. */
  private trim(plain: Uint8Array): Uint8Array {
    this.decrypted += plain.length;
    const keep = Math.max(0, Math.min(plain.length, this.size - this.written));
    this.written += keep;
    return keep === plain.length ? plain : plain.subarray(0, keep);
  }
}

function joined(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
