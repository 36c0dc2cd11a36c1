/**
 * Files, end to end (docs/PROTOCOL.md §20): encrypt a file with a fresh key and upload the blob
 * (`blob.create`, then chunks), giving the pointer that goes inside the message; and, for a received
 * pointer, download the blob, check and decrypt it into a sink that keeps the file only if every check
 * passed. Where files come from and go to is the caller's (AttachmentSource, AttachmentSink: a file on
 * Node, node/attachment-files.ts), so this stays runtime-neutral.
 */
import { AttachmentEncryption, AttachmentIntegrityError, decryptAttachment, newAttachmentIv, newAttachmentKey } from '../crypto/attachment-cipher.js';
import { base64urlDecode, base64urlEncode } from '../crypto/bytes.js';
import { defaultRandom, type RandomSource } from '../crypto/random.js';
import type { AttachmentPointer } from '../e2ee/attachment-pointer.js';
import { ChatError, DecryptionFailedError } from '../protocol/errors.js';
import { BLOB_TRANSFER_ATTEMPTS } from '../protocol/limits.js';
import { downloadBlob, isPassingTransferError, transferDelayMs, uploadBlob, type BlobHttp, type Progress } from './blob-transfer.js';
import type { ServerConnection } from './server-connection.js';

/** A file to send: its length and name, and a way to read it from the start (again, if an upload resumes). */
export interface AttachmentSource {
  readonly size: number;
  readonly name: string;
  readonly contentType?: string;
  /** A new read from the first byte; it must yield the same `size` bytes each time (or fail). */
  open(): AsyncIterable<Uint8Array>;
}

/**
 * Where a received file goes while it is checked: bytes are written as they are decrypted, and the
 * file appears (commit) only after the whole blob was verified; abort leaves nothing behind.
 */
export interface AttachmentSink {
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the file visible; returns where it is (a path, for the user). */
  commit(): Promise<string>;
  abort(): Promise<void>;
}

export interface UploadDeps {
  connection: ServerConnection;
  serverUrl: string;
  http?: BlobHttp;
  random?: RandomSource;
}

/**
 * Encrypts and uploads `source` for `downloads` recipient devices; returns the pointer to put in the
 * message. A fresh key and IV per file; the blob is produced again from them for a resumed upload.
 */
export async function uploadAttachment(deps: UploadDeps, source: AttachmentSource, downloads: number, onProgress?: Progress): Promise<AttachmentPointer> {
  const random = deps.random ?? defaultRandom;
  const key = newAttachmentKey(random);
  const iv = newAttachmentIv(random);
  let pass = new AttachmentEncryption(source.size, key, iv);
  const blob = await deps.connection.call('blob.create', { size: pass.blobLength, downloads });
  await uploadBlob({
    serverUrl: deps.serverUrl,
    id: blob.id,
    uploadToken: blob.uploadToken,
    length: pass.blobLength,
    maxChunkBytes: blob.maxChunkBytes,
    pass: () => {
      pass = new AttachmentEncryption(source.size, key, iv);
      return pass.blob(source.open());
    },
    ...(onProgress && { onProgress }),
    ...(deps.http && { http: deps.http }),
  }).catch((err: unknown) => {
    // The encryption found the file longer or shorter than it was when the upload began.
    if (err instanceof RangeError) throw new ChatError('file_unreadable', `${source.name}: ${err.message}`, { cause: err });
    throw err;
  });
  return {
    id: blob.id,
    token: blob.downloadToken,
    key: base64urlEncode(key),
    // The pass that finished the upload ran to its end: its digest is the blob's.
    digest: base64urlEncode(pass.digest),
    size: source.size,
    name: source.name,
    ...(source.contentType !== undefined && { contentType: source.contentType }),
  };
}

export interface DownloadOptions {
  serverUrl: string;
  onProgress?: Progress;
  http?: BlobHttp;
  attempts?: number;
  delayMs?: (failure: number) => number;
}

/**
 * Downloads, checks and decrypts the file a pointer names into a sink from `openSink` (a fresh one per
 * try); returns where the sink put it. A blob that fails any check is refused with DecryptionFailedError
 * (the sink aborted: nothing kept); `blob_not_found` when the server has no such blob; a passing failure
 * is tried again, BLOB_TRANSFER_ATTEMPTS times in all.
 */
export async function downloadAttachment(pointer: AttachmentPointer, openSink: () => Promise<AttachmentSink>, options: DownloadOptions): Promise<string> {
  const secrets = { key: base64urlDecode(pointer.key), digest: base64urlDecode(pointer.digest), size: pointer.size };
  const attempts = options.attempts ?? BLOB_TRANSFER_ATTEMPTS;
  for (let failure = 0; ; ) {
    const sink = await openSink();
    try {
      let received = 0;
      const blob = downloadBlob(options.serverUrl, pointer.id, pointer.token, options.http);
      for await (const plain of decryptAttachment(blob, secrets)) {
        await sink.write(plain);
        received += plain.length;
        options.onProgress?.(received, pointer.size);
      }
      return await sink.commit();
    } catch (err) {
      await sink.abort();
      if (err instanceof AttachmentIntegrityError) throw new DecryptionFailedError({ cause: err });
      if (!isPassingTransferError(err) || ++failure >= attempts) throw err;
      await new Promise((r) => setTimeout(r, (options.delayMs ?? transferDelayMs)(failure)));
    }
  }
}
