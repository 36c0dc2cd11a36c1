/**
 * The server's blob store (docs/PROTOCOL.md §20), as an interface with two implementations: the
 * encrypted attachments clients upload in chunks and their recipients download. The server holds no
 * key: a blob is opaque bytes of a declared length. It keeps each one until it has been fetched whole as
 * many times as its creator declared (one per recipient device), or until the queue TTL, whichever comes
 * first; an upload left idle is dropped sooner, so an abandoned one stops counting against its owner's
 * quota.
 *
 * - disk-blob-store.ts: a folder on the node's disk with an index in memory (SQLite and memory stores:
 *   one node);
 * - postgres-blob-store.ts: rows of the PostgreSQL database the server store uses, so every node of a
 *   cluster serves every blob (docs/DEPLOY.md).
 *
 * Both keep only the SHA-256 of the two capabilities, and check requests in the same order with the same
 * answers (blob-checks.ts); test/server/blob-store-contract.test.ts runs the same cases on both.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { BlobCreateResult, BlobHttpError, BlobPutAnswer } from '../../protocol/blob-schemas.js';

/** A refusal of a blob request over HTTP, with its code (BLOB_HTTP_ERRORS gives the status). */
export class BlobRequestError extends Error {
  constructor(
    readonly code: BlobHttpError,
    message: string,
    /** offset_mismatch: the bytes the server holds, so the client knows where to resume. */
    readonly received?: number,
  ) {
    super(message);
    this.name = 'BlobRequestError';
  }
}

/** The limits and clock both stores take. */
export interface BlobLimits {
  /** The longest blob blob.create accepts (maxBlobBytesFor the attachment limit). */
  maxBlobBytes: number;
  userMaxBytes: number;
  userMaxCount: number;
  serverMaxBytes: number;
  /** Blobs are deleted this long after blob.create, fetched or not (the queue TTL). */
  ttlMs: number;
  /** An incomplete upload that received nothing for this long is deleted. */
  uploadIdleMs: number;
  now?: () => number;
  logger?: Logger;
}

/** A byte range of one PUT: `length` bytes from `start`, of a blob of `total` bytes. */
export interface BlobRange {
  start: number;
  length: number;
  total: number;
}

export interface BlobStatus {
  received: number;
  size: number;
  complete: boolean;
}

export interface BlobUsage {
  bytes: number;
  count: number;
}

export interface BlobDownload {
  size: number;
  /**
   * The blob's bytes, read as the consumer reads (never the whole blob in memory), and already holding
   * what the read needs against a deletion racing it where the store can. Destroy it to stop early.
   */
  body: Readable;
  /** Call once the whole blob was sent: counts the fetch, and deletes the blob after the last one. */
  fetched(): Promise<void>;
}

export interface BlobStore {
  /**
   * blob.create: reserves `size` bytes for `owner`, answers the blob's id and its two capabilities.
   * Checks, in order: the blob limit (attachment_too_large), the owner's count and bytes
   * (blob_quota_exceeded), the server's bytes (server_full). A refused create stores nothing.
   */
  create(owner: string, size: number, downloads: number): Promise<BlobCreateResult>;
  /** HEAD: how far the upload got; not_found for a wrong capability. */
  status(id: string, uploadToken: string): Promise<BlobStatus>;
  /**
   * PUT: appends `body` (exactly `range.length` bytes) at `range.start`, which must be where the stored
   * bytes end. The bytes that arrived stay even if the body breaks off: the client asks HEAD where to
   * resume. Once the last byte is in, the blob is durable and complete, and only then is the answer
   * given: the message that names it can go out.
   */
  append(id: string, uploadToken: string, range: BlobRange, body: AsyncIterable<Uint8Array>): Promise<BlobPutAnswer>;
  /** GET: the complete blob; not_found for a wrong capability, incomplete while the upload runs. */
  openDownload(id: string, downloadToken: string): Promise<BlobDownload>;
  /** Deletes expired blobs (fetched or not) and uploads idle past the limit; returns how many went. */
  sweep(): Promise<number>;
  /** Bytes and blobs `owner` holds now (declared sizes: an upload reserves its whole size at blob.create). */
  usageOf(owner: string): Promise<BlobUsage>;
  /** Blob bytes the whole server holds (declared sizes). */
  totalBytes(): Promise<number>;
}
