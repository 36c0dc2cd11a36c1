/**
 * The two blob stores for the blob contract tests (describe.each over `blobBackends`, titled by the
 * backend first as the server store contracts are): a place (a folder, or a PostgreSQL schema of its own
 * through the server store's fixtures, whose gate skips 'postgres …' suites loudly without PostgreSQL),
 * stores opened on it (a second open on one place is a restart, or another node), and what the place
 * holds, read behind the store's back.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobLimits, BlobStore } from '../../src/server/blobs/blob-store.js';
import { DiskBlobStore } from '../../src/server/blobs/disk-blob-store.js';
import { PostgresBlobStore } from '../../src/server/blobs/postgres-blob-store.js';
import { removeDir } from '../helpers/test-server.js';
import { postgresStore } from './store-fixtures.js';

export const DAY = 86_400_000;

/** A clock the test moves by hand. */
export function clock(start = 1_800_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

export const testLimits = (now: () => number, overrides: Partial<BlobLimits> = {}): BlobLimits => ({
  maxBlobBytes: 10_000,
  userMaxBytes: 5_000,
  userMaxCount: 3,
  serverMaxBytes: 8_000,
  ttlMs: 30 * DAY,
  uploadIdleMs: 3_600_000,
  now,
  ...overrides,
});

export interface BlobPlace {
  open(limits: BlobLimits): Promise<BlobStore>;
  /** How many things (files, rows of blobs and chunks) the store keeps: 0 when everything was deleted. */
  held(): Promise<number>;
  /** Everything stored, as text: what someone reading the disk or the database would see. */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

const disk = async (): Promise<BlobPlace> => {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-blobs-'));
  return {
    open: (limits) => DiskBlobStore.open({ ...limits, dir }),
    held: async () => readdirSync(dir).length,
    dump: async () => readdirSync(dir).map((n) => readFileSync(join(dir, n), 'latin1')).join('\n'),
    cleanup: async () => removeDir(dir),
  };
};

const postgres = async (): Promise<BlobPlace> => {
  const server = await postgresStore();
  return {
    open: (limits) => PostgresBlobStore.open({ ...limits, pool: server.pool }),
    held: async () => {
      const { rows } = await server.pool.query<{ n: number }>('SELECT (SELECT count(*) FROM blobs) + (SELECT count(*) FROM blob_chunks) AS n');
      return Number(rows[0]!.n);
    },
    dump: async () => {
      const { rows } = await server.pool.query<{ t: string }>("SELECT coalesce(string_agg(row_to_json(b)::text, E'\\n'), '') AS t FROM blobs b");
      const chunks = await server.pool.query<{ t: string }>("SELECT coalesce(string_agg(encode(data, 'escape'), E'\\n'), '') AS t FROM blob_chunks");
      return `${rows[0]!.t}\n${chunks.rows[0]!.t}`;
    },
    // The schema goes with cleanupStores.
    cleanup: async () => undefined,
  };
};

export const blobBackends: Array<[string, () => Promise<BlobPlace>]> = [
  ['disk', disk],
  ['postgres', postgres],
];

export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Uploads `bytes` whole in one append (the store's view of one PUT). */
export async function fill(store: BlobStore, id: string, token: string, bytes: Uint8Array): Promise<void> {
  await store.append(id, token, { start: 0, length: bytes.length, total: bytes.length }, once(bytes));
}

export function pattern(n: number, seed = 7): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

/** Byte equality of long arrays (the matcher's element-by-element diff takes seconds on mebibytes). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Reads a download's body whole (tests only: the server streams it). */
export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  return new Uint8Array(Buffer.concat(parts));
}
