/**
 * The web app's state outlives the tab, in Debian's Chromium (issue 12): after a reload the account is
 * unlocked with its passphrase (a wrong one is refused), and the history and the ratchet sessions are
 * still there; a browser may hold several accounts, and offers each; a second tab on the same account is told it is open in another tab and may take it
 * over, and the first tab stops. (Outages: web-outage.test.ts.) Needs /usr/bin/chromium (Debian package
 * chromium) and `npm run build`; see chromium.ts for the skip.
 */
import { describe, expect, it } from 'vitest';
import { browserGate } from './chromium.js';
import { useWebPeople } from './web-people.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('The web app across reloads and tabs (test/browser/web-durable.test.ts)');

describe.skipIf(gate.skip)('the web app keeps its state in the browser', () => {
  const fx = useWebPeople(gate);

  it('after a reload, a wrong passphrase is refused and changes nothing; the right one shows the history, and the sessions go on both ways', async () => {
    const [{ user: alice, problems }, { user: bob }] = await fx.people.talking('alice', 'bob');
    expect(await alice.page.getByText('Nothing is stored').count()).toBe(0);

    await alice.reload();
    await alice.typeUnlock('not the passphrase');
    await alice.waitForAlert('Wrong passphrase');
    // Still the first screen, the account still offered, the cursor back in Passphrase for another try.
    await alice.expectFocused(alice.page.getByRole('textbox', { name: 'Passphrase' }));
    expect(await alice.page.getByText('Signed in as').count()).toBe(0);

    await alice.unlock();
    await alice.openConversation('bob');
    await alice.waitForMessage('alice', 'hello bob', 'read');
    await alice.waitForMessage('bob', 'hello alice');

    // The same sessions on both sides: new messages both ways are read, none is unreadable.
    await alice.send('after the reload, from alice');
    await bob.waitForMessage('alice', 'after the reload, from alice');
    await bob.send('and from bob');
    await alice.waitForMessage('bob', 'and from bob');
    await alice.waitForMessage('alice', 'after the reload, from alice', 'read');
    expect(await bob.messageItem('could not be read').count()).toBe(0);
    expect(await alice.messageItem('could not be read').count()).toBe(0);

    // A reload of bob's tab too: his history is his own, and still his after unlocking.
    await bob.reload();
    await bob.unlock();
    await bob.openConversation('alice');
    await bob.waitForMessage('alice', 'after the reload, from alice');
    await bob.waitForMessage('bob', 'and from bob', 'read');
    // Unlocking after a reload, wrong passphrase included, throws and logs nothing.
    expect(problems).toEqual([]);
  });

  it('a browser holding two accounts offers both: choosing one fills in its name, and its passphrase unlocks it', async () => {
    const { user: jack } = await fx.people.signUp('jack');
    // Another tab of the same browser profile, for another account: the first screen offers jack's.
    const other = await jack.newTab(fx.srv.url);
    await other.page.getByRole('button', { name: 'Unlock' }).waitFor({ timeout: UI_WAIT_MS });
    const kate = new WebUser(other.page, 'kate');
    await kate.page.getByRole('textbox', { name: 'Username' }).fill('kate');
    await kate.page.getByRole('textbox', { name: 'Passphrase' }).fill('kate’s own passphrase');
    await kate.page.getByRole('button', { name: 'Create account' }).click();
    await kate.waitSignedIn();

    await kate.reload();
    const choice = kate.page.getByRole('list', { name: 'Accounts in this browser' });
    await choice.waitFor({ timeout: UI_WAIT_MS });
    expect(await choice.getByRole('button').allTextContents()).toEqual(['jack', 'kate']);
    await choice.getByRole('button', { name: 'kate' }).click();
    await kate.unlock('kate’s own passphrase');
    // jack's tab was never touched: still his, still connected.
    await jack.waitForStatus('connected');
  });

  it('a second tab on the account is told it is open in another tab, and may use it here: the first tab stops and says so', async () => {
    const { user: gina, problems } = await fx.people.signUp('gina');
    const second = await gina.newTab(fx.srv.url);
    await second.typeUnlock('correct horse battery staple');
    await second.waitForAlert('gina is open in another tab');
    expect(await second.page.getByText('Signed in as').count()).toBe(0);
    // The first tab goes on meanwhile.
    await gina.waitForStatus('connected');

    await second.page.getByRole('button', { name: 'Use it here' }).click();
    await second.waitSignedIn();
    await gina.waitForAlert('gina is now open in another tab of this browser, so this tab stopped');
    await second.waitForStatus('connected');
    // The first tab's client stopped cleanly: nothing thrown, no error logged, in either tab.
    expect(problems).toEqual([]);
  });
});
