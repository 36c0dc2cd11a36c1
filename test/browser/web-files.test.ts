/**
 * Files in the web app (issue 12: "send text and files (with progress)"), in Debian's Chromium: a file
 * picked with "Attach a file" goes end to end to another browser, with a progress bar on each side, and
 * the bytes saved from "Save <name>" are the bytes picked; a browser and a CLI user exchange files both
 * ways; a blob changed on the server is refused loudly and nothing is offered; a file over the server's
 * limit is refused in words before anything is uploaded. No page breaks its Content-Security-Policy.
 * Needs /usr/bin/chromium and `npm run build` (see chromium.ts).
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { World, useProcesses } from '../e2e/world.js';
import { browserGate, launchChromium } from './chromium.js';
import { watchContext, type PageActivity } from './page-watch.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('Files in the web app (test/browser/web-files.test.ts)');
const procs = useProcesses();

/** The server's attachment limit here: small, so a file over it is cheap to make. */
const LIMIT = 1024 * 1024;

/** Deterministic bytes that are not all alike (a wrong offset or a dropped piece shows): xorshift32. */
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

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

interface ProgressSeen {
  label: string;
  value: number;
  max: number;
}

/**
 * Records every state of every progress bar the page shows from now on, by a MutationObserver in the
 * page: a small file's upload on this machine can begin and end between two polls of a locator.
 */
async function recordProgress(page: Page): Promise<() => Promise<ProgressSeen[]>> {
  await page.evaluate(() => {
    const seen: Array<{ label: string; value: number; max: number }> = [];
    (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
    const note = (node: Node) => {
      if (node instanceof HTMLProgressElement) seen.push({ label: node.getAttribute('aria-label') ?? '', value: node.value, max: node.max });
      if (node instanceof Element) node.querySelectorAll('progress').forEach(note);
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes') note(r.target);
        r.addedNodes.forEach(note);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['value', 'max'] });
  });
  return () => page.evaluate(() => (window as unknown as { progressSeen: ProgressSeen[] }).progressSeen);
}

describe.skipIf(gate.skip)('files in the web app', () => {
  let browser: Browser;
  let srv: TestServer;
  const contexts: BrowserContext[] = [];
  const activities: PageActivity[] = [];
  /** Console errors and warnings, but Chromium's own 404 for /favicon.ico (the app has none). */
  const consoleProblems: string[] = [];

  beforeAll(async () => {
    gate.assertRunnable();
    browser = await launchChromium();
    srv = await startTestServer({ maxAttachmentBytes: LIMIT });
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    // Whatever a test did, no page broke a rule of its policy or loaded anything from elsewhere.
    for (const activity of activities.splice(0)) {
      expect(activity.violations).toEqual([]);
      expect(activity.pageErrors).toEqual([]);
      for (const url of activity.requests) expect(url.startsWith(srv.url) || url.startsWith(srv.url.replace('http', 'ws')) || url.startsWith('blob:'), url).toBe(true);
    }
    expect(consoleProblems.splice(0)).toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (srv) removeDir(srv.dataDir);
  });

  /** A person with an account in a browser profile of their own, watched from before the first page. */
  async function person(name: string): Promise<WebUser> {
    const context = await browser.newContext();
    contexts.push(context);
    activities.push(await watchContext(context));
    context.on('console', (m) => {
      if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico')) consoleProblems.push(`${m.type()}: ${m.text()}`);
    });
    const user = new WebUser(await context.newPage(), name);
    await user.createAccount(srv.url);
    return user;
  }

  /** Two people who wrote to each other once, each with the other's conversation open. */
  async function talking(a: string, b: string): Promise<[WebUser, WebUser]> {
    const [first, second] = [await person(a), await person(b)];
    await first.startConversation(b);
    await first.send(`hello ${b}`);
    await second.openConversation(a);
    await second.waitForMessage(a, `hello ${b}`);
    return [first, second];
  }

  /** Picks `bytes` as `name` with "Attach a file". */
  async function attach(user: WebUser, name: string, bytes: Buffer): Promise<void> {
    await user.page.getByLabel('Attach a file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: bytes });
  }

  /** Presses "Download <name>" in the message item with `parts`, then "Save <name>"; returns the saved bytes. */
  async function downloadAndSave(user: WebUser, name: string, ...parts: string[]): Promise<{ bytes: Buffer; suggested: string }> {
    const item = user.messageItem(...parts);
    await item.getByRole('button', { name: `Download ${name}` }).click();
    const save = item.getByRole('link', { name: `Save ${name}` });
    await save.waitFor({ timeout: UI_WAIT_MS });
    // The focus moved from the button to the link: Enter saves.
    await user.expectFocused(save);
    const [download] = await Promise.all([user.page.waitForEvent('download', { timeout: UI_WAIT_MS }), user.page.keyboard.press('Enter')]);
    const path = await download.path();
    return { bytes: readFileSync(path), suggested: download.suggestedFilename() };
  }

  it('a file of a few hundred KB goes from one browser to another with progress bars, and the saved bytes are the ones picked', async () => {
    const [ann, ben] = await talking('ann', 'ben');
    const bytes = content(300_000, 1);
    const sending = await recordProgress(ann.page);

    // The keyboard reaches "Attach a file" from the Message box: Tab to Send, Tab again.
    await ann.message.focus();
    await ann.page.keyboard.type('the report, as promised');
    await ann.page.keyboard.press('Tab');
    await ann.page.keyboard.press('Tab');
    await ann.expectFocused(ann.page.getByLabel('Attach a file'));
    await attach(ann, 'report.pdf', bytes);
    // The Message box was the caption: it is sent with the file and emptied.
    expect(await ann.message.inputValue()).toBe('');

    await ann.waitForMessage('ann', 'the report, as promised', 'report.pdf (293 KiB)');
    await ben.waitForMessage('ann', 'the report, as promised', 'report.pdf (293 KiB)');
    const uploadStates = (await sending()).filter((p) => p.label === 'Sending report.pdf');
    expect(uploadStates.length).toBeGreaterThan(0);
    expect(uploadStates.at(-1)!.value).toBe(uploadStates.at(-1)!.max);
    // The upload ended: its bar is gone.
    await ann.page.getByRole('progressbar', { name: 'Sending report.pdf' }).waitFor({ state: 'detached', timeout: UI_WAIT_MS });
    // The sender's own message names the file but offers no download (the blob's fetches are the recipient's).
    expect(await ann.messageItem('report.pdf').getByRole('button').count()).toBe(0);

    expect(await ben.messageItem('report.pdf').textContent()).toMatch(/^\d{2}:\d{2} ann: the report, as promised report\.pdf \(293 KiB\) Download report\.pdf$/);
    const receiving = await recordProgress(ben.page);
    const saved = await downloadAndSave(ben, 'report.pdf', 'ann', 'report.pdf');
    expect(saved.suggested).toBe('report.pdf');
    expect(saved.bytes.equals(bytes)).toBe(true);
    const downloadStates = (await receiving()).filter((p) => p.label === 'Downloading report.pdf');
    expect(downloadStates.length).toBeGreaterThan(0);
    expect(downloadStates.every((p) => p.max === bytes.length)).toBe(true);

    // Without a caption, the message shows the file alone.
    await attach(ben, 'notes.txt', Buffer.from('short notes'));
    await ann.waitForMessage('ben', 'notes.txt (11 B)');
    expect(await ann.messageItem('notes.txt').textContent()).toMatch(/^\d{2}:\d{2} ben: notes\.txt \(11 B\) Download notes\.txt$/);
    const notes = await downloadAndSave(ann, 'notes.txt', 'ben', 'notes.txt');
    expect(notes.bytes.toString()).toBe('short notes');
  });

  it('a blob changed on the server fails its integrity check: an alert says so, and nothing is offered to save', async () => {
    const [eve, fay] = await talking('eve', 'fay');
    const blobs = () => filesUnder(join(srv.dataDir, 'blobs')).filter((p) => p.endsWith('.blob'));
    const before = blobs();
    await attach(eve, 'contract.pdf', content(200_000, 2));
    await fay.waitForMessage('eve', 'contract.pdf');
    const fresh = blobs().filter((p) => !before.includes(p));
    expect(fresh).toHaveLength(1);
    const blob = readFileSync(fresh[0]!);
    blob[5000]! ^= 0x40;
    writeFileSync(fresh[0]!, blob);

    const item = fay.messageItem('eve', 'contract.pdf');
    await item.getByRole('button', { name: 'Download contract.pdf' }).click();
    await item.getByRole('alert').filter({ hasText: 'contract.pdf (195 KiB) failed its integrity check (changed on the way, or not what the sender sent): nothing was saved.' }).waitFor({ timeout: UI_WAIT_MS });
    expect(await item.getByRole('link').count()).toBe(0);
  });

  it('a file over the server\'s limit is refused in words, and nothing is uploaded', async () => {
    const gil = await person('gil');
    await person('hal');
    await gil.startConversation('hal');
    const before = filesUnder(join(srv.dataDir, 'blobs'));
    await gil.message.fill('too big to go');
    await attach(gil, 'video.bin', content(LIMIT + LIMIT / 2, 3));
    await gil.waitForAlert('video.bin is 1.5 MiB; this server takes files of at most 1 MiB. Nothing was sent.');
    expect(filesUnder(join(srv.dataDir, 'blobs')).filter((p) => !before.includes(p))).toEqual([]);
    expect(await gil.messageItem('too big to go').count()).toBe(0);
  });

  it('a browser user and a CLI user exchange files both ways (send --file; receive downloads)', async () => {
    const w = await World.create(procs, 'browser-files', { serverUrl: srv.url });
    await w.createUser('carol');
    const downloads = join(w.dir, 'got');
    const receiver = await w.startReceiver('carol', { args: ['--download-dir', downloads] });
    const dave = await person('dave');
    await dave.startConversation('carol');

    const toCarol = content(400_000, 4);
    await dave.message.fill('from a browser');
    await attach(dave, 'photo.jpg', toCarol);
    await receiver.waitFor('stdout', /^\[dave\] from a browser$/m);
    const line = await receiver.waitFor('stdout', /^\[\d{2}:\d{2}\] <dave> sent file photo\.jpg \(391 KiB\) → (.+)$/m);
    expect(line[1]).toBe(join(downloads, 'photo.jpg'));
    expect(readFileSync(join(downloads, 'photo.jpg')).equals(toCarol)).toBe(true);
    await dave.waitForMessage('dave', 'from a browser', 'read');

    const toDave = content(250_000, 5);
    const path = join(w.dir, 'table.csv');
    writeFileSync(path, toDave);
    const sent = await w.send('carol', 'dave', 'from a terminal', { args: ['--file', path] });
    expect(sent.code, sent.proc.describe()).toBe(0);
    await dave.waitForMessage('carol', 'from a terminal', 'table.csv (244 KiB)');
    const saved = await downloadAndSave(dave, 'table.csv', 'carol', 'table.csv');
    expect(saved.suggested).toBe('table.csv');
    expect(saved.bytes.equals(toDave)).toBe(true);
  });
});
