/**
 * Files (docs/PROTOCOL.md §20): upload and download throughput of one file through the real CLI and
 * server processes, against a plain `cp` of the same file on the same disk in the same run; and the peak
 * memory of the sender, the receiver and the server at two file sizes, which must not grow with the
 * file (everything streams: no process holds the file).
 *
 * Timing: from the line each client prints as its transfer starts ("sending …", "receiving …") to the
 * line it prints when done ("uploaded …", "… sent file … →"), as this process reads them: process start,
 * key loading and login are left out. Upload: encrypt + upload in chunks + the server's fsync. Download:
 * download + check + decrypt + write + fsync + rename. Peak memory: getrusage's maxrss of each client
 * (a preload reports it at exit) and the server's VmHWM, one fresh server per size.
 *
 * Where the server keeps blobs: a 20 MiB file through a server on PostgreSQL (blobs in the database,
 * postgres-blob-store.ts) against the same file through a server on SQLite (blobs on disk), same run.
 * PostgreSQL is E2EE_CHAT_DATABASE_URL or the local one of the tests, in a schema of its own, dropped
 * after; without it those two figures are left out, with a notice.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { ratioOf, type Figure } from './lib/report.js';
import { startServerProcess } from './lib/server-process.js';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
const PEAK_RSS_PRELOAD = resolve(import.meta.dirname, 'lib', 'report-peak-rss.cjs');
const MIB = 1024 * 1024;

interface Run {
  /** Seconds from the start line to the done line. */
  seconds: number;
  peakRssBytes: number;
  stdout: string;
  stderr: string;
}

/** Runs a CLI command to its end, timing from the first match of `start` to the first of `done` (in stdout or stderr). */
function runTimed(args: string[], env: Record<string, string>, start: RegExp, done: RegExp): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--require', PEAK_RSS_PRELOAD, CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started: number | undefined;
    let finished: number | undefined;
    const check = () => {
      const t = performance.now();
      if (started === undefined && start.test(stdout + stderr)) started = t;
      if (started !== undefined && finished === undefined && done.test(stdout + stderr)) finished = t;
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => ((stdout += d), check()));
    child.stderr.setEncoding('utf8').on('data', (d: string) => ((stderr += d), check()));
    child.once('error', reject);
    child.once('close', (code) => {
      const peak = /^peak-rss-kib (\d+)$/m.exec(stderr);
      if (code !== 0 || started === undefined || finished === undefined || !peak) {
        reject(new Error(`e2ee-chat ${args.join(' ')} failed (exit ${code}):\n${stdout}\n${stderr}`));
        return;
      }
      resolveRun({ seconds: (finished - started) / 1000, peakRssBytes: Number(peak[1]) * 1024, stdout, stderr });
    });
  });
}

function runQuietly(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => (code === 0 ? resolveRun() : reject(new Error(`e2ee-chat ${args.join(' ')} failed:\n${stderr}`))));
  });
}

/** The server's peak resident memory so far (VmHWM), from /proc. */
function peakRssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'))!;
  return Number(line.replace(/\D+/g, '')) * 1024;
}

/** A file of `bytes` random bytes, written 1 MiB at a time. */
function writeRandomFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  for (let left = bytes; left > 0; left -= MIB) writeSync(fd, randomBytes(Math.min(MIB, left)));
  closeSync(fd);
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Seconds for `cp src dst` (the baseline: the same bytes read and written on the same disk). */
function cpSeconds(src: string, dst: string): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const t = performance.now();
    const child = spawn('cp', [src, dst], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolveRun((performance.now() - t) / 1000) : reject(new Error(`cp exited ${code}`))));
  });
}

interface SizeResult {
  size: number;
  upload: Run;
  download: Run;
  serverPeakRssBytes: number;
  cpSeconds: number;
}

async function transfer(dir: string, home: string, size: number, serverEnv: Record<string, string> = {}): Promise<SizeResult> {
  const src = join(dir, `file-${size}.bin`);
  writeRandomFile(src, size);
  const server = await startServerProcess({ E2EE_CHAT_MAX_ATTACHMENT_BYTES: String(Math.max(size, MIB)), E2EE_CHAT_BLOB_USER_MAX_BYTES: String(4 * size + MIB), ...serverEnv });
  try {
    const env = { E2EE_CHAT_HOME: home, E2EE_CHAT_SERVER: server.url };
    // A fresh server: both register (only receive registers a name).
    for (const user of ['alice', 'bob']) await runQuietly(['receive', '--user', user, '--timeout', '0.3'], env);
    const name = `file-${size}.bin`;
    const upload = await runTimed(['send', '--user', 'alice', '--to', 'bob', '--file', src, '--wait', '0'], env, /^sending file-/m, /^uploaded file-/m);
    const downloads = join(dir, `downloads-${size}`);
    const download = await runTimed(['receive', '--user', 'bob', '--download-dir', downloads, '--timeout', '1'], env, /^receiving file-/m, / sent file file-.* → /m);
    const received = join(downloads, name);
    if (statSync(received).size !== size || (await sha256Of(received)) !== (await sha256Of(src))) throw new Error(`the ${size}-byte file did not arrive intact`);
    const serverPeakRssBytes = peakRssOf(server.pid);
    // The baseline last, so the source is as warm in the page cache for it as it was for the upload.
    const copied = join(dir, `copy-${size}.bin`);
    const cp = await cpSeconds(src, copied);
    for (const path of [src, received, copied]) rmSync(path, { force: true });
    return { size, upload, download, serverPeakRssBytes, cpSeconds: cp };
  } finally {
    await server.stop();
  }
}

const DATABASE_URL = process.env.E2EE_CHAT_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** A schema of its own on the benchmark's PostgreSQL, and the server URL that selects it; undefined when unreachable. */
async function postgresSchema(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const schema = `e2ee_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2_000 });
  try {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    console.warn(`files: PostgreSQL unreachable (${(err as Error).message}): the PostgreSQL blob store figures are left out`);
    await admin.end().catch(() => undefined);
    return undefined;
  }
  const url = new URL(DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/** Upload and download of one file through a PostgreSQL server (blobs in the database) vs a SQLite one (blobs on disk). */
async function blobStoreFigures(dir: string, home: string, size: number): Promise<Figure[]> {
  const database = await postgresSchema();
  if (!database) return [];
  try {
    const onDisk = await transfer(dir, join(home, 'disk'), size);
    const inDatabase = await transfer(dir, join(home, 'postgres'), size, { E2EE_CHAT_DATABASE_URL: database.url });
    const mib = size / MIB;
    return (['upload', 'download'] as const).map((what) => {
      const rate = mib / inDatabase[what].seconds;
      const diskRate = mib / onDisk[what].seconds;
      return {
        section: 'files',
        name: `${what}, ${mib} MiB file, blobs in PostgreSQL (a cluster's server)`,
        value: rate,
        unit: 'MiB/s',
        baseline: { name: 'the same, blobs on disk (SQLite server)', value: diskRate },
        ratio: ratioOf(rate, diskRate, true),
      };
    });
  } finally {
    await database.drop();
  }
}

/** Memory that grows with the file: more than this between the two sizes means buffering, not streaming. */
const GROWTH_ALLOWED_BYTES = 16 * MIB;

/**
 * The file of the throughput figures, and the larger one the memory is compared at. Why not a small
 * file and then 100 MiB: a process frees the buffers it has finished with only at its next garbage
 * collection, which a 10 MiB transfer does not reach. Its peak is then lower, not because it streams
 * better but because nothing was collected yet; from 100 MiB on, the peak is where collection holds it.
 */
const SIZES = { full: [100 * MIB, 1024 * MIB], quick: [50 * MIB, 200 * MIB], smoke: [MIB, 2 * MIB] } as const;
/** The file of the disk-vs-PostgreSQL comparison. */
const BLOB_STORE_SIZE = { full: 20 * MIB, quick: 20 * MIB, smoke: MIB } as const;

export async function filesBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const [small, large] = SIZES[mode];
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-bench-files-'));
  const home = join(dir, 'home');
  try {
    const results: SizeResult[] = [];
    // A home per server: each size runs on a fresh server, where the users register afresh (their pins
    // of each other's device lists from the last server would not follow the new server's lists).
    for (const size of [small, large]) results.push(await transfer(dir, join(home, String(size)), size));
    const [a, b] = results as [SizeResult, SizeResult];
    const mib = (bytes: number) => bytes / MIB;
    const figures: Figure[] = [];
    const cpRate = mib(a.size) / a.cpSeconds;
    for (const [what, run] of [
      ['upload (encrypt, chunks, server fsync)', a.upload],
      ['download (check, decrypt, write, fsync)', a.download],
    ] as const) {
      const rate = mib(a.size) / run.seconds;
      figures.push({
        section: 'files',
        name: `${what}, ${mib(a.size)} MiB file`,
        value: rate,
        unit: 'MiB/s',
        baseline: { name: 'cp of the same file, same disk', value: cpRate },
        ratio: ratioOf(rate, cpRate, true),
      });
    }
    for (const [who, small, large] of [
      ['sender (send --file)', a.upload.peakRssBytes, b.upload.peakRssBytes],
      ['receiver (receive)', a.download.peakRssBytes, b.download.peakRssBytes],
      ['server', a.serverPeakRssBytes, b.serverPeakRssBytes],
    ] as const) {
      figures.push({
        section: 'files',
        name: `peak RSS, ${who}, ${mib(b.size)} MiB file`,
        value: mib(large),
        unit: 'MiB',
        baseline: { name: `the same with a ${mib(a.size)} MiB file`, value: mib(small) },
        ratio: ratioOf(large, small, false),
        target: `does not grow with the file (at most ${mib(GROWTH_ALLOWED_BYTES)} MiB more)`,
        met: large - small <= GROWTH_ALLOWED_BYTES,
      });
    }
    figures.push(...(await blobStoreFigures(dir, join(home, 'blob-stores'), BLOB_STORE_SIZE[mode])));
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
