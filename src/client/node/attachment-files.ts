/**
 * Node-only: files as attachment sources and sinks. A source reads a file from disk (again for a resumed
 * upload) and fails if the file changed since it was first looked at. A download folder receives a file
 * into a hidden temporary file beside where it will go, and makes it appear only once every check of the
 * blob passed: under the sender's name made safe (file-name.ts), never over an existing file (the name
 * gets " (1)", " (2)" … instead), readable by the user only.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ChatError } from '../../protocol/errors.js';
import type { AttachmentSink, AttachmentSource } from '../attachments.js';
import { numberedFileName, safeFileName } from '../file-name.js';

/** Bytes read from a file per step: large enough for throughput, small enough to be nothing in memory. */
const READ_CHUNK_BYTES = 1024 * 1024;
/** How many " (n)" names are tried before giving up. */
const MAX_NAME_TRIES = 10_000;

/**
 * `path` as an attachment: named by its base name unless `name` is given. `file_unreadable` for a path
 * that is not a readable regular file, and from `open` when the file changed since this call.
 */
export async function fileSource(path: string, options: { name?: string; contentType?: string } = {}): Promise<AttachmentSource> {
  const full = resolve(path);
  const info = await stat(full).catch((cause: unknown) => {
    throw new ChatError('file_unreadable', `cannot read ${path}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`, { cause });
  });
  if (!info.isFile()) throw new ChatError('file_unreadable', `${path} is not a regular file`);
  const seen = { size: info.size, mtimeMs: info.mtimeMs };
  return {
    size: info.size,
    name: options.name ?? basename(full),
    ...(options.contentType !== undefined && { contentType: options.contentType }),
    async *open() {
      const handle = await open(full, 'r');
      try {
        const now = await handle.stat();
        if (now.size !== seen.size || now.mtimeMs !== seen.mtimeMs) throw new ChatError('file_unreadable', `${path} changed while it was being sent`);
        for await (const chunk of handle.createReadStream({ highWaterMark: READ_CHUNK_BYTES, autoClose: false })) yield chunk as Buffer;
      } finally {
        await handle.close();
      }
    },
  };
}

/** A folder that received files go into (created, private, if it does not exist). */
export class DownloadFolder {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /** A sink for a file the sender named `suggestedName`. */
  async open(suggestedName: string): Promise<AttachmentSink> {
    // Not chmod: the user may have chosen a folder of their own (their Downloads) with its own mode.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temporary = join(this.dir, `.e2ee-chat-${randomBytes(8).toString('hex')}.part`);
    const handle = await open(temporary, 'wx', 0o600);
    return new FolderSink(this.dir, temporary, handle, safeFileName(suggestedName));
  }
}

/** Decrypted bytes gathered before each write: one write per piece (tens of KiB) left the download waiting on the thread pool. */
const WRITE_BATCH_BYTES = 1024 * 1024;

class FolderSink implements AttachmentSink {
  private closed = false;
  private readonly pending = new Uint8Array(WRITE_BATCH_BYTES);
  private buffered = 0;

  constructor(
    private readonly dir: string,
    private readonly temporary: string,
    private readonly handle: FileHandle,
    private readonly name: string,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    for (let used = 0; used < bytes.length; ) {
      const take = Math.min(bytes.length - used, this.pending.length - this.buffered);
      this.pending.set(bytes.subarray(used, used + take), this.buffered);
      this.buffered += take;
      used += take;
      if (this.buffered === this.pending.length) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    for (let done = 0; done < this.buffered; ) done += (await this.handle.write(this.pending, done, this.buffered - done)).bytesWritten;
    this.buffered = 0;
  }

  async commit(): Promise<string> {
    await this.flush();
    await this.handle.sync();
    await this.close();
    for (let n = 0; n < MAX_NAME_TRIES; n++) {
      const target = join(this.dir, numberedFileName(this.name, n));
      if (await placeUnder(this.temporary, target)) return target;
    }
    await unlink(this.temporary).catch(() => undefined);
    throw new Error(`no free name for ${this.name} in ${this.dir}`);
  }

  async abort(): Promise<void> {
    await this.close();
    await unlink(this.temporary).catch(() => undefined);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code;

/**
 * Moves `temporary` to `target` unless `target` exists (false then): a hard link fails on an existing
 * name where a rename would replace it. Where links are not supported, the name is claimed with an
 * exclusive create and then replaced by the rename.
 */
async function placeUnder(temporary: string, target: string): Promise<boolean> {
  try {
    await link(temporary, target);
    await unlink(temporary);
    return true;
  } catch (err) {
    if (codeOf(err) === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(codeOf(err) ?? '')) throw err;
  }
  try {
    await (await open(target, 'wx', 0o600)).close();
  } catch (err) {
    if (codeOf(err) === 'EEXIST') return false;
    throw err;
  }
  await rename(temporary, target);
  return true;
}
