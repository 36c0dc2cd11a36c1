/**
 * The blob store on the node's disk (blob-store.ts), for a server on SQLite (or in memory): one node.
 *
 * Per blob, in one folder: `<id>.blob`, the bytes received so far (its length is the upload offset),
 * and `<id>.json`, what the server knows of it (owner, declared size and fetches, expiry, the SHA-256 of
 * its two capabilities, fetches so far, whether complete), replaced atomically. The capabilities
 * themselves are never stored. An index in memory answers quotas and lookups and is rebuilt from the
 * folder at start, where anything that is not a consistent pair is deleted. A cluster uses
 * postgres-blob-store.ts instead: another node cannot see this folder.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { BlobCreateResult, BlobPutAnswer } from '../../protocol/blob-schemas.js';
import { MAX_BLOB_CHUNK_BYTES } from '../../protocol/limits.js';
import { newServerId } from '../ids.js';
import { capabilityMatches, checkRange, createRefusal, newCapability, noSuchBlob, tokenHash, writeInBatches } from './blob-checks.js';
import { BlobRequestError, type BlobDownload, type BlobLimits, type BlobRange, type BlobStatus, type BlobStore, type BlobUsage } from './blob-store.js';

export interface DiskBlobStoreOptions extends BlobLimits {
  dir: string;
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

/** Bytes of an upload gathered in memory before each write to disk. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** The names this store writes: data, record, and a record being replaced. */
const OUR_FILE = /^[A-Za-z0-9_-]{22}\.(blob|json|json\.tmp)$/;

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';

export class DiskBlobStore implements BlobStore {
  private readonly entries = new Map<string, Entry>();
  private readonly usage = new Map<string, { bytes: number; count: number }>();
  private total = 0;
  private readonly now: () => number;

  private constructor(private readonly options: DiskBlobStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Opens the folder (creating it, mode 0700), rebuilds the index, and sweeps what expired while the server was down. */
  static async open(options: DiskBlobStoreOptions): Promise<DiskBlobStore> {
    const store = new DiskBlobStore(options);
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

  async usageOf(owner: string): Promise<BlobUsage> {
    return this.usageNow(owner);
  }

  private usageNow(owner: string): BlobUsage {
    return { ...(this.usage.get(owner) ?? { bytes: 0, count: 0 }) };
  }

  async totalBytes(): Promise<number> {
    return this.total;
  }

  async create(owner: string, size: number, downloads: number): Promise<BlobCreateResult> {
    const refusal = createRefusal(this.options, size, this.usageNow(owner), this.total);
    if (refusal) throw refusal;
    const { ttlMs } = this.options;
    const now = this.now();
    const uploadToken = newCapability();
    const downloadToken = newCapability();
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
    const stored = entry && (kind === 'upload' ? entry.record.uploadTokenHash : entry.record.downloadTokenHash);
    // Hashed and compared even for an unknown id, so the answer takes the same work either way.
    const ok = capabilityMatches(token, stored);
    if (!entry || !ok || entry.deleted || entry.record.expiresAt <= this.now()) throw noSuchBlob();
    return entry;
  }

  async status(id: string, uploadToken: string): Promise<BlobStatus> {
    const entry = this.authorised(id, uploadToken, 'upload');
    return { received: entry.received, size: entry.record.size, complete: entry.record.complete };
  }

  async append(id: string, uploadToken: string, range: BlobRange, body: AsyncIterable<Uint8Array>): Promise<BlobPutAnswer> {
    const entry = this.authorised(id, uploadToken, 'upload');
    const { size } = entry.record;
    checkRange(range, { size, received: entry.received, complete: entry.record.complete }, entry.uploading);
    entry.uploading = true;
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.dataPath(id), 'r+');
      const file = handle;
      await writeInBatches(
        body,
        range,
        WRITE_BATCH_BYTES,
        async (bytes) => {
          await file.write(bytes, 0, bytes.length, entry.received);
          entry.received += bytes.length;
          entry.lastActivity = this.now();
        },
        () => (entry.lastActivity = this.now()),
      );
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

  /** The file is opened before the answer: a deletion racing the read cannot cut it short. */
  async openDownload(id: string, downloadToken: string): Promise<BlobDownload> {
    const entry = this.authorised(id, downloadToken, 'download');
    if (!entry.record.complete) throw new BlobRequestError('incomplete', 'the upload of this blob has not finished');
    const handle = await open(this.dataPath(id), 'r').catch((err: unknown) => {
      throw isMissing(err) ? noSuchBlob() : err;
    });
    let counted = false;
    return {
      size: entry.record.size,
      body: handle.createReadStream({ highWaterMark: 256 * 1024 }),
      fetched: async () => {
        if (counted || entry.deleted) return;
        counted = true;
        entry.record.fetched++;
        if (entry.record.fetched >= entry.record.downloads) await this.remove(entry);
        else await this.writeRecord(entry, false);
      },
    };
  }

  /** Runs on the server's sweep timer and at start. */
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
