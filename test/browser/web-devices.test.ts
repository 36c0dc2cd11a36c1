/**
 * The devices page of the web app in Debian's Chromium (issue 12's "approve a CLI device from the
 * browser", issue 10 item 3): the browser account is the first device and approves `e2ee-chat link` run
 * as a process, which then works as the account; the list shows both devices with this one marked; a
 * wrong or reused code is refused and changes nothing; removing the CLI device stops it. On a linked
 * browser the page lists the devices and says why it cannot approve or remove.
 * Needs /usr/bin/chromium and `npm run build` (see chromium.ts for the skip and E2EE_CHAT_REQUIRE_BROWSER).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from '../e2e/world.js';
import { browserGate } from './chromium.js';
import { DevicesPageDriver } from './web-devices-page.js';
import { useWebPeople } from './web-people.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('The web app\'s devices page in Chromium (test/browser/web-devices.test.ts)');
const procs = useProcesses();

/** Another slot than `code`'s (a slot has 1 to 6 digits), with a well-formed secret: no device waits there. */
function codeOfNobody(code: string): string {
  const slot = Number(code.split('-')[0]);
  return `${slot >= 999_999 ? slot - 1 : slot + 1}-AAAA-AAAA`;
}

describe.skipIf(gate.skip)('the devices page in Chromium', () => {
  const fx = useWebPeople(gate);

  it('the browser (first device) approves a CLI device, which then works as the account; wrong and reused codes are refused; removing it stops it', async () => {
    const w = await World.create(procs, 'web-approve', { serverUrl: fx.srv.url });
    await w.createUser('kate');
    const ivy = await fx.people.signUp('ivy');
    const web = ivy.user;
    await web.startConversation('kate');
    await web.send('before the laptop');
    await web.waitForMessage('ivy', 'before the laptop', 'queued');

    const devices = new DevicesPageDriver(web);
    await devices.open();
    expect(await devices.entriesWhen(1)).toEqual([expect.stringMatching(/^Device 1 primary \(this device\) · added .+ · last seen now$/)]);
    expect(await web.page.getByRole('button', { name: /^Remove/ }).count()).toBe(0);

    const laptop = w.env({ E2EE_CHAT_HOME: join(w.dir, 'laptop-home') });
    const link = procs.spawn('link ivy', ['link', '--user', 'ivy', '--name', 'laptop'], { cwd: w.cwd, env: laptop });
    const [, fingerprint] = await link.waitFor('stdout', /check that it shows this device's key: (.+)$/m);
    const [, code] = await link.waitFor('stdout', /^code: (\S+)$/m);

    // A code no device waits with: refused, in words, and the list is as it was.
    await devices.approve(codeOfNobody(code!));
    expect(await devices.alert('Not approved')).toContain('no device is waiting with this code for ivy');
    expect(await devices.entriesWhen(1)).toHaveLength(1);

    await devices.approve(code!, 10);
    const added = await devices.status('as device 2');
    expect(added).toContain(`Added "laptop" (key ${fingerprint!}) as device 2`);
    expect(await devices.status('of history to device 2')).toContain('Sent 1 message of history to device 2.');
    expect((await link.waitForExit()).code, link.describe()).toBe(0);
    expect(link.stdout).toMatch(/^linked as ivy, device 2 \("laptop"\)$/m);
    expect(link.stdout).toMatch(/^received 1 messages of history$/m);
    const history = await w.cli(['history', 'kate', '--user', 'ivy'], { env: laptop });
    expect(history.stdout, history.proc.describe()).toContain('before the laptop');

    const listed = await devices.entriesWhen(2);
    expect(listed[0]).toMatch(/^Device 1 primary \(this device\) · /);
    expect(listed[1]).toMatch(/^Device 2 laptop · added .+ · (last seen .+|never seen)Remove$/);

    // The same code again: this device tried it already; nothing changes.
    await devices.approve(code!);
    expect(await devices.alert('Not approved')).toContain('this code was tried on this device already');
    expect(await devices.entriesWhen(2)).toHaveLength(2);

    // The CLI device is ivy: it receives what is sent to ivy, and what it sends shows here as ivy's.
    const receiver = await w.startReceiver('ivy', { env: laptop });
    expect((await w.send('kate', 'ivy', 'hello ivy, on both')).code).toBe(0);
    await receiver.waitFor('stdout', /^\[kate\] hello ivy, on both$/m);
    const sent = await w.send('ivy', 'kate', 'from the laptop', { env: laptop });
    expect(sent.code, sent.proc.describe()).toBe(0);
    await devices.back();
    await web.openConversation('kate');
    await web.waitForMessage('kate', 'hello ivy, on both');
    await web.waitForMessage('ivy', 'from the laptop');

    // Removed from the browser, with a confirmation: the running CLI device stops, and the list updates.
    await devices.open();
    await devices.entriesWhen(2);
    await devices.remove(2);
    expect(await devices.status('Removed device 2')).toContain('Removed device 2 ("laptop")');
    expect(await devices.entriesWhen(1)).toEqual([expect.stringMatching(/^Device 1 primary \(this device\) · /)]);
    expect((await receiver.waitForExit()).code, receiver.describe()).toBe(1);
    expect(receiver.stderr).toMatch(/^error \[unknown_device\]: this device was removed from ivy's devices; /m);
    expect(ivy.problems).toEqual([]);
  }, 180_000);

  it("on a linked browser the page lists the account's devices, this one marked, and says approving and removing are done on device 1", async () => {
    const w = await World.create(procs, 'web-linked-devices', { serverUrl: fx.srv.url });
    await w.createUser('lena');
    const context = await fx.browser.newContext();
    try {
      const web = new WebUser(await context.newPage(), 'lena');
      const code = await web.requestLink(fx.srv.url);
      const approve = await w.cli(['devices', 'approve', code, '--user', 'lena']);
      expect(approve.code, approve.proc.describe()).toBe(0);
      await web.waitSignedIn();

      const devices = new DevicesPageDriver(web);
      await devices.open();
      const listed = await devices.entriesWhen(2);
      expect(listed[0]).toMatch(/^Device 1 primary · added .+ · last seen /);
      expect(listed[1]).toMatch(/^Device 2 web browser \(this device\) · added .+ · last seen now$/);
      await web.page.getByText('only it holds the account key').waitFor({ timeout: UI_WAIT_MS });
      expect(await web.page.getByRole('textbox', { name: 'Link code' }).count()).toBe(0);
      expect(await web.page.getByRole('button', { name: /^(Approve|Remove)/ }).count()).toBe(0);

      // Back to the conversations, with the keyboard where it was.
      await devices.back();
      await web.expectFocused(web.page.getByRole('textbox', { name: 'Start a conversation with' }));
    } finally {
      await context.close();
    }
  }, 120_000);
});
