/**
 * The web app's safety number and key-change review in Debian's Chromium, against the hostile-server
 * harness (the page and its socket both go through the lying proxy): the number shown is the one the
 * peer computes, its QR code encodes exactly those digits, "Mark as verified" sticks; when the server
 * starts answering for bob with mallory's keys, sending to bob is blocked with both fingerprints shown,
 * stays blocked when the user keeps it so, and is released only by accepting the keys that were shown.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { encode } from 'uqr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint } from '../../src/client/fingerprint.js';
import { ed25519PublicOf, jwkThumbprint } from '../../src/crypto/keys.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { browserGate, launchChromium } from './chromium.js';
import { watchContext } from './page-watch.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('Key review in Chromium (test/browser/key-review.test.ts)');

describe.skipIf(gate.skip)('the safety number and key changes in the web app', () => {
  const servers = useHostileServer();
  let browser: Browser;
  let bob: TestClient;
  let mallory: TestClient;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    gate.assertRunnable();
    browser = await launchChromium();
    bob = servers.track(await connectTestClient(servers.srv.url, 'kr-bob', { keys: await keysFor(true) }));
    mallory = servers.track(await connectTestClient(servers.srv.url, 'kr-mallory', { keys: await keysFor(true) }));
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the number both sides compute and its QR code, marks verified; a key change blocks sending until the shown keys are accepted', async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const activity = await watchContext(context);
    const alice = new WebUser(await context.newPage(), 'kr-alice');
    const page = alice.page;
    await alice.createAccount(servers.hostile.url);
    await alice.startConversation('kr-bob');
    await alice.send('hello bob');
    expect((await bob.waitFor(1))[0]!.body).toBe('hello bob');

    // The safety number: the 60 digits bob's side computes, twelve groups, and a QR code of them.
    await page.getByRole('button', { name: 'Safety number' }).click();
    const digitsShown = page.getByLabel('Safety number digits');
    await digitsShown.waitFor({ timeout: UI_WAIT_MS });
    const { digits } = await bob.client.safetyNumber('kr-alice');
    expect((await digitsShown.textContent())!.trim().split(/\s+/)).toEqual(digits.match(/\d{5}/g));
    const qr = page.getByRole('img', { name: 'QR code of the safety number with kr-bob' });
    const modules = await qr.locator('rect.qr-dark').evaluateAll((rects) => rects.map((r) => `${r.getAttribute('x')},${r.getAttribute('y')}`));
    const expected: string[] = [];
    encode(digits, { ecc: 'M', border: 0 }).data.forEach((row, y) => row.forEach((on, x) => on && expected.push(`${x + 4},${y + 4}`)));
    expect(modules.sort()).toEqual(expected.sort());
    await page.getByText('kr-bob is not verified yet.').waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('button', { name: 'Mark as verified' }).click();
    await page.getByText('kr-bob is verified.').waitFor({ timeout: UI_WAIT_MS });
    // Recorded, not only shown: opened again, it reads the pin.
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('button', { name: 'Safety number' }).click();
    await page.getByText('kr-bob is verified.').waitFor({ timeout: UI_WAIT_MS });
    await page.getByRole('button', { name: 'Close' }).click();

    // The server now answers for kr-bob with mallory's keys; alice's next connection asks again.
    servers.hostile.onAnswer('keys', async (answer, payload, conn) =>
      (payload as { username: string }).username === 'kr-bob' ? { ...(await conn.ask('keys', { username: 'kr-mallory' })), username: 'kr-bob' } : answer,
    );
    const before = servers.hostile.connectionsOf('kr-alice')[0]!;
    before.drop();
    await waitUntil(() => (servers.hostile.connectionsOf('kr-alice').some((c) => c !== before) ? true : undefined), UI_WAIT_MS, "alice's next login");

    await alice.send('are you still bob?');
    const warning = page.getByRole('alert').filter({ has: page.getByRole('heading', { name: "kr-bob's keys have changed" }) });
    await warning.waitFor({ timeout: UI_WAIT_MS });
    const print = async (c: TestClient) => formatFingerprint(await jwkThumbprint(ed25519PublicOf(c.identity.keys.signing)));
    expect(await warning.textContent()).toContain(await print(bob));
    expect(await warning.textContent()).toContain(await print(mallory));
    const send = page.getByRole('button', { name: 'Send', exact: true });
    expect(await send.isDisabled()).toBe(true);
    // Refused before anything was sealed: the message is not in the conversation.
    expect(await alice.messageItem('are you still bob?').count()).toBe(0);

    // Kept blocked: one line, still no sending; then back to the decision, and accepted.
    await page.getByRole('button', { name: 'Keep sending blocked' }).click();
    await page.getByText('Sending to kr-bob is blocked: their keys changed.').waitFor({ timeout: UI_WAIT_MS });
    expect(await send.isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Review the keys' }).click();
    await page.getByRole('button', { name: 'Accept the new keys' }).click();
    await page.getByText("You now use kr-bob's new keys.", { exact: false }).waitFor({ timeout: UI_WAIT_MS });
    expect(await send.isDisabled()).toBe(false);

    // The number is now the one with the accepted keys, and no longer verified.
    await page.getByRole('button', { name: 'Safety number' }).click();
    await page.getByText('kr-bob is not verified yet.').waitFor({ timeout: UI_WAIT_MS });
    const withMallory = (await page.getByLabel('Safety number digits').textContent())!.replace(/\s/g, '');
    expect(withMallory).toMatch(/^\d{60}$/);
    expect(withMallory).not.toBe(digits);

    expect(activity.violations).toEqual([]);
    expect(activity.pageErrors).toEqual([]);
  });
});
