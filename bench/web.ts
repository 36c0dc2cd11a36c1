/**
 * The web app (issue 12's benchmark), each figure beside a baseline measured in the same run:
 *  - what a first visit transfers (the page and the assets it loads, gzipped as the relay serves them)
 *    against the client library bundled alone by the same Vite settings: the app's own cost;
 *  - send → render latency between two browser tabs (Debian's Chromium, two profiles) against
 *    CLI-to-CLI latency (two `e2ee-chat chat` processes on the same server): typed on one side, until
 *    the other side shows it;
 *  - a returning visit: from navigation to the conversation list, unlocking an account that stores 1,000
 *    messages, against the same for an account that stores one (the unlock's scrypt is in both).
 * Needs `npm run build` (dist/web, dist/cli) and /usr/bin/chromium (Debian package chromium); without
 * Chromium the latency figures are left out with a notice, the size figures still run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { ChatClient, MemoryMessageStore, MemoryPeerKeyStore, MemoryRatchetStore, generateUserKeyPairs } from '../src/client/index.js';
import { installNodeCrypto } from '../src/crypto/node/node-crypto.js';
import { ratioOf, type Figure } from './lib/report.js';
import { startServerProcess, type ServerProcess } from './lib/server-process.js';

type Mode = 'full' | 'quick' | 'smoke';

const ROOT = resolve(import.meta.dirname, '..');
const WEB = join(ROOT, 'dist', 'web');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const CHROMIUM = process.env.E2EE_CHAT_CHROMIUM ?? '/usr/bin/chromium';
/** As the relay compresses (src/server/web/web-files.ts). */
const gzipLength = (bytes: Uint8Array) => gzipSync(bytes, { level: 9 }).length;

/** The page and every script, style and preload it names, gzipped: a first visit's transfer. */
function appTransfer(): number {
  const html = readFileSync(join(WEB, 'index.html'));
  const assets = [...html.toString('utf8').matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
  return gzipLength(html) + assets.reduce((sum, path) => sum + gzipLength(readFileSync(join(WEB, path))), 0);
}

/** src/client/index.ts alone, bundled and minified as the app is (web/vite.config.ts's target). */
async function libraryTransfer(): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), 'e2ee-chat-lib-bundle-'));
  try {
    await build({
      configFile: false,
      logLevel: 'silent',
      build: {
        outDir: out,
        target: 'es2022',
        minify: 'esbuild',
        lib: { entry: join(ROOT, 'src', 'client', 'index.ts'), formats: ['es'], fileName: 'client' },
        // A library build would leave dependencies to the importer; the app bundles them, so this does too.
        rollupOptions: { external: [] },
      },
    });
    return gzipLength(readFileSync(join(out, 'client.js')));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Two chat processes; resolves with per-message latency (ms) from the write to A's stdin to B's stdout line. */
async function cliLatency(server: ServerProcess, count: number): Promise<number[]> {
  const home = mkdtempSync(join(tmpdir(), 'e2ee-chat-bench-home-'));
  const env = { PATH: process.env.PATH ?? '', E2EE_CHAT_HOME: home, E2EE_CHAT_SERVER: server.url };
  const run = (args: string[]) =>
    new Promise<void>((res, rej) => {
      const p = spawn(process.execPath, [CLI, ...args], { env, stdio: 'ignore' });
      p.once('exit', (code) => (code === 0 ? res() : rej(new Error(`e2ee-chat ${args.join(' ')} exited ${code}`))));
    });
  const chats: ChildProcess[] = [];
  try {
    await run(['receive', '--user', 'cli-a', '--once']);
    await run(['receive', '--user', 'cli-b', '--once']);
    const open = (user: string, to: string) => {
      const child = spawn(process.execPath, [CLI, 'chat', '--user', user, '--to', to], { env, stdio: ['pipe', 'pipe', 'ignore'] });
      chats.push(child);
      child.stdout!.setEncoding('utf8');
      return child;
    };
    const a = open('cli-a', 'cli-b');
    const b = open('cli-b', 'cli-a');
    const lines = (child: ChildProcess, onLine: (line: string) => void) => {
      let buffer = '';
      child.stdout!.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n')) >= 0) {
          onLine(buffer.slice(0, at));
          buffer = buffer.slice(at + 1);
        }
      });
    };
    const waiters = new Map<string, (t: number) => void>();
    lines(b, (line) => {
      for (const [text, done] of waiters) if (line.includes(text)) (waiters.delete(text), done(performance.now()));
    });
    const ready = (child: ChildProcess) => new Promise<void>((res) => lines(child, (line) => line.startsWith('Talking to') && res()));
    await Promise.all([ready(a), ready(b)]);
    const out: number[] = [];
    // The first message sets up the session; it is sent, not counted.
    for (let i = -1; i < count; i++) {
      const text = `cli latency ${i}`;
      const shown = new Promise<number>((res) => waiters.set(text, res));
      const t0 = performance.now();
      a.stdin!.write(`${text}\n`);
      const t1 = await shown;
      if (i >= 0) out.push(t1 - t0);
    }
    return out;
  } finally {
    for (const c of chats) c.kill();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Two browser profiles on the app; per-message latency (ms) from Enter in A until B's log shows it. */
async function browserLatency(server: ServerProcess, count: number): Promise<number[]> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const person = (name: string) => browserPerson(browser, server.url, name);
    const a = await person('web-a');
    const b = await person('web-b');
    const open = async (page: Page, peer: string) => {
      await page.getByRole('textbox', { name: 'Start a conversation with' }).fill(peer);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: peer }).waitFor({ timeout: 60_000 });
    };
    await open(a, 'web-b');
    await open(b, 'web-a');
    // B reports each new message item to Node the moment it is in the document.
    const shownAt = new Map<string, (t: number) => void>();
    await b.exposeFunction('benchShown', (text: string) => {
      for (const [wanted, done] of shownAt) if (text.includes(wanted)) (shownAt.delete(wanted), done(performance.now()));
    });
    await b.evaluate(() => {
      const report = (window as unknown as { benchShown: (t: string) => void }).benchShown;
      new MutationObserver((records) => {
        // The first item arrives inside a new list element, later ones on their own.
        for (const r of records) {
          for (const n of Array.from(r.addedNodes)) {
            if (!(n instanceof HTMLElement)) continue;
            for (const item of n.matches('li.message') ? [n] : Array.from(n.querySelectorAll('li.message'))) report(item.textContent ?? '');
          }
        }
      }).observe(document.body, { childList: true, subtree: true });
    });
    const box = a.getByRole('textbox', { name: 'Message' });
    const out: number[] = [];
    for (let i = -1; i < count; i++) {
      const text = `web latency ${i}`;
      await box.fill(text);
      const shown = new Promise<number>((res) => shownAt.set(text, res));
      const t0 = performance.now();
      await box.press('Enter');
      const t1 = await shown;
      if (i >= 0) out.push(t1 - t0);
    }
    return out;
  } finally {
    await browser.close();
  }
}

const PASSPHRASE = 'bench passphrase';

/** A fresh browser profile with a new account `name` on the app; its page. */
async function browserPerson(browser: import('playwright-core').Browser, url: string, name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Username' }).fill(name);
  await page.getByRole('textbox', { name: 'Passphrase' }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${name}`).waitFor({ timeout: 60_000 });
  return page;
}

/**
 * Milliseconds from a reload of `page` (a returning visit) to its conversation list showing `peer`,
 * unlocking with the keyboard as a person would; the median of `rounds`.
 */
async function returningVisit(page: Page, peer: string, rounds: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await page.reload();
    const box = page.getByRole('textbox', { name: 'Passphrase' });
    await box.fill(PASSPHRASE);
    await box.press('Enter');
    await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: peer, exact: true }).waitFor({ timeout: 120_000 });
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** A library client (Node) that sends `count` messages to `to` and waits until the server took them all. */
async function sendMany(url: string, from: string, to: string, count: number): Promise<void> {
  await installNodeCrypto();
  const client = await ChatClient.connect({
    url,
    identity: { username: from, keys: await generateUserKeyPairs() },
    peers: new MemoryPeerKeyStore(),
    messages: new MemoryMessageStore(),
    ratchet: new MemoryRatchetStore(),
    socketOptions: { transports: ['websocket'] },
  });
  try {
    for (let i = 0; i < count; i++) await client.send(to, `stored message ${i} of ${count}, a line of ordinary length`);
  } finally {
    await client.close();
  }
}

/** Navigation → conversation list for an account storing `stored` messages vs one storing 1. */
async function storedHistory(browser: import('playwright-core').Browser, url: string, stored: number, rounds: number): Promise<{ many: number; one: number }> {
  const many = await browserPerson(browser, url, 'hist-many');
  const one = await browserPerson(browser, url, 'hist-one');
  await sendMany(url, 'hist-peer', 'hist-many', stored);
  await sendMany(url, 'hist-peer2', 'hist-one', 1);
  // Stored once the list counts them all as unread (the page records each as it arrives).
  const unread = (page: Page, peer: string, n: number) =>
    page.getByRole('navigation', { name: 'Conversations' }).getByText(`${n} unread`, { exact: true }).waitFor({ timeout: 600_000 }).then(() => peer);
  await Promise.all([unread(many, 'hist-peer', stored), unread(one, 'hist-peer2', 1)]);
  return { many: await returningVisit(many, 'hist-peer', rounds), one: await returningVisit(one, 'hist-peer2', rounds) };
}

export async function webBench(mode: Mode): Promise<Figure[]> {
  if (!existsSync(join(WEB, 'index.html'))) throw new Error('dist/web is missing: run npm run build');
  const figures: Figure[] = [];
  const app = appTransfer();
  process.stderr.write('bundling the library alone… ');
  const library = await libraryTransfer();
  figures.push({
    section: 'web',
    name: 'first visit transfer, gzip (page, scripts, styles)',
    value: Math.round(app / 1024),
    unit: 'KiB',
    baseline: { name: 'the client library alone, bundled and minified the same way', value: Math.round(library / 1024) },
    ratio: ratioOf(app, library, false),
  });
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`\n!!! web: ${CHROMIUM} is missing (Debian package chromium): the latency figures are left out\n`);
    return figures;
  }
  const count = { full: 50, quick: 20, smoke: 2 }[mode];
  const server = await startServerProcess();
  try {
    process.stderr.write('two chat processes… ');
    const cli = await cliLatency(server, count);
    process.stderr.write('two browser tabs… ');
    const web = await browserLatency(server, count);
    const stored = { full: 1000, quick: 1000, smoke: 20 }[mode];
    process.stderr.write(`a returning visit with ${stored} stored messages… `);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    let visit: { many: number; one: number };
    try {
      visit = await storedHistory(browser, server.url, stored, { full: 5, quick: 3, smoke: 1 }[mode]);
    } finally {
      await browser.close();
    }
    figures.push({
      section: 'web',
      name: `send → shown between two browser tabs (median of ${count})`,
      value: median(web),
      unit: 'ms',
      baseline: { name: 'two e2ee-chat chat processes, same server, same run', value: median(cli) },
      ratio: ratioOf(median(web), median(cli), false),
    });
    figures.push({
      section: 'web',
      name: `returning visit: reload, unlock, conversation list, with ${stored} stored messages (median)`,
      value: visit.many,
      unit: 'ms',
      baseline: { name: 'the same for an account storing 1 message, same run', value: visit.one },
      ratio: ratioOf(visit.many, visit.one, false),
    });
  } finally {
    await server.stop();
  }
  return figures;
}
