/**
 * The blob store contract (docs/PROTOCOL.md §20.3, §20.4, §20.7), run on both stores: the disk one
 * (SQLite servers) and the PostgreSQL one (clusters). Quotas, deletion after the declared fetches and at
 * expiry, idle uploads, a restart (or another node) finding what was stored, bytes kept from a body that
 * broke off, blobs longer than a chunk row, and capabilities stored only as hashes. An injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/server/blobs/blob-store.js';
import { blobBackends, clock, DAY, fill, once, pattern, readAll, sameBytes, testLimits, type BlobPlace } from './blob-fixtures.js';
import { cleanupStores } from './store-fixtures.js';

const places: BlobPlace[] = [];

afterEach(async () => {
  for (const p of places.splice(0)) await p.cleanup();
  await cleanupStores();
});

describe.each(blobBackends)('%s blob store', (_name, newPlace) => {
  async function place(): Promise<BlobPlace> {
    const p = await newPlace();
    places.push(p);
    return p;
  }

  const fetchWhole = async (store: BlobStore, id: string, token: string) => {
    const download = await store.openDownload(id, token);
    const bytes = await readAll(download.body);
    await download.fetched();
    return bytes;
  };

  it('reserves the declared size at blob.create and refuses, storing nothing, past the per-user bytes or count and the server bytes', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now));
    await store.create('alice', 2000, 1);
    await store.create('alice', 2000, 1);
    await expect(store.create('alice', 1008, 1)).rejects.toMatchObject({ code: 'blob_quota_exceeded' });
    await store.create('alice', 992, 1);
    await expect(store.create('alice', 64, 1)).rejects.toMatchObject({ code: 'blob_quota_exceeded' }); // the count (3)
    expect(await store.usageOf('alice')).toEqual({ bytes: 4992, count: 3 });
    await store.create('bob', 3000, 1);
    await expect(store.create('carol', 64, 1)).rejects.toMatchObject({ code: 'server_full' }); // 7992 + 64 > 8000
    await expect(store.create('carol', 10_032, 1)).rejects.toMatchObject({ code: 'attachment_too_large' });
    expect(await store.usageOf('carol')).toEqual({ bytes: 0, count: 0 });
    expect(await store.totalBytes()).toBe(7992);
  });

  it('deletes a blob once it was fetched whole as many times as declared, and frees its quota', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now));
    const blob = await store.create('alice', 64, 2);
    await fill(store, blob.id, blob.uploadToken, pattern(64));
    for (let fetch = 1; fetch <= 2; fetch++) {
      const download = await store.openDownload(blob.id, blob.downloadToken);
      expect(await readAll(download.body)).toEqual(pattern(64));
      await download.fetched();
      await download.fetched(); // one fetch counts once
    }
    await expect(store.status(blob.id, blob.uploadToken)).rejects.toMatchObject({ code: 'not_found' });
    await expect(store.openDownload(blob.id, blob.downloadToken)).rejects.toMatchObject({ code: 'not_found' });
    expect(await p.held()).toBe(0);
    expect(await store.usageOf('alice')).toEqual({ bytes: 0, count: 0 });
    expect(await store.totalBytes()).toBe(0);
  });

  it('the sweep deletes blobs past the TTL, fetched or not, and uploads idle past their limit, keeping the rest', async () => {
    const p = await place();
    const t = clock();
    const store = await p.open(testLimits(t.now));
    const complete = await store.create('alice', 64, 1);
    await fill(store, complete.id, complete.uploadToken, pattern(64));
    const idle = await store.create('alice', 128, 1);
    await store.append(idle.id, idle.uploadToken, { start: 0, length: 32, total: 128 }, once(pattern(32)));
    t.advance(3_600_000 - 1);
    expect(await store.sweep()).toBe(0);
    t.advance(1);
    expect(await store.sweep()).toBe(1); // the idle upload
    await expect(store.status(idle.id, idle.uploadToken)).rejects.toMatchObject({ code: 'not_found' });
    expect(await store.status(complete.id, complete.uploadToken)).toEqual({ received: 64, size: 64, complete: true });
    t.advance(30 * DAY);
    // Past its expiry a blob is gone for readers even before the sweep runs.
    await expect(store.openDownload(complete.id, complete.downloadToken)).rejects.toMatchObject({ code: 'not_found' });
    expect(await store.sweep()).toBe(1);
    expect(await p.held()).toBe(0);
    expect(await store.usageOf('alice')).toEqual({ bytes: 0, count: 0 });
  });

  it('a store opened again on the same place (a restart, another node) finds the blobs and quotas as they were and resumes an upload at its stored length', async () => {
    const p = await place();
    const t = clock(Date.now());
    const first = await p.open(testLimits(t.now));
    const done = await first.create('alice', 64, 1);
    await fill(first, done.id, done.uploadToken, pattern(64));
    const partial = await first.create('alice', 128, 1);
    await first.append(partial.id, partial.uploadToken, { start: 0, length: 48, total: 128 }, once(pattern(48)));

    const second = await p.open(testLimits(t.now));
    expect(await second.usageOf('alice')).toEqual({ bytes: 192, count: 2 });
    expect(await second.status(done.id, done.uploadToken)).toEqual({ received: 64, size: 64, complete: true });
    expect(await second.status(partial.id, partial.uploadToken)).toEqual({ received: 48, size: 128, complete: false });
    await second.append(partial.id, partial.uploadToken, { start: 48, length: 80, total: 128 }, once(pattern(128).subarray(48)));
    expect(await fetchWhole(second, partial.id, partial.downloadToken)).toEqual(pattern(128));
  });

  it('at start, an incomplete upload older than the TTL is deleted before anything can use it', async () => {
    const p = await place();
    const t = clock(Date.now());
    const first = await p.open(testLimits(t.now, { uploadIdleMs: 40 * DAY }));
    const old = await first.create('alice', 128, 1);
    t.advance(30 * DAY + 1);
    const second = await p.open(testLimits(t.now, { uploadIdleMs: 40 * DAY }));
    await expect(second.status(old.id, old.uploadToken)).rejects.toMatchObject({ code: 'not_found' });
    expect(await p.held()).toBe(0);
  });

  it('keeps the bytes of a body that broke off, past a chunk row, and refuses a range that does not start where they end', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now, { maxBlobBytes: 4 << 20, userMaxBytes: 8 << 20, serverMaxBytes: 8 << 20 }));
    const size = 3 * 1024 * 1024 + 64;
    const bytes = pattern(size, 11);
    const blob = await store.create('alice', size, 1);
    const broken = 1.5 * 1024 * 1024;
    async function* breaksOff(): AsyncGenerator<Uint8Array> {
      for (let at = 0; at < broken; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
      throw new Error('connection reset');
    }
    await expect(store.append(blob.id, blob.uploadToken, { start: 0, length: size, total: size }, breaksOff())).rejects.toThrow('connection reset');
    expect(await store.status(blob.id, blob.uploadToken)).toEqual({ received: broken, size, complete: false });
    await expect(store.append(blob.id, blob.uploadToken, { start: 0, length: 16, total: size }, once(bytes.subarray(0, 16)))).rejects.toMatchObject({
      code: 'offset_mismatch',
      received: broken,
    });
    await expect(store.openDownload(blob.id, blob.downloadToken)).rejects.toMatchObject({ code: 'incomplete' });
    const answer = await store.append(blob.id, blob.uploadToken, { start: broken, length: size - broken, total: size }, once(bytes.subarray(broken)));
    expect(answer).toEqual({ received: size, size, complete: true });
    const download = await store.openDownload(blob.id, blob.downloadToken);
    expect(download.size).toBe(size);
    expect(sameBytes(await readAll(download.body), bytes)).toBe(true);
  });

  it('refuses a second append to a blob while one is still being received', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now));
    const blob = await store.create('alice', 128, 1);
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield pattern(64);
      started();
      await held;
      yield pattern(128).subarray(64);
    }
    const first = store.append(blob.id, blob.uploadToken, { start: 0, length: 128, total: 128 }, slow());
    await running;
    await expect(store.append(blob.id, blob.uploadToken, { start: 0, length: 16, total: 128 }, once(pattern(16)))).rejects.toMatchObject({ code: 'upload_in_progress' });
    finish();
    expect(await first).toEqual({ received: 128, size: 128, complete: true });
  });

  it('stores only the SHA-256 of the capabilities, never the capabilities themselves', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now));
    const blob = await store.create('alice', 64, 1);
    await fill(store, blob.id, blob.uploadToken, pattern(64));
    const stored = await p.dump();
    expect(stored).toContain(blob.id);
    expect(stored).not.toContain(blob.uploadToken);
    expect(stored).not.toContain(blob.downloadToken);
  });

  it('answers a wrong capability, or one of the other kind, exactly like an unknown id', async () => {
    const p = await place();
    const store = await p.open(testLimits(clock().now));
    const blob = await store.create('alice', 64, 1);
    await expect(store.status(blob.id, blob.downloadToken)).rejects.toMatchObject({ code: 'not_found', message: 'no such blob' });
    await expect(store.status('B'.repeat(22), blob.uploadToken)).rejects.toMatchObject({ code: 'not_found', message: 'no such blob' });
    await expect(store.append(blob.id, 'A'.repeat(22), { start: 0, length: 64, total: 64 }, once(pattern(64)))).rejects.toMatchObject({ code: 'not_found' });
    await fill(store, blob.id, blob.uploadToken, pattern(64));
    await expect(store.openDownload(blob.id, blob.uploadToken)).rejects.toMatchObject({ code: 'not_found' });
  });
});
