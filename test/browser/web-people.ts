/**
 * People signed up in the web app, each in a browser profile of their own (a context: nothing shared
 * between them), for tests that need several: what each profile throws or logs as an error is kept.
 */
import type { Browser, BrowserContext } from 'playwright-core';
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
