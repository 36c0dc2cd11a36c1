/** Node-only: files written whole or not at all, readable by their owner only (mode 0600). */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatError } from '../../protocol/errors.js';
import { dirname } from 'node:path';

export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await chmod(dir, PRIVATE_DIR_MODE);
}

/** Writes `data` to a new private temporary file beside `path`, on disk (fsync), and returns its name. */
async function writeTempBeside(path: string, data: string): Promise<string> {
  await ensurePrivateDir(dirname(path));
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}

/** Write to a temporary file, fsync, then rename over the target: a crash leaves the old or the new file. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = await writeTempBeside(path, data);
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Like writeFileAtomic, but never replaces an existing file: returns false when `path` already exists.
 * The content is complete before the name appears (write, fsync, then link), so a concurrent reader sees
 * no file or the whole file, and of two concurrent writers exactly one wins.
 */
export async function writeFileExclusive(path: string, data: string): Promise<boolean> {
  const tmp = await writeTempBeside(path, data);
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** A lock file older than this belongs to a process that died holding it (a held lock lives milliseconds). */
export const STALE_LOCK_MS = 10_000;
/** How long withFileLock waits for a live holder before giving up. */
export const LOCK_WAIT_MS = 15_000;

/**
 * Runs `work` while holding `${path}.lock`, created exclusively (O_EXCL), so that read-modify-writes of
 * `path` by several processes (and several calls in one) happen one at a time. Readers need no lock:
 * writeFileAtomic replaces the file whole. A lock left by a crashed holder is broken after STALE_LOCK_MS.
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  await ensurePrivateDir(dirname(path));
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    try {
      const handle = await open(lock, 'wx', PRIVATE_FILE_MODE);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_LOCK_MS) {
      await unlink(lock).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new ChatError('timeout', `${lock} stayed locked by another process for ${LOCK_WAIT_MS / 1000} s`);
    await sleep(delay + Math.random() * delay);
  }
  try {
    return await work();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}
