/**
 * The server's blob store (docs/PROTOCOL.md §20) on a SQLite server: `blob.create` over the
 * authenticated socket, chunks over HTTP with capabilities, resumption of a broken upload, refusal of
 * uploads that would rewrite or overrun a blob, deletion after the declared fetch; and what the disk
 * store alone does with its folder. The store-level contract, on both stores, is
 * blob-store-contract.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachmentBlobLength } from '../../src/crypto/attachment-cipher.js';
import { MAX_BLOB_CHUNK_BYTES } from '../../src/protocol/limits.js';
import { DiskBlobStore } from '../../src/server/blobs/disk-blob-store.js';
import { clock, fill, once, pattern, testLimits } from './blob-fixtures.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

/** attachmentBlobLength(16 MiB): the blob of a file at the test server's limit. */
const MAX_16_MIB_BLOB = attachmentBlobLength(16 * 1024 * 1024);

// What the disk store alone does; what both stores do is in blob-store-contract.test.ts.
describe('disk blob store (the folder)', () => {
  it('at start, completes nothing it should not and deletes what is not a consistent pair of its own files, leaving strangers alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-blobs-'));
    const t = clock(Date.now());
    const first = await DiskBlobStore.open({ ...testLimits(t.now), dir });
    const done = await first.create('alice', 64, 1);
    await fill(first, done.id, done.uploadToken, pattern(64));
    const partial = await first.create('alice', 128, 1);
    await first.append(partial.id, partial.uploadToken, { start: 0, length: 48, total: 128 }, once(pattern(48)));
    // Debris: a data file whose record is lost, a half-written record, a record that does not parse, a stranger's file.
    writeFileSync(join(dir, `${'A'.repeat(22)}.blob`), 'orphan');
    writeFileSync(join(dir, `${'B'.repeat(22)}.json.tmp`), '{');
    writeFileSync(join(dir, `${'C'.repeat(22)}.json`), 'not json');
    writeFileSync(join(dir, 'README'), 'not ours');

    const second = await DiskBlobStore.open({ ...testLimits(t.now), dir });
    expect(await second.usageOf('alice')).toEqual({ bytes: 192, count: 2 });
    expect(await second.status(partial.id, partial.uploadToken)).toEqual({ received: 48, size: 128, complete: false });
    expect(readdirSync(dir).sort()).toEqual([`${done.id}.blob`, `${done.id}.json`, `${partial.id}.blob`, `${partial.id}.json`, 'README'].sort());
    removeDir(dir);
  });

  it('keeps each blob as a data file and a record, mode 0600, in a folder of mode 0700', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'e2ee-chat-blobs-')), 'blobs');
    const store = await DiskBlobStore.open({ ...testLimits(clock().now), dir });
    const blob = await store.create('alice', 64, 1);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const name of [`${blob.id}.blob`, `${blob.id}.json`]) expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    removeDir(join(dir, '..'));
  });
});

// ---------------------------------------------------------------------------------------------------
// Over the wire: blob.create on the socket, the bytes over HTTP.
// ---------------------------------------------------------------------------------------------------

interface Created {
  id: string;
  uploadToken: string;
  downloadToken: string;
  expiresAt: number;
  maxChunkBytes: number;
}

describe('blob store over the socket and HTTP', () => {
  let srv: TestServer;
  let alice: Socket;

  beforeAll(async () => {
    srv = await startTestServer({ maxAttachmentBytes: 16 * 1024 * 1024, blobHttpRatePerSecond: 1000, blobHttpRateBurst: 1000 });
    alice = await rawSocket(srv.url);
    expect((await registerRaw(alice, 'alice', await keysFor())).ok).toBe(true);
  });

  afterAll(async () => {
    alice?.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  const url = (id: string) => `${srv.url}/blobs/${id}`;

  async function create(size: number, downloads = 1): Promise<Created> {
    const answer = await call(alice, 'blob.create', { size, downloads });
    expect(answer.ok, JSON.stringify(answer)).toBe(true);
    return answer as unknown as Created;
  }

  function put(id: string, token: string, bytes: Uint8Array, start: number, total: number): Promise<Response> {
    return fetch(url(id), {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-range': `bytes ${start}-${start + bytes.length - 1}/${total}` },
      body: bytes.slice(),
    });
  }

  const get = (id: string, token: string) => fetch(url(id), { headers: { authorization: `Bearer ${token}` } });
  const head = (id: string, token: string) => fetch(url(id), { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });

  it('announces the attachment limit at login, and blob.create answers an id, two capabilities, the expiry and the chunk cap', async () => {
    const bob = await rawSocket(srv.url);
    const registered = await registerRaw(bob, 'bob', await keysFor());
    bob.close();
    expect(registered.limits).toEqual({ maxEnvelopeBytes: 65536, maxAttachmentBytes: 16 * 1024 * 1024 });
    const blob = await create(592);
    expect(blob).toEqual({
      ok: true,
      id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      uploadToken: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      downloadToken: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      expiresAt: expect.any(Number),
      maxChunkBytes: MAX_BLOB_CHUNK_BYTES,
    });
    expect(blob.uploadToken).not.toBe(blob.downloadToken);
  });

  it('refuses blob.create before login, for an impossible blob length, and over the limit', async () => {
    const anon = await rawSocket(srv.url);
    expect((await call(anon, 'blob.create', { size: 592, downloads: 1 })).error?.code).toBe('not_authenticated');
    anon.close();
    for (const size of [0, 63, 65, 600, -64, 1.5]) {
      expect((await call(alice, 'blob.create', { size, downloads: 1 })).error, String(size)).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^size: /) });
    }
    expect((await call(alice, 'blob.create', { size: 592, downloads: 0 })).error?.code).toBe('bad_request');
    // The blob of a 16 MiB file (the limit) is the longest that fits.
    expect((await call(alice, 'blob.create', { size: MAX_16_MIB_BLOB + 16, downloads: 1 })).error?.code).toBe('attachment_too_large');
    expect((await call(alice, 'blob.create', { size: MAX_16_MIB_BLOB, downloads: 1 })).ok).toBe(true);
  });

  it('takes a blob in chunks, says how far it got, and serves it whole, then deletes it after the declared fetch', async () => {
    const bytes = pattern(3 * 1024 + 64);
    const blob = await create(bytes.length);
    const one = await put(blob.id, blob.uploadToken, bytes.subarray(0, 1000), 0, bytes.length);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ received: 1000, size: bytes.length, complete: false });
    const status = await head(blob.id, blob.uploadToken);
    expect([status.status, status.headers.get('upload-offset'), status.headers.get('upload-length')]).toEqual([200, '1000', String(bytes.length)]);
    expect((await get(blob.id, blob.downloadToken)).status).toBe(409); // not complete yet
    const two = await put(blob.id, blob.uploadToken, bytes.subarray(1000), 1000, bytes.length);
    expect(await two.json()).toEqual({ received: bytes.length, size: bytes.length, complete: true });
    const res = await get(blob.id, blob.downloadToken);
    expect([res.status, res.headers.get('content-length'), res.headers.get('content-type')]).toEqual([200, String(bytes.length), 'application/octet-stream']);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    // Fetched the one time declared: gone, from the folder too. (The server counts the fetch once its
    // last byte is out, which may be just after this client has read it.)
    await waitUntil(async () => ((await head(blob.id, blob.uploadToken)).status === 404 ? true : undefined), 2000, 'the fetch counted');
    const again = await get(blob.id, blob.downloadToken);
    expect([again.status, await again.json()]).toEqual([404, { error: 'not_found', message: 'no such blob' }]);
    await waitUntil(() => (existsSync(join(srv.dataDir, 'blobs', `${blob.id}.blob`)) ? undefined : true), 2000, 'the blob file deleted');
  });

  it('answers a missing or wrong capability exactly like an unknown id, and never lets one capability do the other\'s job', async () => {
    const bytes = pattern(64);
    const blob = await create(64);
    const notFound = { error: 'not_found', message: 'no such blob' };
    const refusals = [
      await fetch(url(blob.id), { method: 'PUT', headers: { 'content-range': 'bytes 0-63/64' }, body: bytes }),
      await put(blob.id, 'A'.repeat(22), bytes, 0, 64),
      await put(blob.id, blob.downloadToken, bytes, 0, 64),
      await put('B'.repeat(22), blob.uploadToken, bytes, 0, 64),
      await fetch(url('not-an-id')),
    ];
    for (const res of refusals) expect([res.status, await res.json()]).toEqual([404, notFound]);
    expect((await head(blob.id, blob.downloadToken)).status).toBe(404);
    expect((await put(blob.id, blob.uploadToken, bytes, 0, 64)).status).toBe(200);
    expect((await get(blob.id, blob.uploadToken)).status).toBe(404);
    expect((await fetch(url(blob.id), { method: 'DELETE', headers: { authorization: `Bearer ${blob.uploadToken}` } })).status).toBe(405);
    expect((await get(blob.id, blob.downloadToken)).status).toBe(200);
  });

  it('refuses uploads that would rewrite stored bytes, skip ahead, run past the size or the chunk cap, or lie about the total, and changes nothing', async () => {
    const bytes = pattern(256);
    const blob = await create(256);
    expect((await put(blob.id, blob.uploadToken, bytes.subarray(0, 100), 0, 256)).status).toBe(200);
    const rewrite = await put(blob.id, blob.uploadToken, pattern(50, 99), 50, 256);
    expect([rewrite.status, await rewrite.json()]).toEqual([409, { error: 'offset_mismatch', message: expect.any(String), received: 100 }]);
    const skip = await put(blob.id, blob.uploadToken, bytes.subarray(150), 150, 256);
    expect(((await skip.json()) as { error: string }).error).toBe('offset_mismatch');
    const past = await fetch(url(blob.id), {
      method: 'PUT',
      headers: { authorization: `Bearer ${blob.uploadToken}`, 'content-range': 'bytes 100-299/256' },
      body: new Uint8Array(200),
    });
    expect(past.status).toBe(400); // the range itself is impossible (last >= total)
    const total = await put(blob.id, blob.uploadToken, bytes.subarray(100), 100, 512);
    expect([total.status, ((await total.json()) as { error: string }).error]).toEqual([400, 'bad_request']);
    const length = await fetch(url(blob.id), {
      method: 'PUT',
      headers: { authorization: `Bearer ${blob.uploadToken}`, 'content-range': 'bytes 100-199/256' },
      body: new Uint8Array(50),
    });
    expect(length.status).toBe(400);
    expect((await head(blob.id, blob.uploadToken)).headers.get('upload-offset')).toBe('100');
    expect((await put(blob.id, blob.uploadToken, bytes.subarray(100), 100, 256)).status).toBe(200);
    const after = await put(blob.id, blob.uploadToken, bytes.subarray(0, 16), 0, 256);
    expect([after.status, ((await after.json()) as { received: number }).received]).toEqual([409, 256]);
    expect(new Uint8Array(await (await get(blob.id, blob.downloadToken)).arrayBuffer())).toEqual(bytes);
  });

  it('refuses a chunk over the cap (413) and a body without Content-Length (411)', async () => {
    const size = MAX_BLOB_CHUNK_BYTES + 16 * 1024 + 48;
    const blob = await create(size);
    const big = await put(blob.id, blob.uploadToken, new Uint8Array(MAX_BLOB_CHUNK_BYTES + 16), 0, size);
    expect([big.status, ((await big.json()) as { error: string }).error]).toEqual([413, 'chunk_too_large']);
    const chunked = await rawRequest(
      srv.port,
      `PUT /blobs/${blob.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${blob.uploadToken}\r\nContent-Range: bytes 0-3/${size}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`,
    );
    expect(chunked).toMatch(/^HTTP\/1\.1 411 /);
    expect((await head(blob.id, blob.uploadToken)).headers.get('upload-offset')).toBe('0');
  });

  it('keeps what arrived of a body that broke off, says so on HEAD, and completes from there', async () => {
    const bytes = pattern(8192, 3);
    const blob = await create(8192);
    // The connection drops after 3,000 of the 8,192 bytes the request promised.
    await rawRequest(
      srv.port,
      `PUT /blobs/${blob.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${blob.uploadToken}\r\nContent-Range: bytes 0-8191/8192\r\nContent-Length: 8192\r\n\r\n`,
      bytes.subarray(0, 3000),
    );
    const offset = await waitUntil(async () => {
      const kept = (await head(blob.id, blob.uploadToken)).headers.get('upload-offset');
      return kept === '3000' ? kept : undefined;
    }, 2000, 'the kept bytes on HEAD');
    expect(offset).toBe('3000');
    // A second PUT may find the first still being received; the server says so until it has let go.
    let res: Response;
    do res = await put(blob.id, blob.uploadToken, bytes.subarray(3000), 3000, 8192);
    while (res.status === 409 && ((await res.json()) as { error: string }).error === 'upload_in_progress');
    expect(await res.json()).toEqual({ received: 8192, size: 8192, complete: true });
    expect(new Uint8Array(await (await get(blob.id, blob.downloadToken)).arrayBuffer())).toEqual(bytes);
  });

  it('refuses a second PUT on a blob while one is still being received', async () => {
    const blob = await create(4096 + 48 + 16);
    const socket = connect(srv.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`PUT /blobs/${blob.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${blob.uploadToken}\r\nContent-Range: bytes 0-4095/4160\r\nContent-Length: 4096\r\n\r\n`);
    socket.write(new Uint8Array(100));
    const answer = await waitUntil(async () => {
      const refused = (await (await put(blob.id, blob.uploadToken, new Uint8Array(16), 100, 4160)).json()) as { error?: string };
      return refused.error === 'upload_in_progress' ? refused : undefined;
    }, 2000, 'the first PUT to be under way');
    expect(answer.error).toBe('upload_in_progress');
    socket.destroy();
  });
});

describe('blob requests are rate-limited per address', () => {
  it('answers 429 with Retry-After once the bucket is empty', async () => {
    const srv = await startTestServer({ blobHttpRatePerSecond: 1, blobHttpRateBurst: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetch(`${srv.url}/blobs/${'A'.repeat(22)}`)).status);
      expect(statuses).toEqual([404, 404, 404, 429, 429]);
      const limited = await fetch(`${srv.url}/blobs/${'A'.repeat(22)}`);
      expect([limited.headers.get('retry-after'), await limited.json()]).toEqual(['1', { error: 'rate_limited', message: expect.any(String) }]);
    } finally {
      await srv.stop();
      removeDir(srv.dataDir);
    }
  });
});

/** Raw HTTP/1.1: writes the request (and a partial body), then resolves with what the server sent once it closes or 300 ms pass. */
function rawRequest(port: number, head: string, body?: Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.write(head);
    if (body) socket.write(body);
    const done = () => {
      socket.destroy();
      resolve(received);
    };
    socket.on('close', done);
    setTimeout(done, 300);
  });
}
