/**
 * Files across the nodes of a cluster (docs/DEPLOY.md): two servers in this process, each with its own
 * pool and its own data folder, on one PostgreSQL schema. A file sent through node A is downloaded
 * through node B; the fetch count and the deletion are shared; an upload that broke off on one node is
 * resumed through the other; and two nodes contending for a quota, for one blob's upload or for the
 * same sweep keep it exact. Skips loudly without PostgreSQL (fails under E2EE_CHAT_REQUIRE_SERVICES=1).
 */
import { mkdtempSync, readdirSync, existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AttachmentSource } from '../../src/client/attachments.js';
import { DownloadFolder } from '../../src/client/node/attachment-files.js';
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { PostgresBlobStore } from '../../src/server/blobs/postgres-blob-store.js';
import { loadServerConfig } from '../../src/server/config.js';
import { testSchemaName } from '../helpers/postgres.js';
import { call, connectTestClient, keysFor, rawSocket, registerRaw, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { removeDir } from '../helpers/test-server.js';
import { clock, once, pattern, readAll, sameBytes, testLimits } from './blob-fixtures.js';
import { cleanupStores, postgresStore } from './store-fixtures.js';

interface Node {
  url: string;
  port: number;
  dataDir: string;
  server: ChatServer;
}

const running: Node[] = [];
const clients: Array<TestClient | Socket> = [];
const folders: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) 'client' in c ? await c.client.close() : c.close();
  for (const node of running.splice(0)) await node.server.close();
  for (const dir of folders.splice(0)) removeDir(dir);
  await cleanupStores();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

/** A server node on `schema`, with a data folder of its own (where a disk blob store would put its files). */
async function startNode(schema: string): Promise<Node> {
  void installNodeCrypto({ mlkem: false });
  const dataDir = tempDir('e2ee-chat-node-');
  const config = {
    ...loadServerConfig({}),
    host: '127.0.0.1',
    port: 0,
    dataDir,
    maxAttachmentBytes: 16 * 1024 * 1024,
    blobHttpRatePerSecond: 1000,
    blobHttpRateBurst: 1000,
  };
  const store = await postgresStore(schema);
  const server = createChatServer({ config, store, logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const address = await server.listen();
  const node = { url: `http://127.0.0.1:${address.port}`, port: address.port, dataDir, server };
  running.push(node);
  return node;
}

const twoNodes = async () => {
  const schema = testSchemaName();
  return { schema, a: await startNode(schema), b: await startNode(schema) };
};

function bytesSource(bytes: Uint8Array, name: string): AttachmentSource {
  return {
    size: bytes.length,
    name,
    async *open() {
      for (let i = 0; i < bytes.length; i += 256 * 1024) yield bytes.subarray(i, i + 256 * 1024);
    },
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const head = (node: Node, id: string, token: string) => fetch(`${node.url}/blobs/${id}`, { method: 'HEAD', headers: bearer(token) });
const get = (node: Node, id: string, token: string) => fetch(`${node.url}/blobs/${id}`, { headers: bearer(token) });
const put = (node: Node, id: string, token: string, bytes: Uint8Array<ArrayBuffer>, start: number, total: number) =>
  fetch(`${node.url}/blobs/${id}`, { method: 'PUT', headers: { ...bearer(token), 'content-range': `bytes ${start}-${start + bytes.length - 1}/${total}` }, body: bytes });

interface Created {
  id: string;
  uploadToken: string;
  downloadToken: string;
}

async function createBlob(node: Node, size: number, downloads: number): Promise<Created> {
  const alice = await rawSocket(node.url);
  clients.push(alice);
  expect((await registerRaw(alice, `alice${Math.random().toString(36).slice(2, 8)}`, await keysFor())).ok).toBe(true);
  const answer = await call(alice, 'blob.create', { size, downloads });
  expect(answer.ok, JSON.stringify(answer)).toBe(true);
  return answer as unknown as Created;
}

describe('postgres nodes share files', () => {
  it('a file uploaded through node A is downloaded intact through node B, and no node keeps it on its disk', async () => {
    const { a, b } = await twoNodes();
    const bob = await connectTestClient(b.url, 'bob');
    clients.push(bob);
    // Alice's messages go through node B (where Bob is: without Redis a node wakes only its own
    // connections), her file's bytes through node A: a balancer may send her HTTP requests anywhere.
    const throughA: typeof globalThis.fetch = (input, init) => globalThis.fetch(String(input).replace(b.url, a.url), init);
    const uploads: string[] = [];
    const alice = await connectTestClient(b.url, 'alice', { fetch: (input, init) => (uploads.push(String(input)), throughA(input, init)) });
    clients.push(alice);
    const content = pattern(3 * 1024 * 1024 + 12_345, 5);
    const sent = await alice.client.sendFile('bob', bytesSource(content, 'photo.jpg'), { caption: 'from node A' });
    expect(sent.status).toBe('sent');
    expect(uploads.length).toBeGreaterThan(0);
    const [message] = await bob.waitFor(1);
    expect(message).toMatchObject({ body: 'from node A', attachment: { name: 'photo.jpg', size: content.length } });
    // Bob downloads through node B, which never saw the upload.
    const downloads = new DownloadFolder(tempDir('e2ee-chat-downloads-'));
    const saved = await bob.client.downloadAttachment(message!.attachment!, () => downloads.open(message!.attachment!.name));
    expect(sameBytes(new Uint8Array(readFileSync(saved)), content)).toBe(true);
    for (const node of [a, b]) expect(existsSync(join(node.dataDir, 'blobs')) ? readdirSync(join(node.dataDir, 'blobs')) : []).toEqual([]);
    // Its one declared fetch was through node B: node A answers 404 now too.
    const gone = await waitUntil(async () => {
      const res = await get(a, message!.attachment!.id, message!.attachment!.token);
      return res.status === 404 ? res.status : undefined;
    }, 2000, 'the fetch counted');
    expect(gone).toBe(404);
  });

  it('counts fetches through either node against one total, and deletes the blob for both after the last', async () => {
    const { a, b } = await twoNodes();
    const bytes = pattern(2 * 1024 * 1024 + 64, 9);
    const blob = await createBlob(a, bytes.length, 2);
    expect(await (await put(a, blob.id, blob.uploadToken, bytes, 0, bytes.length)).json()).toEqual({ received: bytes.length, size: bytes.length, complete: true });
    const first = await get(b, blob.id, blob.downloadToken);
    expect(sameBytes(new Uint8Array(await first.arrayBuffer()), bytes)).toBe(true);
    const second = await get(a, blob.id, blob.downloadToken);
    expect(sameBytes(new Uint8Array(await second.arrayBuffer()), bytes)).toBe(true);
    // The second fetch was the last: gone through both nodes (counted once its last byte was out).
    await waitUntil(async () => ((await head(b, blob.id, blob.uploadToken)).status === 404 ? true : undefined), 2000, 'the second fetch counted');
    expect((await get(a, blob.id, blob.downloadToken)).status).toBe(404);
    expect((await get(b, blob.id, blob.downloadToken)).status).toBe(404);
  });

  it('resumes through node B an upload whose body broke off on node A', async () => {
    const { a, b } = await twoNodes();
    const size = 3 * 1024 * 1024 + 48;
    const bytes = pattern(size, 3);
    const blob = await createBlob(a, size, 1);
    const broken = 1536 * 1024;
    // The connection to node A drops after 1.5 MiB of the whole blob it promised.
    await new Promise<void>((resolve) => {
      const socket = connect(a.port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`PUT /blobs/${blob.id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${blob.uploadToken}\r\nContent-Range: bytes 0-${size - 1}/${size}\r\nContent-Length: ${size}\r\n\r\n`);
      socket.write(bytes.subarray(0, broken), () => {
        socket.destroy();
        resolve();
      });
    });
    // Node B sees what node A kept, once A has let go of the upload.
    const offset = await waitUntil(async () => {
      const res = await head(b, blob.id, blob.uploadToken);
      return res.headers.get('upload-offset') === String(broken) ? broken : undefined;
    }, 5000, 'the kept bytes on node B');
    let res: Response;
    do res = await put(b, blob.id, blob.uploadToken, bytes.slice(offset), offset, size);
    while (res.status === 409 && ((await res.clone().json()) as { error: string }).error === 'upload_in_progress');
    expect(await res.json()).toEqual({ received: size, size, complete: true });
    expect(sameBytes(new Uint8Array(await (await get(a, blob.id, blob.downloadToken)).arrayBuffer()), bytes)).toBe(true);
  });
});

describe('postgres blob stores of two nodes on one schema', () => {
  /** Two stores, each on a pool of its own (as two nodes are), on one schema, with one clock. */
  async function twoStores(overrides: Parameters<typeof testLimits>[1] = {}, leaseMs?: number) {
    const schema = testSchemaName();
    const t = clock();
    const limits = { ...testLimits(t.now, overrides), ...(leaseMs !== undefined && { uploadLeaseMs: leaseMs }) };
    const a = await PostgresBlobStore.open({ ...limits, pool: (await postgresStore(schema)).pool });
    const b = await PostgresBlobStore.open({ ...limits, pool: (await postgresStore(schema)).pool });
    return { a, b, t };
  }

  it('let no more blobs through a contended quota than it allows', async () => {
    const { a, b } = await twoStores({ userMaxCount: 5, userMaxBytes: 1_000_000, serverMaxBytes: 1_000_000 });
    const creates = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).create('alice', 64, 1).then(() => 'created', (err: { code: string }) => err.code));
    const outcomes = await Promise.all(creates);
    expect(outcomes.filter((o) => o === 'created')).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'blob_quota_exceeded')).toHaveLength(11);
    expect(await b.usageOf('alice')).toEqual({ count: 5, bytes: 320 });
    expect(await a.totalBytes()).toBe(320);
  });

  it("refuse a second node's append while the first holds the upload, and let it take over once the first's lease ran out", async () => {
    const { a, b, t } = await twoStores({}, 60_000);
    const blob = await a.create('alice', 128, 1);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    // Node A's PUT stops sending after 64 bytes, as a node that died mid-request would (its claim stays).
    async function* stalls(): AsyncGenerator<Uint8Array> {
      yield pattern(64);
      started();
      await held;
    }
    const stalled = a.append(blob.id, blob.uploadToken, { start: 0, length: 128, total: 128 }, stalls());
    await running;
    await expect(b.append(blob.id, blob.uploadToken, { start: 0, length: 128, total: 128 }, once(pattern(128)))).rejects.toMatchObject({ code: 'upload_in_progress' });
    t.advance(60_000);
    // Nothing was written under A's claim (its 64 bytes wait for a full row): B starts at 0 and completes.
    expect(await b.append(blob.id, blob.uploadToken, { start: 0, length: 128, total: 128 }, once(pattern(128)))).toEqual({ received: 128, size: 128, complete: true });
    finish();
    // A's bytes, offered under a claim it lost, are refused: nothing of them lands in the blob.
    await expect(stalled).rejects.toMatchObject({ code: 'upload_in_progress' });
    const download = await a.openDownload(blob.id, blob.downloadToken);
    expect(await readAll(download.body)).toEqual(pattern(128));
  });

  it('sweeping on both nodes at once deletes each expired blob once and gives its quota back once', async () => {
    const { a, b, t } = await twoStores({ userMaxCount: 100, userMaxBytes: 1_000_000, serverMaxBytes: 1_000_000 });
    for (let i = 0; i < 45; i++) await (i % 2 === 0 ? a : b).create('alice', 64, 1);
    t.advance(30 * 86_400_000);
    const [removedA, removedB] = await Promise.all([a.sweep(), b.sweep()]);
    expect(removedA + removedB).toBe(45);
    expect(await a.usageOf('alice')).toEqual({ count: 0, bytes: 0 });
    expect(await b.totalBytes()).toBe(0);
  });
});
