/**
 * What a page did that a strict CSP and a same-origin app must never do, collected so tests can assert on
 * it: every request (and WebSocket) with its URL, console errors and warnings, uncaught errors, and
 * `securitypolicyviolation` events. The violations are reported through a binding installed before any
 * of the page's scripts run (Playwright's init scripts are not subject to the page's CSP).
 */
import type { BrowserContext, Page } from 'playwright-core';

export interface PageActivity {
  /** URLs of every HTTP request and WebSocket the page opened, in order. */
  requests: string[];
  /** `type: text` of console messages of type error or warning. */
  console: string[];
  pageErrors: string[];
  violations: Array<{ directive: string; blockedURI: string; sample: string }>;
}

const REPORT_BINDING = 'e2eeChatTestReportViolation';

/** Starts collecting for every page of `context`; call before its first page opens. */
export async function watchContext(context: BrowserContext): Promise<PageActivity> {
  const activity: PageActivity = { requests: [], console: [], pageErrors: [], violations: [] };
  await context.exposeBinding(REPORT_BINDING, (_source, v: PageActivity['violations'][number]) => {
    activity.violations.push(v);
  });
  await context.addInitScript((binding: string) => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = (window as unknown as Record<string, (v: unknown) => void>)[binding];
      report?.({ directive: e.effectiveDirective, blockedURI: e.blockedURI, sample: e.sample });
    });
  }, REPORT_BINDING);
  context.on('page', (page) => watchPage(page, activity));
  return activity;
}

function watchPage(page: Page, activity: PageActivity): void {
  page.on('request', (r) => activity.requests.push(r.url()));
  page.on('websocket', (ws) => activity.requests.push(ws.url()));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') activity.console.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => activity.pageErrors.push(err.message));
}
