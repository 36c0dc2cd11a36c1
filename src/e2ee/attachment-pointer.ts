/**
 * The `attachment` member of a message payload (docs/PROTOCOL.md §20.5): everything the recipient needs
 * to fetch and open one file, carried inside the end-to-end encrypted message as Signal's
 * AttachmentPointer carries it (where the blob is, the key, the digest, the size, the file name, the
 * content type). The server sees only the blob id and the download capability, when they are used.
 */
import { z } from 'zod';
import { base64urlDecode } from '../crypto/bytes.js';
import { ATTACHMENT_DIGEST_LENGTH, ATTACHMENT_KEY_LENGTH } from '../crypto/attachment-cipher.js';
import { blobIdSchema, blobTokenSchema } from '../protocol/blob-schemas.js';

/** The longest file name carried (characters); the recipient sanitises and shortens it anyway. */
export const MAX_ATTACHMENT_NAME_CHARS = 255;
/** The longest content type carried: far beyond any registered media type. */
export const MAX_CONTENT_TYPE_CHARS = 255;

/** Unpadded base64url of exactly `bytes` bytes, decoded strictly (no stray trailing bits). */
const exactBytes = (bytes: number) =>
  z
    .string()
    .length(Math.ceil((bytes * 4) / 3))
    .refine((text) => {
      try {
        return base64urlDecode(text).length === bytes;
      } catch {
        return false;
      }
    }, `expected ${bytes} bytes, base64url`);

export const attachmentPointerSchema = z.object({
  /** The blob's id on the sender's server (docs/PROTOCOL.md §20.3). */
  id: blobIdSchema,
  /** The download capability (`Authorization: Bearer` on GET). */
  token: blobTokenSchema,
  /** 64 bytes: the AES-256 key, then the HMAC-SHA-256 key. */
  key: exactBytes(ATTACHMENT_KEY_LENGTH),
  /** SHA-256 of the whole blob. */
  digest: exactBytes(ATTACHMENT_DIGEST_LENGTH),
  /** The file's length in bytes, before padding. */
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** The sender's name for the file: a suggestion, sanitised by the recipient before any use. */
  name: z.string().min(1).max(MAX_ATTACHMENT_NAME_CHARS),
  /** A media type ("application/pdf"), if the sender knew one. */
  contentType: z
    .string()
    .max(MAX_CONTENT_TYPE_CHARS)
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected type/subtype')
    .optional(),
});

export type AttachmentPointer = z.infer<typeof attachmentPointerSchema>;

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** A size for people: "12 B", "1.2 KiB", "100 MiB" (one decimal below 10 of a unit). */
export function formatByteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value < 10 ? (Math.round(value * 10) / 10).toString() : Math.round(value).toString();
  return `${shown} ${UNITS[unit]}`;
}

/**
 * The body a message with a file carries when the sender gave no caption: what a client that does not
 * know the `attachment` member shows ("[file report.pdf, 1.2 MiB]").
 */
export function attachmentFallbackBody(name: string, size: number): string {
  return `[file ${name}, ${formatByteSize(size)}]`;
}
