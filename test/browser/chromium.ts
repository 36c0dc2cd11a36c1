/**
 * Debian's Chromium for the browser tests, driven by playwright-core (no browser is ever downloaded).
 *
 * A clone on a machine without it must still pass `npm test`, so there the suite is skipped with a loud
 * notice naming the Debian package; `.ci/run` installs it and sets E2EE_CHAT_REQUIRE_BROWSER=1, under
 * which a missing Chromium fails the suite instead.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from '../e2e/processes.js';

/** Debian's Chromium; E2EE_CHAT_CHROMIUM names another Chromium binary (a test of the skip, another distribution). */
export const CHROMIUM = process.env.E2EE_CHAT_CHROMIUM ?? '/usr/bin/chromium';
/** The variable that turns "Chromium missing, skip" into "Chromium missing, fail" (set by .ci/run). */
export const REQUIRE_BROWSER_VAR = 'E2EE_CHAT_REQUIRE_BROWSER';
export const WEB_BUILD = join(REPO_ROOT, 'dist/web/index.html');

export interface BrowserGate {
  /** True when the suite is to be skipped (Chromium missing and not required). */
  readonly skip: boolean;
  /** Throws the explanation when Chromium is missing and required, or the app is not built; call in beforeAll. */
  assertRunnable(): void;
}

export function browserGate(suite: string): BrowserGate {
  const missing = !existsSync(CHROMIUM);
  const required = process.env[REQUIRE_BROWSER_VAR] === '1';
  const explanation = `${suite} cannot run: ${CHROMIUM} does not exist. Needs the Debian package chromium (apt-get install chromium)`;
  const skip = missing && !required;
  if (skip) {
    const rule = '!'.repeat(100);
    console.warn(`\n${rule}\n!! SKIPPED: ${explanation}.\n!! .ci/run installs it and sets ${REQUIRE_BROWSER_VAR}=1, under which this skip is a failure.\n${rule}\n`);
  }
  return {
    skip,
    assertRunnable() {
      if (missing) throw new Error(`${explanation}. (${REQUIRE_BROWSER_VAR}=1 is set, so this is a failure, not a skip.)`);
      if (!existsSync(WEB_BUILD)) throw new Error(`${WEB_BUILD} does not exist: run "npm run build" before the browser tests`);
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Tests run as root here, where Chromium refuses its sandbox; /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
