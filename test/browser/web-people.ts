/**
 * People signed up in the web app, each in a browser profile of their own (a context: nothing shared
 * between them), for tests that need several: what each profile throws or logs as an error is kept.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { launchChromium, type BrowserGate } from './chromium.js';
import { WebUser } from './web-user.js';

export interface WebPerson {
  user: WebUser;
  context: BrowserContext;
  /** Errors thrown or logged (console error or warning) in any tab of this person's profile. */
  problems: string[];
}

export class WebPeople {
  private readonly contexts: BrowserContext[] = [];

  /** `url`: the server's, asked at each sign-up (a test may restart the server on the same port). */
  constructor(
    private readonly browser: Browser,
    private readonly url: () => string,
  ) {}

  async signUp(name: string): Promise<WebPerson> {
    const context = await this.browser.newContext();
    this.contexts.push(context);
    const problems: string[] = [];
    context.on('console', (m) => {
      // Chromium asks for /favicon.ico by itself; the app has none, and that 404 is logged as an error.
      if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico')) problems.push(`${m.type()}: ${m.text()}`);
    });
    context.on('weberror', (e) => problems.push(e.error().message));
    const user = new WebUser(await context.newPage(), name);
    await user.createAccount(this.url());
    return { user, context, problems };
  }

  /** Two people who have written to each other once each, so each has a ratchet session with the other. */
  async talking(a: string, b: string): Promise<[WebPerson, WebPerson]> {
    const [first, second] = [await this.signUp(a), await this.signUp(b)];
    await first.user.startConversation(b);
    await first.user.send(`hello ${b}`);
    await second.user.openConversation(a);
    await second.user.waitForMessage(a, `hello ${b}`);
    await second.user.send(`hello ${a}`);
    await first.user.waitForMessage(b, `hello ${a}`);
    await second.user.waitForMessage(b, `hello ${a}`, 'read');
    return [first, second];
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.contexts.splice(0).map((c) => c.close()));
  }
}

/** What useWebPeople hands a test file: valid from its beforeAll on. */
export interface WebPeopleFixture {
  readonly browser: Browser;
  readonly srv: TestServer;
  readonly people: WebPeople;
  /** Stops the server; `restart` brings it back on the same port with the same data. */
  stopServer(): Promise<{ restart(): Promise<void> }>;
}

/**
 * Chromium, a test server and WebPeople for one test file, with the hooks that start them before the
 * first test, close every person's profile after each test, and stop everything after the last (the
 * server's data folder deleted). Call where hooks may be registered, inside the gated describe.
 */
export function useWebPeople(gate: BrowserGate): WebPeopleFixture {
  let browser: Browser | undefined;
  let srv: TestServer | undefined;
  let people: WebPeople | undefined;
  beforeAll(async () => {
    gate.assertRunnable();
    browser = await launchChromium();
    srv = await startTestServer();
    people = new WebPeople(browser, () => srv!.url);
  });
  afterEach(async () => {
    await people?.closeAll();
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.stop();
    if (srv) removeDir(srv.dataDir);
  });
  return {
    get browser() {
      return browser!;
    },
    get srv() {
      return srv!;
    },
    get people() {
      return people!;
    },
    async stopServer() {
      const { port, dataDir } = srv!;
      await srv!.stop();
      return {
        restart: async () => {
          srv = await startTestServer({ port }, dataDir);
        },
      };
    },
  };
}
