/**
 * End to end, real processes: files (issue 11, item 3; docs/PROTOCOL.md §20). `send --file` and
 * `/file` in `chat` upload a file encrypted with a key of its own; `receive` and `chat` download it into
 * the download folder and report where it went. Files of 0 bytes, 1 byte and 10 MiB arrive intact; one
 * over the server's limit is refused before anything is uploaded; a blob changed on the server is refused
 * and leaves nothing in the folder; the server's data never holds the file's bytes or name; a sender
 * killed mid-upload leaves a blob the server drops, and sending again works.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/test-clients.js';
import { Processes, assertBuilt, freePort } from './processes.js';
import { World } from './world.js';

/**
 * One server and one pair of users for the whole file (making users is most of an e2e test's time), so
 * these processes live until the end: each test leaves no blob behind (its files are received).
 */
const procs = new Processes();
/** The server's attachment limit: the 10 MiB file is exactly at it, one byte more is over. */
const LIMIT = 10 * 1024 * 1024;
let w: World;

beforeAll(async () => {
  assertBuilt();
  w = await World.create(procs, 'files');
  // Abandoned uploads are dropped after 2 s without a byte (the interrupted-upload test waits for it).
  await w.startServer({ env: { E2EE_CHAT_MAX_ATTACHMENT_BYTES: String(LIMIT), E2EE_CHAT_BLOB_UPLOAD_IDLE_MS: '2000', E2EE_CHAT_SWEEP_INTERVAL_MS: '200' } });
  await w.createUser('bob');
  await w.createUser('alice');
}, 60_000);

afterAll(async () => {
  await procs.cleanup();
  procs.removeDirs();
});

type Line = Record<string, unknown> & { type: string };

function ndjson(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Deterministic bytes that are not all alike (so a wrong offset shows): xorshift32 from `seed`. */
function content(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const blobsDir = () => join(w.data, 'blobs');
const blobFiles = () => filesUnder(blobsDir()).filter((p) => p.endsWith('.blob'));

/** The blob an upload just made: the one not in `before`. */
function newBlob(before: readonly string[]): string {
  const fresh = blobFiles().filter((p) => !before.includes(p));
  expect(fresh).toHaveLength(1);
  return fresh[0]!;
}

describe('files from the command line', () => {
  it('files of 0 bytes, 1 byte and 10 MiB (the limit) round trip intact: send --file, receive --download-dir, lines and JSON', async () => {
    const src = join(w.dir, 'src');
    mkdirSync(src);
    const files = [
      { name: 'empty.dat', bytes: content(0, 1) },
      { name: 'one.dat', bytes: content(1, 2) },
      { name: 'ten.bin', bytes: content(10 * 1024 * 1024, 3) },
    ];
    for (const f of files) writeFileSync(join(src, f.name), f.bytes);

    const human = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(src, 'empty.dat'), 'an empty one']);
    expect(human.code, human.proc.describe()).toBe(0);
    expect(human.stderr).toMatch(/^uploaded empty\.dat \(0 B\)$/m);
    expect(human.stderr).toMatch(/^queued for bob .*, id [A-Za-z0-9_-]{22}$/m);
    const sentIds: string[] = [];
    for (const f of files.slice(1)) {
      const sent = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(src, f.name), '--json'], { timeoutMs: 60_000 });
      expect(sent.code, sent.proc.describe()).toBe(0);
      const [file, queued] = ndjson(sent.stdout);
      expect(file).toEqual({ type: 'file', direction: 'out', id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), from: 'alice', to: 'bob', name: f.name, size: f.bytes.length, contentType: null, path: join(src, f.name), error: null });
      expect(queued).toEqual({ type: 'sent', id: file!.id, to: 'bob', status: 'queued' });
      sentIds.push(file!.id as string);
    }

    const downloads = join(w.dir, 'got');
    const received = await w.cli(['receive', '--user', 'bob', '--download-dir', downloads, '--timeout', '2'], { timeoutMs: 60_000 });
    expect(received.code, received.proc.describe()).toBe(0);
    // The caption shows as a message; a file without one shows only its file line.
    expect(received.stdout.split('\n').filter((l) => l !== '')).toEqual([
      '[alice] an empty one',
      expect.stringMatching(new RegExp(`^\\[\\d{2}:\\d{2}\\] <alice> sent file empty\\.dat \\(0 B\\) → ${join(downloads, 'empty.dat').replace(/[.]/g, '\\.')}$`)),
      expect.stringMatching(/^\[\d{2}:\d{2}\] <alice> sent file one\.dat \(1 B\) → .*\/got\/one\.dat$/),
      expect.stringMatching(/^\[\d{2}:\d{2}\] <alice> sent file ten\.bin \(10 MiB\) → .*\/got\/ten\.bin$/),
    ]);
    for (const f of files) expect(sha(readFileSync(join(downloads, f.name))), f.name).toBe(sha(f.bytes));
    expect(readdirSync(downloads).sort()).toEqual(['empty.dat', 'one.dat', 'ten.bin']);
    expect(statSync(join(downloads, 'ten.bin')).mode & 0o777).toBe(0o600);
    // Every blob was fetched by its one recipient device: the server keeps none.
    await waitUntil(() => (filesUnder(blobsDir()).length === 0 ? true : undefined), 5000, 'the blobs deleted');

    // The same files again, to a script: message lines then file lines, field by field.
    for (const f of files.slice(0, 2)) expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(src, f.name)])).code).toBe(0);
    const json = await w.cli(['receive', '--user', 'bob', '--json', '--timeout', '2']);
    const lines = ndjson(json.stdout);
    expect(lines.map((l) => l.type)).toEqual(['message', 'file', 'message', 'file']);
    expect(lines[0]).toMatchObject({ type: 'message', from: 'alice', to: 'bob', body: '[file empty.dat, 0 B]' });
    const defaultDir = join(w.home, 'bob', 'downloads');
    expect(lines[1]).toEqual({ type: 'file', direction: 'in', id: lines[0]!.id, from: 'alice', to: 'bob', name: 'empty.dat', size: 0, contentType: null, path: join(defaultDir, 'empty.dat'), error: null });
    expect(lines[3]).toMatchObject({ type: 'file', name: 'one.dat', size: 1, path: join(defaultDir, 'one.dat'), error: null });
    expect(readFileSync(join(defaultDir, 'one.dat'))).toEqual(files[1]!.bytes);
  }, 90_000);

  it('a file one byte over the server\'s limit is refused before anything is uploaded', async () => {
    const before = filesUnder(blobsDir());
    writeFileSync(join(w.dir, 'over.bin'), content(LIMIT + 1, 4));
    const over = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(w.dir, 'over.bin')]);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/^error \[attachment_too_large\]: .*over\.bin is 10485761 bytes; the server takes files of at most 10485760 bytes\. Nothing was sent$/m);
    const overJson = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(w.dir, 'over.bin'), '--json']);
    expect(ndjson(overJson.stdout)).toEqual([{ type: 'error', code: 'attachment_too_large', message: expect.any(String), line: null }]);
    // No blob was even declared: nothing in the blob folder that was not there before.
    expect(filesUnder(blobsDir()).filter((p) => !before.includes(p))).toEqual([]);
  });

  it('a blob changed on the server is refused: nothing lands in the download folder, and the user is told why', async () => {
    writeFileSync(join(w.dir, 'contract.pdf'), content(100_000, 6));
    const before = blobFiles();
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(w.dir, 'contract.pdf')])).code).toBe(0);
    const blob = newBlob(before);
    const bytes = readFileSync(blob);
    bytes[5000]! ^= 0x40;
    writeFileSync(blob, bytes);
    const downloads = join(w.dir, 'got-tampered');
    const received = await w.cli(['receive', '--user', 'bob', '--download-dir', downloads, '--timeout', '2', '--json']);
    expect(received.code, received.proc.describe()).toBe(0);
    const [message, file] = ndjson(received.stdout);
    expect(message).toMatchObject({ type: 'message', body: '[file contract.pdf, 98 KiB]' });
    expect(file).toMatchObject({ type: 'file', direction: 'in', name: 'contract.pdf', path: null, error: { code: 'decryption_failed', message: 'decryption failed' } });
    expect(filesUnder(downloads)).toEqual([]);
  });

  it('a changed blob, for people: an error line on stderr and nothing on stdout but the caption', async () => {
    writeFileSync(join(w.dir, 'a.txt'), 'attack at dawn');
    const before = blobFiles();
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(w.dir, 'a.txt'), 'plans'])).code).toBe(0);
    const blob = newBlob(before);
    const bytes = readFileSync(blob);
    bytes[bytes.length - 1]! ^= 0x01; // the MAC
    writeFileSync(blob, bytes);
    const downloads = join(w.dir, 'got-tampered-2');
    const received = await w.cli(['receive', '--user', 'bob', '--timeout', '2', '--download-dir', downloads]);
    expect(received.stdout).toBe('[alice] plans\n');
    expect(received.stderr).toMatch(/^! a file from alice could not be received: a\.txt \(14 B\): it failed its integrity check \(changed on the way, or not what the sender sent\); nothing was saved$/m);
    expect(filesUnder(downloads)).toEqual([]);
  });

  it('the server\'s data never holds the file\'s bytes or its name, only the blob', async () => {
    const marker = 'PLAINTEXT-MARKER-6f1c2a';
    const name = 'secret-name-8d3e.txt';
    writeFileSync(join(w.dir, name), marker.repeat(5000));
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', join(w.dir, name), 'caption-marker-41b7'])).code).toBe(0);
    const stored = filesUnder(w.data);
    expect(stored.some((p) => p.endsWith('.blob'))).toBe(true);
    for (const path of stored) {
      const bytes = readFileSync(path);
      for (const secret of [marker, name, 'caption-marker-41b7']) expect(bytes.includes(Buffer.from(secret)), `${secret} in ${path}`).toBe(false);
    }
    // And what bob gets is the file itself.
    const downloads = join(w.dir, 'got-plain');
    const received = await w.cli(['receive', '--user', 'bob', '--timeout', '2', '--download-dir', downloads]);
    expect(received.code).toBe(0);
    expect(readFileSync(join(downloads, name), 'utf8')).toBe(marker.repeat(5000));
  });

  it('a sender killed mid-upload leaves a blob the server drops once idle, and sending again delivers the file once, intact', async () => {
    const proxy = await StallingProxy.start(w.port, 3 * 1024 * 1024);
    const file = join(w.dir, 'video.bin');
    const bytes = content(10 * 1024 * 1024, 7);
    writeFileSync(file, bytes);

    const sender = procs.spawn('send (killed)', ['send', '--user', 'alice', '--to', 'bob', '--file', file], { cwd: w.cwd, env: w.env({ E2EE_CHAT_SERVER: proxy.url }) });
    await proxy.stalled;
    // Part of the blob reached the server before the link went dead.
    await waitUntil(() => blobFiles().find((p) => statSync(p).size > 0), 5000, 'part of the blob stored');
    sender.kill('SIGKILL');
    await sender.exited;
    proxy.close();
    // The abandoned upload is dropped once idle (an abandoned blob must not hold the sender's quota for the TTL).
    await waitUntil(() => (filesUnder(blobsDir()).length === 0 ? true : undefined), 15_000, 'the abandoned blob deleted');

    const again = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--file', file], { timeoutMs: 60_000 });
    expect(again.code, again.proc.describe()).toBe(0);
    const downloads = join(w.dir, 'got-video');
    const received = await w.cli(['receive', '--user', 'bob', '--timeout', '2', '--download-dir', downloads], { timeoutMs: 60_000 });
    expect(received.stdout.match(/sent file video\.bin/g)).toHaveLength(1);
    expect(readdirSync(downloads)).toEqual(['video.bin']);
    expect(sha(readFileSync(join(downloads, 'video.bin')))).toBe(sha(bytes));
  }, 90_000);

  it('chat: /file sends a file to the current peer, whose chat saves it and says where', async () => {
    const file = join(w.dir, 'notes.md');
    writeFileSync(file, '# notes\n');
    const downloads = join(w.dir, 'bob-files');
    const bob = procs.spawn('chat bob', ['chat', '--user', 'bob', '--to', 'alice', '--download-dir', downloads], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    const alice = procs.spawn('chat alice', ['chat', '--user', 'alice', '--to', 'bob'], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    await bob.waitFor('stdout', /^Talking to alice/m);
    await alice.waitFor('stdout', /^Talking to bob/m);
    alice.child.stdin!.write(`/file ${file}\n`);
    await alice.waitFor('stdout', /^\[\d{2}:\d{2}\] <alice> sent file notes\.md \(8 B\)$/m);
    await bob.waitFor('stdout', new RegExp(`^\\[\\d{2}:\\d{2}\\] <alice> sent file notes\\.md \\(8 B\\) → ${join(downloads, 'notes.md').replace(/[.]/g, '\\.')}$`, 'm'));
    await alice.waitFor('stdout', /^ {2}↳ delivered \(file notes\.md\)$/m);
    expect(readFileSync(join(downloads, 'notes.md'), 'utf8')).toBe('# notes\n');
    alice.child.stdin!.write('/file /no/such/file\n');
    await alice.waitFor('stdout', /^! file not sent: \[file_unreadable\] cannot read \/no\/such\/file: no such file$/m);
    alice.child.stdin!.write('/quit\n');
    bob.child.stdin!.write('/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
    expect((await bob.waitForExit()).code).toBe(0);
  }, 60_000);
});

/**
 * A TCP proxy in front of the server that forwards everything until `limit` bytes of blob uploads
 * (requests to /blobs/) have gone through, then stops forwarding client data on every connection (the
 * link goes dead, nothing is closed). Connections close when their client goes.
 */
class StallingProxy {
  private forwarded = 0;
  private isStalled = false;
  private readonly sockets = new Set<Socket>();
  readonly stalled: Promise<void>;
  private onStall!: () => void;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly limit: number,
  ) {
    this.stalled = new Promise((resolve) => (this.onStall = resolve));
  }

  static async start(upstreamPort: number, limit: number): Promise<StallingProxy> {
    const port = await freePort();
    const server = createServer();
    const proxy = new StallingProxy(server, `http://127.0.0.1:${port}`, limit);
    server.on('connection', (client) => proxy.relay(client, upstreamPort));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return proxy;
  }

  private relay(client: Socket, upstreamPort: number): void {
    const upstream = connect(upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    let blobRequest = false;
    client.on('data', (chunk: Buffer) => {
      if (this.isStalled) return;
      if (chunk.includes('PUT /blobs/')) blobRequest = true;
      if (blobRequest) {
        this.forwarded += chunk.length;
        if (this.forwarded >= this.limit) {
          this.isStalled = true;
          this.onStall();
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
