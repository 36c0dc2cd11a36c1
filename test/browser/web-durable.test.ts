/**
 * The web app's state outlives the tab, in Debian's Chromium (issue 12): after a reload the account is
 * unlocked with its passphrase (a wrong one is refused), and the history and the ratchet sessions are
 * still there; messages written while the network is down or the server restarts wait in the outbox,
 * the screen says so, and they reach the peer exactly once when the connection is back; a second tab on
 * the same account is told it is open in another tab and may take it over, and the first tab stops.
 * Needs /usr/bin/chromium (Debian package chromium) and `npm run build`; see chromium.ts for the skip.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { browserGate, launchChromium } from './chromium.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('The web app across reloads, outages and tabs (test/browser/web-durable.test.ts)');

describe.skipIf(gate.skip)('the web app keeps its state', () => {
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

  /** A person in a browser profile of their own, signed up; `problems`: errors thrown or logged in any of its tabs. */
  async function person(name: string): Promise<{ user: WebUser; context: BrowserContext; problems: string[] }> {
    const context = await browser.newContext();
    contexts.push(context);
    const problems: string[] = [];
    context.on('console', (m) => {
      // Chromium asks for /favicon.ico by itself; the app has none, and that 404 is logged as an error.
      if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico')) problems.push(`${m.type()}: ${m.text()}`);
    });
    context.on('weberror', (e) => problems.push(e.error().message));
    const user = new WebUser(await context.newPage(), name);
    await user.createAccount(srv.url);
    return { user, context, problems };
  }

  /** Two people who have written to each other once each (so each has a ratchet session with the other). */
  async function talking(a: string, b: string): Promise<[WebUser, WebUser, string[]]> {
    const [{ user: first, problems }, { user: second }] = [await person(a), await person(b)];
    await first.startConversation(b);
    await first.send(`hello ${b}`);
    await second.openConversation(a);
    await second.waitForMessage(a, `hello ${b}`);
    await second.send(`hello ${a}`);
    await first.waitForMessage(b, `hello ${a}`);
    await second.waitForMessage(b, `hello ${a}`, 'read');
    return [first, second, problems];
  }

  it('after a reload, a wrong passphrase is refused and changes nothing; the right one shows the history, and the sessions go on both ways', async () => {
    const [alice, bob, aliceProblems] = await talking('alice', 'bob');
    expect(await alice.page.getByText('Nothing is stored').count()).toBe(0);

    await alice.reload();
    await alice.typeUnlock('not the passphrase');
    await alice.waitForAlert('Wrong passphrase');
    // Still the first screen, the account still offered, the cursor back in Passphrase for another try.
    await alice.expectFocused(alice.page.getByRole('textbox', { name: 'Passphrase' }));
    expect(await alice.page.getByText('Signed in as').count()).toBe(0);

    await alice.unlock();
    await alice.openConversation('bob');
    await alice.waitForMessage('alice', 'hello bob', 'read');
    await alice.waitForMessage('bob', 'hello alice');

    // The same sessions on both sides: new messages both ways are read, none is unreadable.
    await alice.send('after the reload, from alice');
    await bob.waitForMessage('alice', 'after the reload, from alice');
    await bob.send('and from bob');
    await alice.waitForMessage('bob', 'and from bob');
    await alice.waitForMessage('alice', 'after the reload, from alice', 'read');
    expect(await bob.messageItem('could not be read').count()).toBe(0);
    expect(await alice.messageItem('could not be read').count()).toBe(0);

    // A reload of bob's tab too: his history is his own, and still his after unlocking.
    await bob.reload();
    await bob.unlock();
    await bob.openConversation('alice');
    await bob.waitForMessage('alice', 'after the reload, from alice');
    await bob.waitForMessage('bob', 'and from bob', 'read');
    // Unlocking after a reload, wrong passphrase included, throws and logs nothing.
    expect(aliceProblems).toEqual([]);
  });

  it('offline, a message waits in the outbox (the screen says so); back online it reaches the peer exactly once', async () => {
    const [{ user: carol, context }, { user: dave }] = [await person('carol'), await person('dave')];
    await carol.startConversation('dave');
    await carol.send('before the outage');
    await dave.conversationEntry('carol').waitFor({ timeout: UI_WAIT_MS });
    await dave.openConversation('carol');
    await dave.waitForMessage('carol', 'before the outage');

    await context.setOffline(true);
    await carol.waitForStatus('connection lost, reconnecting');
    await carol.send('written offline');
    await carol.waitForMessage('carol', 'written offline', 'not sent yet');
    await carol.waitForStatus('1 message waiting to be sent');

    await context.setOffline(false);
    await carol.waitForStatus('connected');
    await dave.waitForMessage('carol', 'written offline');
    await carol.waitForMessage('carol', 'written offline', 'read');
    expect(await carol.page.getByRole('status').filter({ hasText: 'waiting to be sent' }).count()).toBe(0);
    // A barrier: a later message arrives after any copy of the first could have, and there is one copy.
    await carol.send('after the outage');
    await dave.waitForMessage('carol', 'after the outage');
    expect(await dave.messageItem('written offline').count()).toBe(1);
  });

  it('while the server restarts, a message waits in the outbox; once the server is back it is delivered exactly once, and the peer answers', async () => {
    const [erin, frank] = await talking('erin', 'frank');
    const { port, dataDir } = srv;
    await srv.stop();
    await erin.waitForStatus('connection lost, reconnecting');
    await erin.send('written while the server was down');
    await erin.waitForMessage('erin', 'written while the server was down', 'not sent yet');
    await erin.waitForStatus('1 message waiting to be sent');

    srv = await startTestServer({ port }, dataDir);
    await frank.waitForMessage('erin', 'written while the server was down');
    await erin.waitForMessage('erin', 'written while the server was down', 'read');
    await frank.send('the server is back');
    await erin.waitForMessage('frank', 'the server is back');
    expect(await frank.messageItem('written while the server was down').count()).toBe(1);
  });

  it('a second tab on the account is told it is open in another tab, and may use it here: the first tab stops and says so', async () => {
    const { user: gina, problems } = await person('gina');
    const second = await gina.newTab(srv.url);
    await second.typeUnlock('correct horse battery staple');
    await second.waitForAlert('gina is open in another tab');
    expect(await second.page.getByText('Signed in as').count()).toBe(0);
    // The first tab goes on meanwhile.
    await gina.waitForStatus('connected');

    await second.page.getByRole('button', { name: 'Use it here' }).click();
    await second.waitSignedIn();
    await gina.waitForAlert('gina is now open in another tab of this browser, so this tab stopped');
    await second.waitForStatus('connected');
    // The first tab's client stopped cleanly: nothing thrown, no error logged, in either tab.
    expect(problems).toEqual([]);
  });
});
