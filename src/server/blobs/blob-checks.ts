/**
 * What both blob stores check the same way (docs/PROTOCOL.md §20.3, §20.4): the capabilities (random,
 * stored as their SHA-256, compared in constant time), the quota refusals of blob.create and the range
 * rules of a PUT, each with the one answer the protocol gives it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../../crypto/bytes.js';
import { ChatError } from '../../protocol/errors.js';
import { BLOB_TOKEN_BYTES, MAX_BLOB_CHUNK_BYTES } from '../../protocol/limits.js';
import { BlobRequestError, type BlobLimits, type BlobRange, type BlobUsage } from './blob-store.js';

export const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

/** True when `presented` hashes to `stored`; `stored` undefined (no such blob) takes the same work and is false. */
export function capabilityMatches(presented: string, stored: string | undefined): boolean {
  const ok = constantTimeEqual(Buffer.from(tokenHash(presented)), Buffer.from(stored ?? tokenHash('')));
  return ok && stored !== undefined;
}

export function newCapability(): string {
  return randomBytes(BLOB_TOKEN_BYTES).toString('base64url');
}

export const noSuchBlob = (): BlobRequestError => new BlobRequestError('not_found', 'no such blob');

/** blob.create's refusals, in the protocol's order; undefined: the blob fits. */
export function createRefusal(limits: BlobLimits, size: number, used: BlobUsage, serverBytes: number): ChatError | undefined {
  const { maxBlobBytes, userMaxBytes, userMaxCount, serverMaxBytes } = limits;
  if (size > maxBlobBytes) return new ChatError('attachment_too_large', `a blob of ${size} bytes is over this server's limit of ${maxBlobBytes} (files of at most the announced limits.maxAttachmentBytes)`);
  if (used.count + 1 > userMaxCount || used.bytes + size > userMaxBytes) {
    return new ChatError('blob_quota_exceeded', `you hold ${used.count} blobs (${used.bytes} bytes) not yet fetched by their recipients; the most is ${userMaxCount} blobs and ${userMaxBytes} bytes`);
  }
  if (serverBytes + size > serverMaxBytes) return new ChatError('server_full', 'the server holds the most blob bytes it keeps; try again once recipients have fetched theirs');
  return undefined;
}

/**
 * A PUT's range against the blob as stored, in the protocol's order: the total, a PUT already running
 * (`busy`), the offset (or a complete blob), the chunk cap, the end.
 */
export function checkRange(range: BlobRange, blob: { size: number; received: number; complete: boolean }, busy: boolean): void {
  if (range.total !== blob.size) throw new BlobRequestError('bad_request', `Content-Range: the total is not the ${blob.size} bytes declared at blob.create`);
  if (busy) throw new BlobRequestError('upload_in_progress', 'another upload request for this blob is still running');
  if (blob.complete || range.start !== blob.received) {
    throw new BlobRequestError('offset_mismatch', `the server holds ${blob.received} bytes: the next range starts there`, blob.received);
  }
  if (range.length > MAX_BLOB_CHUNK_BYTES) throw new BlobRequestError('chunk_too_large', `at most ${MAX_BLOB_CHUNK_BYTES} bytes per request`);
  if (range.start + range.length > blob.size) throw new BlobRequestError('chunk_too_large', `the range ends past the ${blob.size} bytes declared`);
}

/**
 * Reads a PUT body in pieces of at most `batchBytes`, handing each full batch (and what is left when
 * the body ends or breaks off) to `write`. Pieces as the socket reads them are tens of KiB: writing each
 * on its own made an upload wait on its writes most of the time. Throws chunk_too_large for a body
 * longer than its range and bad_request for a shorter one, after `write` has kept what did arrive.
 */
export async function writeInBatches(body: AsyncIterable<Uint8Array>, range: BlobRange, batchBytes: number, write: (bytes: Uint8Array) => Promise<void>, onPiece?: () => void): Promise<void> {
  const end = range.start + range.length;
  const pending = new Uint8Array(Math.max(1, Math.min(batchBytes, range.length)));
  let buffered = 0;
  let position = range.start;
  const flush = async () => {
    if (buffered === 0) return;
    const bytes = pending.subarray(0, buffered);
    buffered = 0;
    await write(bytes);
  };
  try {
    for await (const piece of body) {
      // Node's HTTP parser holds a body to its Content-Length; this keeps the store's promise on its own.
      if (position + piece.length > end) throw new BlobRequestError('chunk_too_large', 'the body is longer than its range');
      position += piece.length;
      for (let used = 0; used < piece.length; ) {
        const take = Math.min(piece.length - used, pending.length - buffered);
        pending.set(piece.subarray(used, used + take), buffered);
        buffered += take;
        used += take;
        if (buffered === pending.length) await flush();
      }
      onPiece?.();
    }
  } finally {
    // What arrived before a body broke off is kept: the client resumes after it.
    await flush();
  }
  if (position !== end) throw new BlobRequestError('bad_request', 'the body ended before its range');
}
