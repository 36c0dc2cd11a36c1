/**
 * Groups in the web app (issue 14: "in the browser client, groups in the conversation list"): two people
 * in Chromium and one library client (ChatClient with a group store) in one MLS group. The group is
 * made from the browser's "New group" form, texts go every way and are shown once, a member is removed
 * and added again from the group info panel, a member leaves, and after a reload and unlock the group,
 * its history and new messages are all there. Nothing is thrown or logged as an error (CSP violations
 * included). A member whose keys changed since they were pinned is not added, as a 1:1 conversation
 * blocks sending to them (against the hostile-server harness). The group code (ts-mls and our MLS glue)
 * is fetched only when a group needs it: a person without a group never fetches it, and a Welcome and
 * texts that arrive while it loads are all shown, and acknowledged. Needs /usr/bin/chromium and
 * `npm run build`; see chromium.ts for the skip.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupMembershipEvent, GroupMessageEvent } from '../../src/client/index.js';
import { MemoryGroupStore } from '../../src/client/groups/memory-group-store.js';
import type { GroupMessageEvent as GroupMessageFrame, GroupWelcomeEvent } from '../../src/protocol/group-schemas.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';
import { browserGate, launchChromium } from './chromium.js';
import { watchContext } from './page-watch.js';
import { builtScript, firstVisitScripts, TS_MLS_MARKER } from './web-bundle.js';
import { useWebPeople } from './web-people.js';
import { UI_WAIT_MS, WebUser } from './web-user.js';

const gate = browserGate('Groups in the web app (test/browser/web-groups.test.ts)');

/** Opens the group named `name` from the conversation list. */
async function openGroup(user: WebUser, name: string): Promise<void> {
  await user.conversation(name).click();
  await user.page.getByRole('main', { name: `Group ${name}` }).waitFor({ timeout: UI_WAIT_MS });
}

/** Waits until the open conversation shows exactly one line with all of `parts`. */
async function shownOnce(user: WebUser, ...parts: string[]): Promise<void> {
  await user.waitForMessage(...parts);
  expect(await user.messageItem(...parts).count()).toBe(1);
}

/** Opens the group info panel (if closed) and returns it. */
async function groupInfo(user: WebUser) {
  const panel = user.page.getByRole('region', { name: 'Group info' });
  if ((await panel.count()) === 0) await user.page.getByRole('button', { name: 'Group info' }).click();
  await panel.waitFor({ timeout: UI_WAIT_MS });
  return panel;
}

/** One Chromium for the describe it is called in: launched before its tests, closed after them. */
function useChromium(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    gate.assertRunnable();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (!browser) throw new Error('Chromium is launched in beforeAll');
      return browser;
    },
  };
}

describe.skipIf(gate.skip)('groups in the web app', () => {
  const fx = useWebPeople(gate);

  it('a group made in the browser: texts every way shown once, a member removed and added back, a member leaving, and all of it after a reload', async () => {
    const [{ user: alice, problems: aliceProblems }, { user: bob, problems: bobProblems }] = [await fx.people.signUp('alice'), await fx.people.signUp('bob')];
    const carol = await connectTestClient(fx.srv.url, 'carol', { groups: new MemoryGroupStore() });
    const heard: GroupMessageEvent[] = [];
    const changes: GroupMembershipEvent[] = [];
    carol.client.on('groupMessage', (m) => heard.push(m));
    carol.client.on('groupMembership', (c) => changes.push(c));
    const carolHears = (text: string) => waitUntil(() => heard.find((m) => m.text === text), UI_WAIT_MS, `carol to hear "${text}"`);
    try {
      // alice compared her safety number with bob's (not carol's); she makes "team" from the form, which says so.
      await alice.startConversation('bob');
      await alice.page.getByRole('button', { name: 'Safety number' }).click();
      await alice.page.getByRole('button', { name: 'Mark as verified' }).click();
      await alice.page.getByText('bob is verified.').waitFor({ timeout: UI_WAIT_MS });
      await alice.page.getByRole('button', { name: 'New group' }).click();
      await alice.expectFocused(alice.page.getByRole('textbox', { name: 'Group name' }));
      await alice.page.keyboard.type('team');
      await alice.page.keyboard.press('Tab');
      await alice.page.keyboard.type('bob, carol');
      await alice.page.keyboard.press('Tab');
      const trust = alice.page.getByRole('list', { name: "Members' keys" });
      await trust.getByRole('listitem').filter({ hasText: 'carol' }).filter({ hasText: 'not verified' }).waitFor({ timeout: UI_WAIT_MS });
      await expect(trust.getByRole('listitem').filter({ hasText: 'bob' }).textContent()).resolves.toBe('bob · verified');
      await alice.page.getByRole('button', { name: 'Create group' }).click();
      await alice.page.getByRole('main', { name: 'Group team' }).waitFor({ timeout: UI_WAIT_MS });
      await shownOnce(alice, 'bob joined');
      await shownOnce(alice, 'carol joined');
      await alice.page.getByText('Not verified: carol.').waitFor({ timeout: UI_WAIT_MS });

      // carol (the library) joined too; alice's first text reaches bob's list as unread, then his view once.
      const team = await waitUntil(() => carol.client.findGroup('team').catch(() => undefined), UI_WAIT_MS, 'carol to join team');
      await bob.conversation('team').waitFor({ timeout: UI_WAIT_MS });
      await alice.send('hello team');
      await shownOnce(alice, 'alice', 'hello team');
      const bobsEntry = bob.conversationEntry('team');
      await bobsEntry.filter({ hasText: '1 unread' }).filter({ hasText: 'alice: hello team' }).waitFor({ timeout: UI_WAIT_MS });
      await openGroup(bob, 'team');
      await shownOnce(bob, 'you joined the group');
      await shownOnce(bob, 'alice', 'hello team');
      await bobsEntry.filter({ hasNotText: 'unread' }).waitFor({ timeout: UI_WAIT_MS });
      expect((await carolHears('hello team')).from).toEqual({ user: 'alice', device: 1 });

      // The other ways: from the library to both browsers, from bob's browser to alice's and carol.
      await carol.client.sendGroupMessage(team, 'hi from carol');
      await shownOnce(alice, 'carol', 'hi from carol');
      await shownOnce(bob, 'carol', 'hi from carol');
      await bob.send('bob here');
      await shownOnce(alice, 'bob', 'bob here');
      await shownOnce(bob, 'bob', 'bob here');
      await carolHears('bob here');

      // alice removes carol from the info panel: everyone sees it, carol's client is out.
      const panel = await groupInfo(alice);
      await panel.getByRole('listitem').filter({ hasText: 'bob' }).filter({ hasText: 'device 1' }).filter({ hasText: 'verified' }).waitFor({ timeout: UI_WAIT_MS });
      await panel.getByRole('listitem').filter({ hasText: 'carol' }).filter({ hasText: 'not verified' }).waitFor({ timeout: UI_WAIT_MS });
      await panel.getByRole('button', { name: 'Remove carol' }).click();
      await shownOnce(alice, 'carol left');
      await shownOnce(bob, 'carol left');
      await waitUntil(() => changes.find((c) => c.left), UI_WAIT_MS, 'carol to be out of the group');
      await expect(panel.getByRole('button', { name: 'Remove carol' }).count()).resolves.toBe(0);

      // ...and adds her back: she joins again and reads what is said from then on.
      await panel.getByRole('textbox', { name: 'Add member' }).fill('carol');
      await panel.getByRole('button', { name: 'Add', exact: true }).click();
      await panel.getByRole('button', { name: 'Remove carol' }).waitFor({ timeout: UI_WAIT_MS });
      await waitUntil(() => changes.filter((c) => c.joined).length === 2 || undefined, UI_WAIT_MS, 'carol to join again');
      await waitUntil(async () => ((await carol.client.groups()).some((g) => g.active) ? true : undefined), UI_WAIT_MS, 'carol to be active again');
      const again = await carol.client.findGroup('team');
      // bob joined after carol first did (his log opens with his own joining): this is his first "carol joined", alice's second.
      await shownOnce(bob, 'carol joined');
      await alice.messageItem('carol joined').nth(1).waitFor({ timeout: UI_WAIT_MS });
      await expect(alice.messageItem('carol joined').count()).resolves.toBe(2);
      await alice.send('welcome back carol');
      expect((await carolHears('welcome back carol')).groupId).toBe(again);

      // bob leaves from his info panel: alice sees him go, bob's view keeps the history, closed.
      await (await groupInfo(bob)).getByRole('button', { name: 'Leave group' }).click();
      await shownOnce(bob, 'you are no longer in this group');
      await bob.page.getByText('You are no longer in this group: its history stays here.').waitFor({ timeout: UI_WAIT_MS });
      await expect(bob.message.count()).resolves.toBe(0);
      await shownOnce(alice, 'bob left');
      await shownOnce(bob, 'carol', 'hi from carol');

      // alice reloads: after unlocking, the group and its history are there, and new texts flow both ways.
      await alice.reload();
      await alice.unlock();
      await alice.conversationEntry('team').filter({ hasText: 'bob left' }).waitFor({ timeout: UI_WAIT_MS });
      await openGroup(alice, 'team');
      for (const line of [['bob joined'], ['alice', 'hello team'], ['carol', 'hi from carol'], ['bob', 'bob here'], ['carol left'], ['alice', 'welcome back carol'], ['bob left']]) await shownOnce(alice, ...line);
      await expect(alice.messageItem('carol joined').count()).resolves.toBe(2);
      await alice.send('after the reload');
      await carolHears('after the reload');
      await carol.client.sendGroupMessage(again, 'carol after the reload');
      await shownOnce(alice, 'carol', 'carol after the reload');
      await shownOnce(alice, 'alice', 'after the reload');

      expect(aliceProblems).toEqual([]);
      expect(bobProblems).toEqual([]);
    } finally {
      await carol.client.close();
    }
  }, 180_000);
});

describe.skipIf(gate.skip)('a group member whose keys changed, in the web app', () => {
  const servers = useHostileServer();
  const chromium = useChromium();

  it('is shown as such in the New group form, and the group is not made', async () => {
    servers.track(await connectTestClient(servers.srv.url, 'gk-dave', { keys: await keysFor(true), groups: new MemoryGroupStore() }));
    servers.track(await connectTestClient(servers.srv.url, 'gk-mallory', { keys: await keysFor(true), groups: new MemoryGroupStore() }));
    const context = await chromium.browser.newContext();
    try {
      const activity = await watchContext(context);
      const alice = new WebUser(await context.newPage(), 'gk-alice');
      await alice.createAccount(servers.hostile.url);
      // alice pins dave's keys; then the server answers for dave with mallory's, from alice's next login on.
      await alice.startConversation('gk-dave');
      servers.hostile.onAnswer('keys', async (answer, payload, conn) =>
        (payload as { username: string }).username === 'gk-dave' ? { ...(await conn.ask('keys', { username: 'gk-mallory' })), username: 'gk-dave' } : answer,
      );
      const before = servers.hostile.connectionsOf('gk-alice')[0]!;
      before.drop();
      await waitUntil(() => (servers.hostile.connectionsOf('gk-alice').some((c) => c !== before) ? true : undefined), UI_WAIT_MS, "alice's next login");

      await alice.page.getByRole('button', { name: 'New group' }).click();
      await alice.page.getByRole('textbox', { name: 'Group name' }).fill('secret plans');
      await alice.page.getByRole('textbox', { name: 'Members' }).fill('gk-dave');
      await alice.page.getByRole('textbox', { name: 'Group name' }).focus();
      await alice.page.getByRole('list', { name: "Members' keys" }).getByText('keys changed: review them in your conversation with gk-dave').waitFor({ timeout: UI_WAIT_MS });
      await alice.page.getByRole('button', { name: 'Create group' }).click();
      await alice.waitForAlert('Not created: the keys of gk-dave changed.');
      expect(await alice.page.getByRole('navigation', { name: 'Conversations' }).getByRole('button', { name: 'secret plans' }).count()).toBe(0);
      expect(activity.violations).toEqual([]);
      expect(activity.pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.skipIf(gate.skip)('a group forked by a commit the browser refuses', () => {
  const servers = useHostileServer();
  const chromium = useChromium();

  it('says in the info panel that the group can no longer change, offers no change, and texts still reach those who refused it', async () => {
    // carol's commits go through the lying server, which orders garbage in their place; dave is direct.
    const carol = servers.track(await connectTestClient(servers.hostile.url, 'fk-carol', { groups: new MemoryGroupStore() }));
    const dave = servers.track(await connectTestClient(servers.srv.url, 'fk-dave', { groups: new MemoryGroupStore() }));
    const daveHeard: GroupMessageEvent[] = [];
    dave.client.on('groupMessage', (m) => daveHeard.push(m));
    const context = await chromium.browser.newContext();
    try {
      const activity = await watchContext(context);
      const alice = new WebUser(await context.newPage(), 'fk-alice');
      await alice.createAccount(servers.hostile.url);
      await alice.page.getByRole('button', { name: 'New group' }).click();
      await alice.page.getByRole('textbox', { name: 'Group name' }).fill('forked');
      await alice.page.getByRole('textbox', { name: 'Members' }).fill('fk-carol, fk-dave');
      await alice.page.getByRole('button', { name: 'Create group' }).click();
      await alice.page.getByRole('main', { name: 'Group forked' }).waitFor({ timeout: UI_WAIT_MS });
      await shownOnce(alice, 'fk-carol joined');
      await shownOnce(alice, 'fk-dave joined');
      const groupId = await waitUntil(() => carol.client.findGroup('forked').catch(() => undefined), UI_WAIT_MS, 'carol to join');
      await waitUntil(() => dave.client.findGroup('forked').catch(() => undefined), UI_WAIT_MS, 'dave to join');

      servers.hostile.onRequest('group.commit', (payload, conn) =>
        conn.ask('group.commit', { ...(payload as Record<string, unknown>), commit: randomBytes(200).toString('base64url') }),
      );
      await carol.client.updateGroupKeys(groupId);
      const panel = await groupInfo(alice);
      await panel.getByRole('note', { name: 'This group can no longer change' }).filter({ hasText: 'fk-carol (device 1) made to this group was refused here' }).waitFor({ timeout: UI_WAIT_MS });
      for (const name of ['Update my keys', 'Add', 'Remove fk-dave']) expect(await panel.getByRole('button', { name, exact: true }).isDisabled(), name).toBe(true);
      expect(await panel.getByRole('button', { name: 'Leave group' }).isDisabled()).toBe(false);

      await alice.send('between those who refused it');
      await waitUntil(() => daveHeard.find((m) => m.text === 'between those who refused it'), UI_WAIT_MS, 'dave to read alice');
      expect(activity.violations).toEqual([]);
      expect(activity.pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe.skipIf(gate.skip)('the group code in the web app', () => {
  const servers = useHostileServer();
  const chromium = useChromium();

  it('is not fetched by a person in no group; fetched when a Welcome comes, and what arrives meanwhile is all shown and acknowledged', async () => {
    const carol = servers.track(await connectTestClient(servers.srv.url, 'lz-carol', { groups: new MemoryGroupStore() }));
    const context = await chromium.browser.newContext();
    try {
      const activity = await watchContext(context);
      const bob = new WebUser(await context.newPage(), 'lz-bob');
      // A new account makes and uploads its KeyPackages at its first login: that needs the group code.
      await bob.createAccount(servers.hostile.url);
      await waitUntil(() => servers.hostile.answersTo('mls.keypackages.upload')[0], UI_WAIT_MS, "bob's KeyPackages");

      // From the reload on, every script the page asks for is seen here (routing also turns the cache off);
      // any but the first visit's is held until released.
      const firstVisit = firstVisitScripts();
      const asked: string[] = [];
      const held: Route[] = [];
      let holding = true;
      await context.route('**/assets/*.js', (route) => {
        const file = new URL(route.request().url()).pathname.split('/').pop()!;
        asked.push(file);
        if (holding && !firstVisit.has(file)) held.push(route);
        else void route.continue();
      });
      await bob.reload();
      await bob.unlock();
      // Barrier: the login's KeyPackage count was answered (the stock is full), then a 1:1 text pushed after
      // that answer, on the same socket, is shown: the upkeep that followed the count has run by then.
      await waitUntil(() => servers.hostile.answersTo('mls.keypackages.count')[1], UI_WAIT_MS, "the count of bob's KeyPackages after the reload");
      await carol.client.send('lz-bob', 'no group yet');
      await bob.openConversation('lz-carol');
      await bob.waitForMessage('lz-carol', 'no group yet');
      expect(asked.length).toBeGreaterThan(0);
      expect(asked.filter((f) => !firstVisit.has(f))).toEqual([]);
      for (const file of asked) expect(builtScript(file), file).not.toContain(TS_MLS_MARKER);

      // carol adds bob to a group and writes twice, while the group code bob's page asks for is held.
      const team = await carol.client.createGroup('lazy team', ['lz-bob']);
      await carol.client.sendGroupMessage(team, 'first while loading');
      await carol.client.sendGroupMessage(team, 'second while loading');
      const welcomes = () => servers.hostile.pushesOf('group.welcome', 'lz-bob').map((a) => a[0] as GroupWelcomeEvent);
      const texts = () => servers.hostile.pushesOf('group.message', 'lz-bob').map((a) => a[0] as GroupMessageFrame).filter((m) => m.kind === 'application');
      await waitUntil(() => (held.length > 0 && welcomes().length === 1 && texts().length === 2 ? true : undefined), UI_WAIT_MS, 'the Welcome and both texts pushed to bob, and the group code asked for');
      expect(held.some((r) => builtScript(new URL(r.request().url()).pathname.split('/').pop()!).includes(TS_MLS_MARKER))).toBe(true);
      holding = false;
      for (const route of held.splice(0)) await route.continue();

      // Once it is there: bob is in the group, both texts shown once, and every push acknowledged.
      await bob.conversationEntry('lazy team').filter({ hasText: '2 unread' }).waitFor({ timeout: UI_WAIT_MS });
      await openGroup(bob, 'lazy team');
      await shownOnce(bob, 'you joined the group');
      await shownOnce(bob, 'lz-carol', 'first while loading');
      await shownOnce(bob, 'lz-carol', 'second while loading');
      const pushed = [...welcomes(), ...texts()].map((p) => p.id);
      const acked = () =>
        new Set(servers.hostile.frames.flatMap((f) => (f.kind === 'request' && f.event === 'ack' && f.user === 'lz-bob' ? ((f.payload as { ids?: string[] }).ids ?? []) : [])));
      await waitUntil(() => (pushed.every((id) => acked().has(id)) ? true : undefined), UI_WAIT_MS, "bob's acknowledgements of the group pushes");
      expect(activity.pageErrors).toEqual([]);
      expect(activity.violations).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
