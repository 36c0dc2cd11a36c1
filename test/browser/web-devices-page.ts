/**
 * The devices page of the web app as the tests drive it (web/src/components/DevicesPage.tsx): reached
 * from the signed-in screen with the keyboard, read by role and accessible name, waited for (never slept).
 */
import type { Locator } from 'playwright-core';
import { UI_WAIT_MS, type WebUser } from './web-user.js';

export class DevicesPageDriver {
  constructor(readonly user: WebUser) {}

  private get page() {
    return this.user.page;
  }

  /** With the keyboard: focus "Devices", Enter; the page's heading takes the focus. */
  async open(): Promise<void> {
    await this.page.getByRole('button', { name: 'Devices', exact: true }).focus();
    await this.page.keyboard.press('Enter');
    await this.user.expectFocused(this.page.getByRole('heading', { name: 'Devices', exact: true }));
    await this.list.waitFor({ timeout: UI_WAIT_MS });
  }

  /** "Back to conversations": the conversation list is there again. */
  async back(): Promise<void> {
    await this.page.getByRole('button', { name: 'Back to conversations' }).click();
    await this.page.getByRole('navigation', { name: 'Conversations' }).waitFor({ timeout: UI_WAIT_MS });
  }

  get list(): Locator {
    return this.page.getByRole('list', { name: 'Your devices' });
  }

  /** The list's entry of device `id`. */
  device(id: number): Locator {
    return this.list.getByRole('listitem').filter({ hasText: new RegExp(`^Device ${id} `) });
  }

  /** The list's entries' texts (whitespace collapsed; a Remove button's text last), once the list shows `count` devices. */
  async entriesWhen(count: number): Promise<string[]> {
    await this.list.getByRole('listitem').nth(count - 1).waitFor({ timeout: UI_WAIT_MS });
    await this.list.getByRole('listitem').nth(count).waitFor({ state: 'detached', timeout: UI_WAIT_MS });
    return (await this.list.getByRole('listitem').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
  }

  /** Types `code` into "Link code" (and `history` into the history box), then Enter, which is "Approve". */
  async approve(code: string, history = 0): Promise<void> {
    const box = this.page.getByRole('textbox', { name: 'Link code' });
    await box.fill('');
    await box.focus();
    await this.page.keyboard.type(code);
    await this.page.getByRole('spinbutton', { name: 'Recent messages to send it as history' }).fill(String(history));
    await box.focus();
    await this.page.keyboard.press('Enter');
  }

  /** Waits until a status line with `text` shows; returns its whole text. */
  async status(text: string | RegExp): Promise<string> {
    const line = this.page.getByRole('status').filter({ hasText: text });
    await line.waitFor({ timeout: UI_WAIT_MS });
    return line.innerText();
  }

  /** Waits until an alert with `text` shows; returns its whole text. */
  async alert(text: string | RegExp): Promise<string> {
    const line = this.page.getByRole('alert').filter({ hasText: text });
    await line.waitFor({ timeout: UI_WAIT_MS });
    return line.innerText();
  }

  /** "Remove" on device `id`'s entry, then the confirmation's "Remove device <id>" (which has the focus: Enter). */
  async remove(id: number): Promise<void> {
    await this.device(id).getByRole('button', { name: /^Remove device/ }).click();
    await this.user.expectFocused(this.page.getByRole('button', { name: `Remove device ${id}`, exact: true }));
    await this.page.keyboard.press('Enter');
  }
}
