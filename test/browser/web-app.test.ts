/**
 * The web app (web/, served by the relay at `/`) in Debian's Chromium through playwright-core (issue 12,
 * first step): people create accounts in the browser and chat, with each other and with the CLI; the page
 * loads nothing from another origin, breaks no rule of its Content-Security-Policy, and comes with its
 * security headers. Needs /usr/bin/chromium (Debian package chromium) and `npm run build` (dist/web and
 * dist/cli); see chromium.ts for the skip and E2EE_CHAT_REQUIRE_BROWSER.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { World, useProcesses } from '../e2e/world.js';
import { browserGate, launchChromium } from './chromium.js';
import { watchContext, type PageActivity } from './page-watch.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('The web app in Chromium (test/browser/web-app.test.ts)');
const procs = useProcesses();

describe.skipIf(gate.skip)('the web app in Chromium', () => {
  let browser: Browser;
  let srv: TestServer;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    gate.assertRunnable();
    browser = await launchChromium();
    srv = await startTestServer();
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (srv) removeDir(srv.dataDir);
  });

  /** A person in a browser profile of their own (one context each: nothing shared between them). */
  async function person(name: string): Promise<{ user: WebUser; activity: PageActivity }> {
    const context = await browser.newContext();
    contexts.push(context);
    const activity = await watchContext(context);
    return { user: new WebUser(await context.newPage(), name), activity };
  }

  it('two people create accounts in their browsers and chat both ways: items show time, sender, text and delivery state', async () => {
    const { user: alice } = await person('alice');
    const { user: bob } = await person('bob');
    await alice.createAccount(srv.url);
    await bob.createAccount(srv.url);

    // A name nobody has is refused, in words, and no conversation opens.
    await alice.page.getByRole('textbox', { name: 'Start a conversation with' }).fill('nobody');
    await alice.page.keyboard.press('Enter');
    await alice.page.getByRole('alert').filter({ hasText: 'There is no user named nobody on this server.' }).waitFor({ timeout: UI_WAIT_MS });
    expect(await alice.conversation('nobody').count()).toBe(0);
    await alice.page.getByRole('textbox', { name: 'Start a conversation with' }).clear();

    await alice.startConversation('bob');
    await alice.send('hello bob');
    await alice.waitForMessage('alice', 'hello bob', 'delivered');

    // bob has not opened the conversation: alice is listed with one unread message.
    await bob.conversationEntry('alice').filter({ hasText: '1 unread' }).waitFor({ timeout: UI_WAIT_MS });
    await bob.openConversation('alice');
    await bob.waitForMessage('alice', 'hello bob');
    expect(await bob.messageItem('hello bob').textContent()).toMatch(/^\d{2}:\d{2} alice: hello bob$/);
    // bob was shown it: his read receipt reaches alice's screen.
    await alice.waitForMessage('alice', 'hello bob', 'read');

    // alice was online before bob came: the list says so.
    await bob.conversationEntry('alice').filter({ hasText: 'online' }).waitFor({ timeout: UI_WAIT_MS });

    // Shift-Enter starts a new line in the same message; Enter sends both lines as one.
    await bob.message.focus();
    await bob.page.keyboard.type('hi alice,');
    await bob.page.keyboard.press('Shift+Enter');
    await bob.page.keyboard.type('on two lines');
    await bob.page.keyboard.press('Enter');
    await alice.waitForMessage('bob', 'hi alice,\non two lines');
    expect(await alice.messageItem('on two lines').textContent()).toMatch(/^\d{2}:\d{2} bob: hi alice,\non two lines$/);
    await bob.waitForMessage('bob', 'hi alice,\non two lines', 'read');
    await bob.expectFocused(bob.message);
    expect(await bob.message.inputValue()).toBe('');
  });

  it('a browser user and a CLI user chat both ways', async () => {
    const w = await World.create(procs, 'browser-cli', { serverUrl: srv.url });
    await w.createUser('carol');
    const receiver = await w.startReceiver('carol');
    const { user: dave } = await person('dave');
    await dave.createAccount(srv.url);

    await dave.startConversation('carol');
    await dave.send('hello carol, from a browser');
    await receiver.waitFor('stdout', /^\[dave\] hello carol, from a browser$/m);
    // receive prints it, and so tells dave it was read.
    await dave.waitForMessage('dave', 'hello carol, from a browser', 'read');

    const sent = await w.send('carol', 'dave', 'hi dave, from a terminal');
    expect(sent.code, sent.proc.describe()).toBe(0);
    await dave.waitForMessage('carol', 'hi dave, from a terminal');
  });

  it('a browser linked to a CLI account (devices approve) receives what the account receives, and writes as the account', async () => {
    const w = await World.create(procs, 'browser-link', { serverUrl: srv.url });
    await w.createUser('frank');
    await w.createUser('gina');
    const { user: frankWeb } = await person('frank');
    const code = await frankWeb.requestLink(srv.url);
    expect(code).toMatch(/^\d{3}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const approve = await w.cli(['devices', 'approve', code, '--user', 'frank']);
    expect(approve.code, approve.proc.describe()).toBe(0);
    expect(approve.stdout).toContain('new device "web browser"');
    await frankWeb.waitSignedIn();

    const sent = await w.send('gina', 'frank', 'hello frank, wherever you are');
    expect(sent.code, sent.proc.describe()).toBe(0);
    await frankWeb.conversationEntry('gina').filter({ hasText: '1 unread' }).waitFor({ timeout: UI_WAIT_MS });
    await frankWeb.openConversation('gina');
    await frankWeb.waitForMessage('gina', 'hello frank, wherever you are');

    const receiver = await w.startReceiver('gina');
    await frankWeb.send('hi gina, from my browser');
    await receiver.waitFor('stdout', /^\[frank\] hi gina, from my browser$/m);
    await frankWeb.waitForMessage('frank', 'hi gina, from my browser', 'read');
  });

  it('a link cancelled in the browser ends there: the form comes back, saying so, with the cursor in Username', async () => {
    const w = await World.create(procs, 'browser-link-cancel', { serverUrl: srv.url });
    await w.createUser('hank');
    const { user: hankWeb } = await person('hank');
    await hankWeb.requestLink(srv.url);
    await hankWeb.page.getByRole('button', { name: 'Cancel' }).click();
    await hankWeb.page.getByRole('alert').filter({ hasText: 'the link was cancelled on this device' }).waitFor({ timeout: UI_WAIT_MS });
    await hankWeb.expectFocused(hankWeb.page.getByRole('textbox', { name: 'Username' }));
    // The account made for the link is gone with it: after a reload (the form shows once the browser's
    // accounts are read) there is nothing to unlock.
    await hankWeb.reload();
    await hankWeb.page.getByRole('textbox', { name: 'Username' }).waitFor({ timeout: UI_WAIT_MS });
    expect(await hankWeb.page.getByRole('button', { name: 'Unlock' }).count()).toBe(0);
  });

  it('loads nothing from another origin, breaks no CSP rule, logs no error; a style injected against the policy is refused and reported', async () => {
    const { user: erin, activity } = await person('erin');
    await erin.createAccount(srv.url);
    // Connected and logged in: the relay is reached over this origin's Socket.IO.
    await erin.page.getByRole('status').filter({ hasText: 'connected' }).waitFor({ timeout: UI_WAIT_MS });

    const origin = new URL(srv.url);
    const paths = activity.requests.map((u) => new URL(u)).map((u) => ({ u, sameOrigin: u.host === origin.host && ['http:', 'ws:'].includes(u.protocol) }));
    expect(paths.filter((p) => !p.sameOrigin).map((p) => p.u.href)).toEqual([]);
    // Not an empty "nothing": the page, its script, its stylesheet and the relay were all requested here.
    const seen = paths.map((p) => p.u.pathname);
    expect(seen).toContain('/');
    expect(seen.some((p) => /^\/assets\/[^/]+\.js$/.test(p))).toBe(true);
    expect(seen.some((p) => /^\/assets\/[^/]+\.css$/.test(p))).toBe(true);
    expect(seen).toContain('/socket.io/');
    expect(activity.violations).toEqual([]);
    expect(activity.console).toEqual([]);
    expect(activity.pageErrors).toEqual([]);

    // The collectors work, and the policy is enforced: an inline style is refused, and seen here.
    await erin.page.evaluate(() => {
      const style = document.createElement('style');
      style.textContent = 'body { color: red }';
      document.head.append(style);
    });
    await expect.poll(() => activity.violations.map((v) => v.directive), { timeout: UI_WAIT_MS }).toContain('style-src-elem');
  });

  it('the page and its files come with the security headers, the right types, and caching for hashed files only', async () => {
    const page = await fetch(`${srv.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const csp = page.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(page.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    const denied = (page.headers.get('permissions-policy') ?? '').split(', ');
    for (const feature of ['camera', 'microphone', 'geolocation', 'payment', 'usb']) expect(denied).toContain(`${feature}=()`);
    const html = await page.text();
    // No inline script or style in the page: every script and stylesheet is a file of this origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=/);
    const script = html.match(/<script[^>]+src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${srv.url}${script!}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  });
});
