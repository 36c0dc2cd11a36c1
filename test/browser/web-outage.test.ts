/**
 * The web app through outages, in Debian's Chromium (issue 12): while the network is down or the server
 * restarts, what the user writes waits in the outbox, the screen says the connection is lost and how many
 * messages wait, and once the connection is back each reaches the peer exactly once (a later message is
 * the barrier: any second copy would have come before it). Unlocking while the server is down opens the
 * history offline. Needs /usr/bin/chromium (Debian package chromium) and `npm run build`; see chromium.ts.
 */
import { describe, expect, it } from 'vitest';
import { browserGate } from './chromium.js';
import { useWebPeople } from './web-people.js';
import { UI_WAIT_MS } from './web-user.js';

const gate = browserGate('The web app through outages (test/browser/web-outage.test.ts)');

describe.skipIf(gate.skip)('the web app through outages', () => {
  const fx = useWebPeople(gate);


  it('offline, a message waits in the outbox (the screen says so); back online it reaches the peer exactly once', async () => {
    const [{ user: carol, context }, { user: dave }] = [await fx.people.signUp('carol'), await fx.people.signUp('dave')];
    await carol.startConversation('dave');
    await carol.send('before the outage');
    await dave.conversationEntry('carol').waitFor({ timeout: UI_WAIT_MS });
    await dave.openConversation('carol');
    await dave.waitForMessage('carol', 'before the outage');

    await context.setOffline(true);
    await carol.waitForStatus('connection lost, reconnecting');
    await carol.send('written offline');
    await carol.waitForMessage('carol', 'written offline', 'not sent yet');
    await carol.waitForStatus('1 message waiting to be sent');

    await context.setOffline(false);
    await carol.waitForStatus('connected');
    await dave.waitForMessage('carol', 'written offline');
    await carol.waitForMessage('carol', 'written offline', 'read');
    expect(await carol.page.getByRole('status').filter({ hasText: 'waiting to be sent' }).count()).toBe(0);
    await carol.send('after the outage');
    await dave.waitForMessage('carol', 'after the outage');
    expect(await dave.messageItem('written offline').count()).toBe(1);
  });

  it('while the server restarts, a message waits in the outbox; once the server is back it is delivered exactly once, and the peer answers', async () => {
    const [{ user: erin }, { user: frank }] = await fx.people.talking('erin', 'frank');
    const server = await fx.stopServer();
    await erin.waitForStatus('connection lost, reconnecting');
    await erin.send('written while the server was down');
    await erin.waitForMessage('erin', 'written while the server was down', 'not sent yet');
    await erin.waitForStatus('1 message waiting to be sent');

    await server.restart();
    await frank.waitForMessage('erin', 'written while the server was down');
    await erin.waitForMessage('erin', 'written while the server was down', 'read');
    await frank.send('the server is back');
    await erin.waitForMessage('frank', 'the server is back');
    expect(await frank.messageItem('written while the server was down').count()).toBe(1);
  });

  it('unlocking while the server is down opens the history offline and keeps what is written in the outbox until the server is back', async () => {
    const [{ user: hana }, { user: ivan }] = await fx.people.talking('hana', 'ivan');
    // The page is loaded (the relay serves it), then the server goes down before the unlock.
    await hana.reload();
    await hana.page.getByRole('button', { name: 'Unlock' }).waitFor({ timeout: UI_WAIT_MS });
    const server = await fx.stopServer();
    await hana.unlock();
    await hana.waitForStatus('connection lost, reconnecting');
    await hana.openConversation('ivan');
    await hana.waitForMessage('ivan', 'hello hana');
    await hana.send('written before the server came back');
    await hana.waitForStatus('1 message waiting to be sent');

    await server.restart();
    await hana.waitForStatus('connected');
    await ivan.waitForMessage('hana', 'written before the server came back');
    await ivan.send('got it');
    await hana.waitForMessage('ivan', 'got it');
    expect(await ivan.messageItem('written before the server came back').count()).toBe(1);
  });
});
