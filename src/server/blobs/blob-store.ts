/**
 * The server's blob store (docs/PROTOCOL.md §20): the encrypted attachments clients upload in chunks
 * and their recipients download. The server holds no key: a blob is opaque bytes of a declared length.
 * It keeps each one until it has been fetched whole as many times as its creator declared (one per
 * recipient device), or until the queue TTL, whichever comes first; an upload left idle is dropped
 * sooner, so an abandoned one stops counting against its owner's quota.
 *
 * On disk, per blob, in one folder: `<id>.blob`, the bytes received so far (its length is the upload
 * offset), and `<id>.json`, what the server knows of it (owner, declared size and fetches, expiry, the
 * SHA-256 of its two capabilities, fetches so far, whether complete), replaced atomically. The
 * capabilities themselves are never stored. An index in memory answers quotas and lookups and is rebuilt
 * from the folder at start, where anything that is not a consistent pair is deleted. One node only: a
 * cluster would put this interface in front of shared storage.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { constantTimeEqual } from '../../crypto/bytes.js';
import type { BlobCreateResult, BlobHttpError, BlobPutAnswer } from '../../protocol/blob-schemas.js';
import { ChatError } from '../../protocol/errors.js';
import { BLOB_TOKEN_BYTES, MAX_BLOB_CHUNK_BYTES } from '../../protocol/limits.js';
import { newServerId } from '../ids.js';

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

export interface BlobStoreOptions {
  dir: string;
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

const recordSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  owner: z.string().min(1).max(32),
  size: z.number().int().positive(),
  downloads: z.number().int().positive(),
  fetched: z.number().int().nonnegative(),
  createdAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  uploadTokenHash: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  downloadTokenHash: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  complete: z.boolean(),
});

type BlobRecord = z.infer<typeof recordSchema>;

interface Entry {
  record: BlobRecord;
  /** Bytes on disk: the upload offset. */
  received: number;
  /** When bytes last arrived (or the blob was created): for the idle rule. */
  lastActivity: number;
  uploading: boolean;
  deleted: boolean;
}

export interface BlobDownload {
  size: number;
  /** The blob's bytes, open before any deletion could race the read. Closed by the caller (or its stream). */
  handle: FileHandle;
  /** Call once the whole blob was sent: counts the fetch, and deletes the blob after the last one. */
  fetched(): Promise<void>;
}

const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('base64url');

function sameHash(presented: string, stored: string): boolean {
  return constantTimeEqual(Buffer.from(tokenHash(presented)), Buffer.from(stored));
}

function newToken(): string {
  return randomBytes(BLOB_TOKEN_BYTES).toString('base64url');
}

/** Bytes of an upload gathered in memory before each write to disk. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** The names this store writes: data, record, and a record being replaced. */
const OUR_FILE = /^[A-Za-z0-9_-]{22}\.(blob|json|json\.tmp)$/;

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';

export class BlobStore {
  private readonly entries = new Map<string, Entry>();
  private readonly usage = new Map<string, { bytes: number; count: number }>();
  private total = 0;
  private readonly now: () => number;

  private constructor(private readonly options: BlobStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Opens the folder (creating it, mode 0700), rebuilds the index, and sweeps what expired while the server was down. */
  static async open(options: BlobStoreOptions): Promise<BlobStore> {
    const store = new BlobStore(options);
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    await store.load();
    await store.sweep();
    return store;
  }

  private dataPath(id: string): string {
    return join(this.options.dir, `${id}.blob`);
  }

  private recordPath(id: string): string {
    return join(this.options.dir, `${id}.json`);
  }

  /** Bytes and blobs `owner` holds now (declared sizes: an upload reserves its whole size at blob.create). */
  usageOf(owner: string): { bytes: number; count: number } {
    return { ...(this.usage.get(owner) ?? { bytes: 0, count: 0 }) };
  }

  get totalBytes(): number {
    return this.total;
  }

  /**
   * blob.create: reserves `size` bytes for `owner`, answers the blob's id and its two capabilities.
   * Checks, in order: the blob limit (attachment_too_large), the owner's count and bytes
   * (blob_quota_exceeded), the server's bytes (server_full). A refused create stores nothing.
   */
  async create(owner: string, size: number, downloads: number): Promise<BlobCreateResult> {
    const { maxBlobBytes, userMaxBytes, userMaxCount, serverMaxBytes, ttlMs } = this.options;
    if (size > maxBlobBytes) throw new ChatError('attachment_too_large', `a blob of ${size} bytes is over this server's limit of ${maxBlobBytes} (files of at most the announced limits.maxAttachmentBytes)`);
    const used = this.usageOf(owner);
    if (used.count + 1 > userMaxCount || used.bytes + size > userMaxBytes) {
      throw new ChatError('blob_quota_exceeded', `you hold ${used.count} blobs (${used.bytes} bytes) not yet fetched by their recipients; the most is ${userMaxCount} blobs and ${userMaxBytes} bytes`);
    }
    if (this.total + size > serverMaxBytes) throw new ChatError('server_full', 'the server holds the most blob bytes it keeps; try again once recipients have fetched theirs');
    const now = this.now();
    const uploadToken = newToken();
    const downloadToken = newToken();
    const record: BlobRecord = {
      v: 1,
      id: newServerId(),
      owner,
      size,
      downloads,
      fetched: 0,
      createdAt: now,
      expiresAt: now + ttlMs,
      uploadTokenHash: tokenHash(uploadToken),
      downloadTokenHash: tokenHash(downloadToken),
      complete: false,
    };
    // Reserved before the first await: concurrent creates see each other's bytes.
    const entry: Entry = { record, received: 0, lastActivity: now, uploading: false, deleted: false };
    this.index(entry);
    try {
      await writeFile(this.dataPath(record.id), new Uint8Array(0), { mode: 0o600, flag: 'wx' });
      await this.writeRecord(entry, false);
    } catch (err) {
      await this.remove(entry);
      throw err;
    }
    return { id: record.id, uploadToken, downloadToken, expiresAt: record.expiresAt, maxChunkBytes: MAX_BLOB_CHUNK_BYTES };
  }

  /** The entry for `id` if `token` is its capability of that kind; otherwise not_found, the same for a wrong id or a wrong token. */
  private authorised(id: string, token: string, kind: 'upload' | 'download'): Entry {
    const entry = this.entries.get(id);
    const stored = entry ? (kind === 'upload' ? entry.record.uploadTokenHash : entry.record.downloadTokenHash) : tokenHash('');
    // Hashed and compared even for an unknown id, so the answer takes the same work either way.
    const ok = sameHash(token, stored);
    if (!entry || !ok || entry.deleted || entry.record.expiresAt <= this.now()) throw new BlobRequestError('not_found', 'no such blob');
    return entry;
  }

  /** HEAD: how far the upload got. */
  status(id: string, uploadToken: string): { received: number; size: number; complete: boolean } {
    const entry = this.authorised(id, uploadToken, 'upload');
    return { received: entry.received, size: entry.record.size, complete: entry.record.complete };
  }

  /**
   * PUT: appends `body` (exactly `length` bytes, as its Content-Length promises) at `start`, which must
   * be where the stored bytes end. The bytes that arrived stay even if the body breaks off: the client
   * asks HEAD where to resume. Once the last byte is in, the file is flushed to disk and the blob is
   * complete, and only then is the answer given: the message that names it can go out.
   */
  async append(id: string, uploadToken: string, range: { start: number; length: number; total: number }, body: AsyncIterable<Uint8Array>): Promise<BlobPutAnswer> {
    const entry = this.authorised(id, uploadToken, 'upload');
    const { size } = entry.record;
    if (range.total !== size) throw new BlobRequestError('bad_request', `Content-Range: the total is not the ${size} bytes declared at blob.create`);
    if (entry.uploading) throw new BlobRequestError('upload_in_progress', 'another upload request for this blob is still running');
    if (entry.record.complete || range.start !== entry.received) {
      throw new BlobRequestError('offset_mismatch', `the server holds ${entry.received} bytes: the next range starts there`, entry.received);
    }
    if (range.length > MAX_BLOB_CHUNK_BYTES) throw new BlobRequestError('chunk_too_large', `at most ${MAX_BLOB_CHUNK_BYTES} bytes per request`);
    if (range.start + range.length > size) throw new BlobRequestError('chunk_too_large', `the range ends past the ${size} bytes declared`);
    entry.uploading = true;
    const end = range.start + range.length;
    let handle: FileHandle | undefined;
    // Pieces of the body (tens of KiB each, as the socket reads them) are gathered and written a
    // mebibyte at a time: a write per piece made the upload wait on the thread pool most of the time.
    const pending = new Uint8Array(Math.min(WRITE_BATCH_BYTES, range.length));
    let buffered = 0;
    const flush = async () => {
      if (buffered === 0) return;
      await handle!.write(pending, 0, buffered, entry.received);
      entry.received += buffered;
      entry.lastActivity = this.now();
      buffered = 0;
    };
    try {
      handle = await open(this.dataPath(id), 'r+');
      let position = range.start;
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
          entry.lastActivity = this.now();
        }
      } finally {
        // What arrived before a body broke off is kept: the client resumes after it.
        await flush();
      }
      if (position !== end) throw new BlobRequestError('bad_request', 'the body ended before its range');
      if (entry.received === size && !entry.deleted) {
        await handle.sync();
        entry.record.complete = true;
        await this.writeRecord(entry, true);
      }
    } finally {
      await handle?.close();
      entry.uploading = false;
      entry.lastActivity = this.now();
    }
    return { received: entry.received, size, complete: entry.record.complete };
  }

  /** GET: the complete blob, opened; not_found for a wrong capability, incomplete while the upload runs. */
  async openDownload(id: string, downloadToken: string): Promise<BlobDownload> {
    const entry = this.authorised(id, downloadToken, 'download');
    if (!entry.record.complete) throw new BlobRequestError('incomplete', 'the upload of this blob has not finished');
    const handle = await open(this.dataPath(id), 'r').catch((err: unknown) => {
      throw isMissing(err) ? new BlobRequestError('not_found', 'no such blob') : err;
    });
    let counted = false;
    return {
      size: entry.record.size,
      handle,
      fetched: async () => {
        if (counted || entry.deleted) return;
        counted = true;
        entry.record.fetched++;
        if (entry.record.fetched >= entry.record.downloads) await this.remove(entry);
        else await this.writeRecord(entry, false);
      },
    };
  }

  /**
   * Deletes expired blobs (fetched or not) and uploads idle past the limit; returns how many went.
   * Runs on the server's sweep timer and at start.
   */
  async sweep(): Promise<number> {
    const now = this.now();
    const gone = [...this.entries.values()].filter(
      (e) => e.record.expiresAt <= now || (!e.record.complete && !e.uploading && e.lastActivity + this.options.uploadIdleMs <= now),
    );
    for (const entry of gone) await this.remove(entry);
    if (gone.length > 0) this.options.logger?.info({ removed: gone.length }, 'blobs expired');
    return gone.length;
  }

  private index(entry: Entry): void {
    this.entries.set(entry.record.id, entry);
    const used = this.usage.get(entry.record.owner) ?? { bytes: 0, count: 0 };
    this.usage.set(entry.record.owner, { bytes: used.bytes + entry.record.size, count: used.count + 1 });
    this.total += entry.record.size;
  }

  private async remove(entry: Entry): Promise<void> {
    if (entry.deleted) return;
    entry.deleted = true;
    const { id, owner, size } = entry.record;
    this.entries.delete(id);
    const used = this.usage.get(owner);
    if (used) {
      if (used.count <= 1) this.usage.delete(owner);
      else this.usage.set(owner, { bytes: used.bytes - size, count: used.count - 1 });
    }
    this.total -= size;
    // The record first: a crash in between leaves a data file without one, which the next start deletes.
    await rm(this.recordPath(id), { force: true });
    await rm(this.dataPath(id), { force: true });
  }

  /** Replaces `<id>.json` atomically; `durable`: flushed, with the folder, before it resolves. */
  private async writeRecord(entry: Entry, durable: boolean): Promise<void> {
    if (entry.deleted) return;
    const path = this.recordPath(entry.record.id);
    const temporary = `${path}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(entry.record));
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    if (durable) {
      const dir = await open(this.options.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    }
  }

  /**
   * Rebuilds the index: every record with its data file. Files of ours that are not such a pair (a data
   * file whose record was lost, a record whose data is gone or too long, a temporary file) are deleted;
   * files with other names are left alone, in case the folder was set to one that holds something else.
   */
  private async load(): Promise<void> {
    const names = await readdir(this.options.dir);
    const kept = new Set<string>();
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const id = name.slice(0, -'.json'.length);
      const record = await readFile(join(this.options.dir, name), 'utf8')
        .then((text) => recordSchema.safeParse(JSON.parse(text)))
        .catch(() => undefined);
      if (!record?.success || record.data.id !== id) {
        this.options.logger?.warn({ file: name }, 'unreadable blob record deleted');
        continue;
      }
      const data = await stat(this.dataPath(id)).catch((err: unknown) => (isMissing(err) ? undefined : Promise.reject(err)));
      if (!data || data.size > record.data.size) continue;
      const entry: Entry = { record: record.data, received: data.size, lastActivity: data.mtimeMs, uploading: false, deleted: false };
      // Every byte arrived but the server stopped before it said so: finish the job now.
      if (!entry.record.complete && entry.received === entry.record.size) {
        const handle = await open(this.dataPath(id), 'r+');
        await handle.sync().finally(() => handle.close());
        entry.record.complete = true;
        await this.writeRecord(entry, true);
      }
      this.index(entry);
      kept.add(`${id}.json`).add(`${id}.blob`);
    }
    for (const name of names) {
      if (kept.has(name)) continue;
      if (OUR_FILE.test(name)) await rm(join(this.options.dir, name), { force: true });
      else this.options.logger?.warn({ file: name }, 'a file the blob store did not write is in its folder; left alone');
    }
  }
}
