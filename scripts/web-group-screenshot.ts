/**
 * Writes docs/images/web-group.png, the README's picture of a group in the web app: a server of our own
 * on a free port, three people in Debian's Chromium (three profiles) who create accounts; alice makes
 * "weekend" with bob and carol from "New group", they talk, and the picture is alice's screen. Needs `npm run build` and /usr/bin/chromium.
 *
 *   npx vite-node scripts/web-group-screenshot.ts
 */
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { startServerProcess } from '../bench/lib/server-process.js';

const OUT = resolve(import.meta.dirname, '..', 'docs', 'images', 'web-group.png');
const server = await startServerProcess();
const browser = await chromium.launch({ executablePath: process.env.E2EE_CHAT_CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const person = async (name: string): Promise<Page> => {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 640 }, colorScheme: 'light' })).newPage();
    await page.goto(server.url);
    await page.getByRole('textbox', { name: 'Username' }).fill(name);
    await page.getByRole('textbox', { name: 'Passphrase' }).fill(`${name}'s long passphrase`);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText(`Signed in as ${name}`).waitFor({ timeout: 60_000 });
    return page;
  };
  const [alice, bob, carol] = [await person('alice'), await person('bob'), await person('carol')];
  await alice.getByRole('button', { name: 'New group' }).click();
  await alice.getByRole('textbox', { name: 'Group name' }).fill('weekend');
  await alice.getByRole('textbox', { name: 'Members' }).fill('bob, carol');
  await alice.getByRole('button', { name: 'Create group' }).click();
  await alice.getByRole('main', { name: 'Group weekend' }).waitFor({ timeout: 60_000 });
  for (const page of [bob, carol]) {
    await page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: 'weekend' }).click();
    await page.getByRole('main', { name: 'Group weekend' }).waitFor();
  }
  const say = async (page: Page, text: string) => {
    await page.getByRole('textbox', { name: 'Message' }).fill(text);
    await page.keyboard.press('Enter');
    for (const other of [alice, bob, carol]) await other.getByRole('log').getByRole('listitem').filter({ hasText: text }).waitFor({ timeout: 60_000 });
  };
  await say(alice, 'Hike on Saturday?');
  await say(bob, 'Yes! Lake trail?');
  await say(carol, 'Count me in. 9:00 at the station.');
  await alice.getByText('Not verified: bob, carol.', { exact: false }).waitFor();
  await alice.screenshot({ path: OUT });
  console.log(`wrote ${join('docs', 'images', 'web-group.png')}`);
} finally {
  await browser.close();
  await server.stop();
}
