/**
 * The blob service (docs/PROTOCOL.md §20): the authenticated `blob.create` event, and the HTTP requests
 * that move a blob's bytes (`PUT`, `HEAD` and `GET /blobs/<id>`), with their headers, answers and error
 * codes. Shared by the server, which parses with these, and the client, which checks the server's
 * answers with them (the server is the adversary).
 */
import { z } from 'zod';
import { attachmentBlobLength, isBlobLength } from '../crypto/attachment-cipher.js';
import { BASE64URL_PATTERN } from '../crypto/bytes.js';
import { MAX_BLOB_CHUNK_BYTES, MAX_BLOB_DOWNLOADS } from './limits.js';

/** Blob ids and capabilities: 16 random bytes, base64url (22 characters). */
export const blobIdSchema = z.string().length(22).regex(BASE64URL_PATTERN);
export const blobTokenSchema = z.string().length(22).regex(BASE64URL_PATTERN);

export const blobCreatePayloadSchema = z.object({
  /** The blob's length in bytes (IV, ciphertext, MAC), declared before the upload. */
  size: z.number().int().refine(isBlobLength, 'size must be a possible blob length: at least 64, and 48 plus a multiple of 16'),
  /** Complete fetches after which the blob is deleted: one per recipient device. */
  downloads: z.number().int().min(1).max(MAX_BLOB_DOWNLOADS),
});

export type BlobCreatePayload = z.infer<typeof blobCreatePayloadSchema>;

export interface BlobCreateResult {
  id: string;
  /** The capability to upload (`Authorization: Bearer`), for the creator only. */
  uploadToken: string;
  /** The capability to download, for the recipients only: it travels inside the end-to-end encrypted message. */
  downloadToken: string;
  /** The server's clock after which the blob is deleted, fetched or not. */
  expiresAt: number;
  /** The most bytes one PUT may carry. */
  maxChunkBytes: number;
}

export const blobCreateAnswerSchema = z.object({
  id: blobIdSchema,
  uploadToken: blobTokenSchema,
  downloadToken: blobTokenSchema,
  expiresAt: z.number().int().nonnegative(),
  maxChunkBytes: z.number().int().positive(),
});

/**
 * The longest blob a server with attachment limit `maxAttachmentBytes` accepts: the blob of a file of
 * exactly that size (padding is monotone, so every smaller file's blob is no longer).
 */
export function maxBlobBytesFor(maxAttachmentBytes: number): number {
  return attachmentBlobLength(maxAttachmentBytes);
}

/** Where a blob lives, relative to the server's URL. */
export const BLOB_PATH_PREFIX = '/blobs/';

export function blobUrl(serverUrl: string, id: string): string {
  return new URL(`${BLOB_PATH_PREFIX}${id}`, serverUrl).toString();
}

/** HEAD's answer: how many bytes of the blob the server holds, and its declared length. */
export const UPLOAD_OFFSET_HEADER = 'upload-offset';
export const UPLOAD_LENGTH_HEADER = 'upload-length';

/** The answer to a PUT that was stored: bytes held now, of `size`; `complete` once they are all there and on disk. */
export const blobPutAnswerSchema = z.object({
  received: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  complete: z.boolean(),
});

export type BlobPutAnswer = z.infer<typeof blobPutAnswerSchema>;

/** Error codes of the blob HTTP answers (`{"error": code, "message": text}`), with their HTTP status. */
export const BLOB_HTTP_ERRORS = {
  bad_request: 400, // a malformed path, header or range
  not_found: 404, // no such blob for this capability (also: a wrong capability, so nothing tells which ids exist)
  method_not_allowed: 405,
  upload_in_progress: 409, // another PUT on this blob is still being received
  offset_mismatch: 409, // the range does not start where the stored bytes end (`received` says where)
  incomplete: 409, // GET of a blob whose upload has not finished
  length_required: 411, // a PUT without Content-Length
  chunk_too_large: 413, // a PUT over MAX_BLOB_CHUNK_BYTES, or past the declared size
  rate_limited: 429, // too many requests from this address
  internal: 500,
} as const;

export type BlobHttpError = keyof typeof BLOB_HTTP_ERRORS;

export const blobErrorAnswerSchema = z.object({
  error: z.string().max(64),
  message: z.string().max(500).optional(),
  /** With offset_mismatch: the bytes the server holds. */
  received: z.number().int().nonnegative().optional(),
});

export { MAX_BLOB_CHUNK_BYTES };
