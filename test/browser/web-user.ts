/**
 * A person using the web app, as the tests drive it: by role and accessible name, with the keyboard
 * where a person could, and waiting (Playwright's locators) for what should appear, never sleeping.
 */
import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

/** Long enough for key generation (RSA-2048 in the page) and a login on a loaded machine. */
export const UI_WAIT_MS = 30_000;

export class WebUser {
  constructor(
    readonly page: Page,
    readonly name: string,
  ) {}

  /**
   * Opens the app and creates the account with the keyboard alone: the cursor starts in "Username",
   * Tab reaches "Passphrase", then "Create account", and Enter presses it.
   */
  async createAccount(url: string, passphrase = 'correct horse battery staple'): Promise<void> {
    await this.page.goto(url);
    const username = this.page.getByRole('textbox', { name: 'Username' });
    await username.waitFor({ timeout: UI_WAIT_MS });
    await this.expectFocused(username);
    await this.page.keyboard.type(this.name);
    await this.page.keyboard.press('Tab');
    await this.expectFocused(this.page.getByRole('textbox', { name: 'Passphrase' }));
    await this.page.keyboard.type(passphrase);
    await this.page.keyboard.press('Tab');
    await this.expectFocused(this.page.getByRole('button', { name: 'Create account' }));
    await this.page.keyboard.press('Enter');
    await this.waitSignedIn();
  }

  /**
   * Opens the app and asks to link this browser to the existing account of this name: returns the
   * one-time code it shows, for the account's first device to approve.
   */
  async requestLink(url: string, passphrase = 'correct horse battery staple'): Promise<string> {
    await this.page.goto(url);
    await this.page.getByRole('textbox', { name: 'Username' }).fill(this.name);
    await this.page.getByRole('textbox', { name: 'Passphrase' }).fill(passphrase);
    await this.page.getByRole('button', { name: 'Link to an existing account' }).click();
    const code = this.page.getByRole('textbox', { name: 'Link code' });
    await code.waitFor({ timeout: UI_WAIT_MS });
    return code.inputValue();
  }

  /**
   * On the first screen of a browser that holds this user's account: the name is filled in and the
   * cursor waits in "Passphrase"; types `passphrase` and presses Enter, which is "Unlock". Does not wait
   * for the outcome (a wrong passphrase is refused: see `unlockRefusal`).
   */
  async typeUnlock(passphrase: string): Promise<void> {
    await this.page.getByRole('button', { name: 'Unlock' }).waitFor({ timeout: UI_WAIT_MS });
    expect(await this.page.getByRole('textbox', { name: 'Username' }).inputValue()).toBe(this.name);
    const box = this.page.getByRole('textbox', { name: 'Passphrase' });
    await this.expectFocused(box);
    await box.fill('');
    await this.page.keyboard.type(passphrase);
    await this.page.keyboard.press('Enter');
  }

  /** Unlocks this user's account with the keyboard and waits until signed in. */
  async unlock(passphrase = 'correct horse battery staple'): Promise<void> {
    await this.typeUnlock(passphrase);
    await this.waitSignedIn();
  }

  /** Reloads the page, as closing and reopening the tab would: everything in memory is gone. */
  async reload(): Promise<void> {
    await this.page.reload();
  }

  /** The same person in another tab of the same browser profile, at `url`. */
  async newTab(url: string): Promise<WebUser> {
    const page = await this.page.context().newPage();
    await page.goto(url);
    return new WebUser(page, this.name);
  }

  /** Waits until an alert with `text` is shown. */
  async waitForAlert(text: string): Promise<void> {
    await this.page.getByRole('alert').filter({ hasText: text }).waitFor({ timeout: UI_WAIT_MS });
  }

  /** Waits until a status line (connection, outbox) with `text` is shown. */
  async waitForStatus(text: string): Promise<void> {
    await this.page.getByRole('status').filter({ hasText: text }).waitFor({ timeout: UI_WAIT_MS });
  }

  /** Waits until the app says this user is signed in. */
  async waitSignedIn(): Promise<void> {
    await this.page.getByText(`Signed in as ${this.name}`).waitFor({ timeout: UI_WAIT_MS });
  }

  /** With the keyboard: the cursor is in "Start a conversation with"; the name, Enter, and the cursor is in "Message". */
  async startConversation(peer: string): Promise<void> {
    const start = this.page.getByRole('textbox', { name: 'Start a conversation with' });
    await start.focus();
    await this.page.keyboard.type(peer);
    await this.page.keyboard.press('Enter');
    await this.page.getByRole('heading', { name: peer }).waitFor({ timeout: UI_WAIT_MS });
    await this.expectFocused(this.message);
  }

  /** Opens a conversation from the list by the peer's name. */
  async openConversation(peer: string): Promise<void> {
    await this.conversation(peer).click();
    await this.page.getByRole('heading', { name: peer }).waitFor({ timeout: UI_WAIT_MS });
  }

  /** Types into "Message" and sends with Enter. */
  async send(text: string): Promise<void> {
    await this.message.focus();
    await this.page.keyboard.type(text);
    await this.page.keyboard.press('Enter');
  }

  get message(): Locator {
    return this.page.getByRole('textbox', { name: 'Message' });
  }

  /** The conversation named `peer` in the list: the button that opens it. */
  conversation(peer: string): Locator {
    return this.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: peer, exact: true });
  }

  /** The list entry of the conversation with `peer` (its button, presence and unread count). */
  conversationEntry(peer: string): Locator {
    return this.page.getByRole('navigation', { name: 'Conversations' }).getByRole('listitem').filter({ has: this.page.getByRole('button', { name: peer, exact: true }) });
  }

  /** The message item whose text includes every one of `parts` (sender, text, state...). */
  messageItem(...parts: string[]): Locator {
    let items = this.page.getByRole('log').getByRole('listitem');
    for (const part of parts) items = items.filter({ hasText: part });
    return items;
  }

  /** Waits until a message item with all of `parts` is shown. */
  async waitForMessage(...parts: string[]): Promise<void> {
    await this.messageItem(...parts).waitFor({ timeout: UI_WAIT_MS });
  }

  /** Waits until `locator` has the focus (a failure names what has it instead). */
  async expectFocused(locator: Locator): Promise<void> {
    const handle = await locator.elementHandle({ timeout: UI_WAIT_MS });
    try {
      await this.page.waitForFunction((el) => document.activeElement === el, handle, { timeout: UI_WAIT_MS });
    } catch (err) {
      const active = await this.page.evaluate(() => document.activeElement?.outerHTML.slice(0, 200));
      throw new Error(`expected the focus on ${String(locator)}, but it is on ${String(active)}`, { cause: err });
    } finally {
      await handle?.dispose();
    }
  }
}
