/**
 * Files through the client library against a real server (docs/PROTOCOL.md §20): a file sent with
 * sendFile arrives as a message with an attachment that downloads into a folder intact; an upload that
 * breaks off mid-chunk resumes where the server's bytes end; a blob changed on the server's disk, or a
 * server that serves more bytes than it should, is refused and leaves nothing in the folder; a file over
 * the server's limit is refused before any blob exists.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AttachmentSource } from '../../src/client/attachments.js';
import { fetchBlobHttp } from '../../src/client/blob-transfer.js';
import { DownloadFolder, fileSource } from '../../src/client/node/attachment-files.js';
import { attachmentBlobLength } from '../../src/crypto/attachment-cipher.js';
import { ChatError, DecryptionFailedError } from '../../src/protocol/errors.js';
import { useHostileServer, useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';

const servers = useTestServer();
const track = servers.track.bind(servers);

let nextUser = 0;
async function pair(options: { fetch?: typeof globalThis.fetch } = {}): Promise<{ alice: TestClient; bob: TestClient; bobName: string }> {
  const n = nextUser++;
  const bob = track(await connectTestClient(servers.srv.url, `bob${n}`));
  const alice = track(await connectTestClient(servers.srv.url, `alice${n}`, options));
  return { alice, bob, bobName: `bob${n}` };
}

function folder(): DownloadFolder {
  return new DownloadFolder(mkdtempSync(join(tmpdir(), 'e2ee-chat-downloads-')));
}

function bytesSource(bytes: Uint8Array, name: string): AttachmentSource {
  return {
    size: bytes.length,
    name,
    async *open() {
      for (let i = 0; i < bytes.length; i += 100_000) yield bytes.subarray(i, i + 100_000);
    },
  };
}

const pattern = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

describe('files through the client library', () => {
  it('a file arrives as a message whose attachment downloads intact, under the sender\'s name, into the chosen folder', async () => {
    const { alice, bob, bobName } = await pair();
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-src-'));
    const path = join(dir, 'report.pdf');
    const content = pattern(300_000);
    writeFileSync(path, content);
    const sent = await alice.client.sendFile(bobName, await fileSource(path), { caption: 'the report' });
    expect(sent).toMatchObject({ to: bobName, status: 'sent', attachment: { name: 'report.pdf', size: 300_000 } });
    const [message] = await bob.waitFor(1);
    expect(message).toMatchObject({ id: sent.id, body: 'the report', attachment: { name: 'report.pdf', size: 300_000, id: sent.attachment.id } });
    expect((await bob.messages.get(sent.id, 'in'))?.attachment).toEqual(message!.attachment);
    const downloads = folder();
    const progress: number[] = [];
    const saved = await bob.client.downloadAttachment(message!.attachment!, () => downloads.open(message!.attachment!.name), { onProgress: (done) => progress.push(done) });
    expect(saved).toBe(join(downloads.dir, 'report.pdf'));
    expect(readFileSync(saved)).toEqual(Buffer.from(content));
    expect(progress.at(-1)).toBe(300_000);
    expect(readdirSync(downloads.dir)).toEqual(['report.pdf']);
  });

  it('without a caption the body names the file, for clients that do not know attachments', async () => {
    const { alice, bob, bobName } = await pair();
    await alice.client.sendFile(bobName, bytesSource(pattern(1234), 'a.bin'));
    const [message] = await bob.waitFor(1);
    expect(message!.body).toBe('[file a.bin, 1.2 KiB]');
  });

  it('resumes an upload whose chunk broke off mid-body from the bytes the server kept, and the file arrives intact', async () => {
    let puts = 0;
    let resumedFrom: string | undefined;
    // The second PUT's body stops after 1,000 bytes and the request fails, as a dropped connection would.
    const flaky: typeof globalThis.fetch = async (input, init) => {
      if (init?.method === 'PUT' && ++puts === 2) {
        const body = init.body as Uint8Array;
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(body.slice(0, 1000));
          },
          // The 1,000 bytes reach the server first; then the connection fails.
          async pull(controller) {
            await new Promise((r) => setTimeout(r, 300));
            controller.error(new Error('cable pulled'));
          },
        });
        const headers = { ...(init.headers as Record<string, string>), 'content-length': String(body.length) };
        return globalThis.fetch(input, { ...init, headers, body: stream, duplex: 'half' } as RequestInit);
      }
      if (init?.method === 'HEAD') {
        const res = await globalThis.fetch(input, init);
        resumedFrom = res.headers.get('upload-offset') ?? undefined;
        return res;
      }
      return globalThis.fetch(input, init);
    };
    const { alice, bob, bobName } = await pair({ fetch: flaky });
    const content = pattern(3 * 1024 * 1024);
    const sent = await alice.client.sendFile(bobName, bytesSource(content, 'big.bin'));
    expect(puts).toBeGreaterThan(2);
    // The first chunk (1 MiB) and part of the second were kept: the upload went on from there, not from 0.
    expect(Number(resumedFrom)).toBeGreaterThan(1024 * 1024);
    const [message] = await bob.waitFor(1);
    const downloads = folder();
    const saved = await bob.client.downloadAttachment(message!.attachment!, () => downloads.open('big.bin'));
    expect(readFileSync(saved).equals(Buffer.from(content))).toBe(true);
    expect(sent.attachment.size).toBe(content.length);
  });

  it('an upload whose last answer is lost finds the blob complete on the server and sends the message', async () => {
    let lost = false;
    // The last chunk reaches the server, but its answer never comes back.
    const forgetful: typeof globalThis.fetch = async (input, init) => {
      const res = await globalThis.fetch(input, init);
      const range = new Headers(init?.headers).get('content-range') ?? '';
      const m = /^bytes \d+-(\d+)\/(\d+)$/.exec(range);
      if (init?.method === 'PUT' && m && Number(m[1]) + 1 === Number(m[2]) && !lost) {
        lost = true;
        throw new TypeError('fetch failed');
      }
      return res;
    };
    const { alice, bob, bobName } = await pair({ fetch: forgetful });
    const content = pattern(200_000);
    await alice.client.sendFile(bobName, bytesSource(content, 'last.bin'));
    expect(lost).toBe(true);
    const [message] = await bob.waitFor(1);
    const downloads = folder();
    expect(readFileSync(await bob.client.downloadAttachment(message!.attachment!, () => downloads.open('last.bin')))).toEqual(Buffer.from(content));
  });

  it('refuses a blob changed on the server\'s disk, and leaves nothing in the download folder', async () => {
    const { alice, bob, bobName } = await pair();
    const sent = await alice.client.sendFile(bobName, bytesSource(pattern(5000), 'x.bin'));
    const blobFile = join(servers.srv.dataDir, 'blobs', `${sent.attachment.id}.blob`);
    const blob = readFileSync(blobFile);
    blob[100]! ^= 0x01;
    writeFileSync(blobFile, blob);
    const [message] = await bob.waitFor(1);
    const downloads = folder();
    await expect(bob.client.downloadAttachment(message!.attachment!, () => downloads.open('x.bin'))).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(readdirSync(downloads.dir)).toEqual([]);
  });

  it('refuses a server that serves more than the blob (it is cut off, nothing kept) and reports a blob the server no longer has', async () => {
    const { alice, bob, bobName } = await pair();
    await alice.client.sendFile(bobName, bytesSource(pattern(700), 'y.bin'));
    const [message] = await bob.waitFor(1);
    const attachment = message!.attachment!;
    let served = 0;
    const endless: typeof globalThis.fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            served += 4096;
            controller.enqueue(new Uint8Array(4096));
          },
        }),
      );
    const downloads = folder();
    const { downloadAttachment } = await import('../../src/client/attachments.js');
    await expect(downloadAttachment(attachment, () => downloads.open('y.bin'), { serverUrl: servers.srv.url, http: fetchBlobHttp(endless) })).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(served).toBeLessThan(64 * 1024);
    expect(readdirSync(downloads.dir)).toEqual([]);
    // The real one, fetched once (one download declared), is then gone (once the server counted it).
    await bob.client.downloadAttachment(attachment, () => downloads.open('y.bin'));
    await waitUntil(() => (existsSync(join(servers.srv.dataDir, 'blobs', `${attachment.id}.json`)) ? undefined : true), 2000, 'the fetch counted');
    await expect(bob.client.downloadAttachment(attachment, () => downloads.open('y.bin'))).rejects.toMatchObject({ code: 'blob_not_found' });
  });

  it('a file over the server\'s limit is refused before any blob is created or byte uploaded', async () => {
    const { alice, bobName } = await pair();
    const limit = alice.client.maxAttachmentBytes;
    expect(limit).toBe(100 * 1024 * 1024);
    const huge: AttachmentSource = {
      size: limit + 1,
      name: 'huge.bin',
      open: () => {
        throw new Error('must not be read');
      },
    };
    const before = servers.srv.frames.filter((f) => f.event === 'blob.create').length;
    const refused = await alice.client.sendFile(bobName, huge).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ChatError);
    expect((refused as ChatError).code).toBe('attachment_too_large');
    expect(servers.srv.frames.filter((f) => f.event === 'blob.create').length).toBe(before);
    expect(attachmentBlobLength(limit + 1)).toBe(attachmentBlobLength(limit)); // why the client must check the file size itself
  });

  it('a second file of the same name is saved beside the first as "name (1).ext", never over it', async () => {
    const { alice, bob, bobName } = await pair();
    const downloads = folder();
    writeFileSync(join(downloads.dir, 'same.txt'), 'already here');
    await alice.client.sendFile(bobName, bytesSource(new TextEncoder().encode('first'), 'same.txt'));
    await alice.client.sendFile(bobName, bytesSource(new TextEncoder().encode('second'), '../same.txt'));
    const [first, second] = await bob.waitFor(2);
    const a = await bob.client.downloadAttachment(first!.attachment!, () => downloads.open(first!.attachment!.name));
    const b = await bob.client.downloadAttachment(second!.attachment!, () => downloads.open(second!.attachment!.name));
    expect([a, b]).toEqual([join(downloads.dir, 'same (1).txt'), join(downloads.dir, 'same (2).txt')]);
    expect(readFileSync(join(downloads.dir, 'same.txt'), 'utf8')).toBe('already here');
    expect(readFileSync(b, 'utf8')).toBe('second');
  });
});

describe('files against a lying server', () => {
  const lying = useHostileServer();

  it('a malformed blob.create answer fails the send before a byte is uploaded or a message sealed', async () => {
    const bob = lying.track(await connectTestClient(lying.srv.url, 'bobh'));
    const alice = lying.track(await connectTestClient(lying.hostile.url, 'aliceh'));
    const undo = lying.hostile.onAnswer('blob.create', (real) => ({ ...real, downloadToken: 'not a token' }));
    const refused = await alice.client.sendFile('bobh', bytesSource(pattern(100), 'x.bin')).catch((e: unknown) => e);
    undo();
    expect(refused).toMatchObject({ code: 'bad_response' });
    expect(await alice.messages.outboxEntries()).toEqual([]);
    expect(lying.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send')).toEqual([]);
    expect(bob.received).toEqual([]);
  });

  it('a server that will not take the blob\'s bytes gets no message naming it', async () => {
    lying.track(await connectTestClient(lying.srv.url, 'bobh2'));
    const alice = lying.track(await connectTestClient(lying.hostile.url, 'aliceh2'));
    const undo = lying.hostile.onHttp((req, res) => {
      if (req.method !== 'PUT') return false;
      res.writeHead(404, { 'content-type': 'application/json', connection: 'close' }).end('{"error":"not_found"}');
      return true;
    });
    const refused = await alice.client.sendFile('bobh2', bytesSource(pattern(100), 'x.bin')).catch((e: unknown) => e);
    undo();
    expect(refused).toMatchObject({ code: 'blob_not_found' });
    expect(await alice.messages.outboxEntries()).toEqual([]);
    expect(lying.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === 'aliceh2')).toEqual([]);
  });

  it('a blob the server swaps for another (a valid blob of another file) is refused by its digest, and nothing is kept', async () => {
    const bob = lying.track(await connectTestClient(lying.hostile.url, 'bobh3'));
    const alice = lying.track(await connectTestClient(lying.srv.url, 'aliceh3'));
    const first = await alice.client.sendFile('bobh3', bytesSource(pattern(2000), 'one.bin'));
    await alice.client.sendFile('bobh3', bytesSource(pattern(2000).reverse(), 'two.bin'));
    const [one, two] = await bob.waitFor(2);
    // Every GET is answered with the first blob's bytes, whatever it asks for.
    const firstBlob = readFileSync(join(lying.srv.dataDir, 'blobs', `${first.attachment.id}.blob`));
    const undo = lying.hostile.onHttp((req, res) => {
      if (req.method !== 'GET') return false;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(firstBlob.length) }).end(firstBlob);
      return true;
    });
    const downloads = folder();
    await expect(bob.client.downloadAttachment(two!.attachment!, () => downloads.open('two.bin'))).rejects.toBeInstanceOf(DecryptionFailedError);
    expect(await bob.client.downloadAttachment(one!.attachment!, () => downloads.open('one.bin'))).toBe(join(downloads.dir, 'one.bin'));
    undo();
    expect(readdirSync(downloads.dir)).toEqual(['one.bin']);
    // Through the relay, the real blob opens.
    expect(readFileSync(await bob.client.downloadAttachment(two!.attachment!, () => downloads.open('two.bin')))).toEqual(Buffer.from(pattern(2000).reverse()));
  });
});
