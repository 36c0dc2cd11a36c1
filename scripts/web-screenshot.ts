/**
 * Writes docs/images/web-conversation.png, the README's picture of the web app: a server of our own on a
 * free port, two people in Debian's Chromium (two profiles) who create accounts and talk; the picture is
 * alice's screen. Needs `npm run build` and /usr/bin/chromium.
 *
 *   npx vite-node scripts/web-screenshot.ts
 */
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { startServerProcess } from '../bench/lib/server-process.js';

const OUT = resolve(import.meta.dirname, '..', 'docs', 'images', 'web-conversation.png');
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
  const alice = await person('alice');
  const bob = await person('bob');
  const open = async (page: Page, peer: string) => {
    await page.getByRole('textbox', { name: 'Start a conversation with' }).fill(peer);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: peer }).waitFor();
  };
  const say = async (page: Page, other: Page, text: string) => {
    await page.getByRole('textbox', { name: 'Message' }).fill(text);
    await page.keyboard.press('Enter');
    await other.getByRole('log').getByRole('listitem').filter({ hasText: text }).waitFor();
  };
  await open(alice, 'bob');
  await open(bob, 'alice');
  await say(alice, bob, 'Hi Bob! Is the new server up?');
  await say(bob, alice, 'It is: only ciphertext reaches it.');
  await say(alice, bob, 'Then let us compare safety numbers.');
  await alice.getByRole('log').getByRole('listitem').filter({ hasText: 'compare safety numbers' }).filter({ hasText: 'read' }).waitFor();
  await alice.screenshot({ path: OUT });
  console.log(`wrote ${join('docs', 'images', 'web-conversation.png')}`);
} finally {
  await browser.close();
  await server.stop();
}
