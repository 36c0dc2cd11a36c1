/**
 * The recipient's process dies after receiving but before acknowledging: the server still holds the
 * envelopes and delivers them again to the next connection; the client recognises what it already
 * stored and shows nothing twice.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { userFolder } from '../../src/client/node/user-folder.js';
import { Processes, assertBuilt, type Proc } from '../e2e/processes.js';
import type { TestServer } from '../helpers/test-server.js';
import { clientBarrier } from './barrier.js';
import { keysFor, openCliStore, Resources, waitOffline, waitUntil, type Recorded } from './harness.js';

const procs = new Processes();
const res = new Resources();

beforeAll(() => assertBuilt());
afterEach(async () => {
  await procs.cleanup();
  await res.cleanup();
});
afterAll(() => procs.removeDirs());

/** Incoming rows marked shown in a CLI user's state.sqlite (the flag is not sealed; the rows are). */
function displayedCount(stateFile: string): number {
  const db = new Database(stateFile, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in' AND displayed = 1").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('recipient killed before acknowledging', () => {
  it('a receive process killed with acks still batched gets the envelopes again, stores nothing twice, shows nothing twice, then empties the queue', async () => {
    const srv = await res.server();
    const dir = procs.tempDir('kill-before-ack');
    const home = join(dir, 'home');
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const receive = (label: string, extra: Record<string, string> = {}): Promise<Proc> => {
      const p = procs.spawn(label, ['receive', '--user', 'bob'], { cwd, env: { E2EE_CHAT_HOME: home, E2EE_CHAT_SERVER: srv.url, ...extra } });
      return p.waitFor('stderr', new RegExp(`^Listening as bob on ${escape(srv.url)}\\.`, 'm')).then(() => p);
    };

    // Acks are batched and would only leave after ten minutes.
    const bob1 = await receive('receive bob (slow acks)', { E2EE_CHAT_ACK_DELAY_MS: '600000' });
    const alice = await res.client(srv.url, 'alice');
    const bodies = ['kill me softly 1', 'kill me softly 2', 'kill me softly 3'];
    const sent = [];
    for (const body of bodies) sent.push(await alice.client.send('bob', body));
    expect(sent.map((s) => s.status)).toEqual(['sent', 'sent', 'sent']);
    await bob1.waitFor('stdout', /kill me softly 3\n/);
    expect(bob1.stdout).toBe(bodies.map((b) => `[alice] ${b}\n`).join(''));
    // The CLI prints a message, then records it as shown (a synchronous, fsynced write). Kill only once
    // all three are recorded as shown: a kill between the print and that write would rightly show the
    // last one again on the next run (display is at-least-once across a crash at exactly that point).
    const state = userFolder(home, 'bob').stateFile;
    await waitUntil(() => (displayedCount(state) === 3 ? true : undefined), 5000, 'bob to record the three messages as shown');

    expect((await bob1.stop('SIGKILL')).signal).toBe('SIGKILL');
    await waitOffline(alice.client, 'bob');
    // Never acknowledged: all three are still queued, untouched.
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 3 });
    const queued = await srv.store.pending('bob', 1, 0, 100, Date.now());
    expect(queued.map((q) => q.id)).toEqual(sent.map((s) => s.serverId));
    expect(queued.map((q) => q.clientId)).toEqual(sent.map((s) => s.id));
    expect(alice.delivered).toEqual([]);

    // Normal acks this time. The server redelivers; the client knows the ids and only acknowledges.
    const bob2 = await receive('receive bob (again)', { E2EE_CHAT_DEBUG: '1' });
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 10_000, "bob's queue to empty");
    expect(await srv.store.pending('bob', 1, 0, 100, Date.now())).toEqual([]);
    // The acknowledgements turned into receipts for alice.
    await waitUntil(() => (alice.delivered.length >= 3 ? true : undefined), 5000, 'three delivery receipts');
    expect(alice.delivered.map((d) => d.id).sort()).toEqual(sent.map((s) => s.id).sort());

    // A later message, queued behind every redelivery: once bob2 has printed it and alice has its
    // receipt, whatever the redeliveries were going to cause has happened.
    const barrier2 = await alice.client.send('bob', 'barrier for the second run');
    await bob2.waitFor('stdout', /barrier for the second run\n/);
    await waitUntil(() => (alice.delivered.some((d) => d.id === barrier2.id) ? true : undefined), 5000, "the barrier's receipt");
    expect((await bob2.stop('SIGTERM')).code).toBe(0);
    // Shown once, in the first run only: the second run printed only the barrier and rejected nothing.
    expect(bob2.stdout, bob2.describe()).toBe('[alice] barrier for the second run\n');
    expect(bob2.stderr).not.toMatch(/rejected/);
    // It did get them again (E2EE_CHAT_DEBUG shows the client recognising each redelivery).
    for (const s of sent) expect(bob2.stderr).toContain(`redelivery of ${s.serverId!} ignored`);
    expect(alice.delivered).toHaveLength(4);

    // A third run: nothing left anywhere (it prints only a new barrier).
    const bob3 = await receive('receive bob (third)');
    const barrier3 = await alice.client.send('bob', 'barrier for the third run');
    await bob3.waitFor('stdout', /barrier for the third run\n/);
    expect((await bob3.stop('SIGTERM')).code).toBe(0);
    expect(bob3.stdout, bob3.describe()).toBe('[alice] barrier for the third run\n');

    // bob's local history holds each message once, displayed.
    const store = await openCliStore(home, 'bob');
    try {
      const history = await store.history();
      expect(history.filter((r) => r.direction === 'in').map((r) => r.body)).toEqual([...bodies, 'barrier for the second run', 'barrier for the third run']);
      expect(history.map((r) => r.serverId)).toEqual([...sent, barrier2, barrier3].map((s) => s.serverId));
      expect(await store.undisplayed()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('envelopes received by a connection that dies before storing them are delivered again to the next one', async () => {
    const srv: TestServer = await res.server();
    const alice = await res.client(srv.url, 'alice');
    const bobKeys = await keysFor();
    const bob0 = await res.client(srv.url, 'bob', { keys: bobKeys });
    await bob0.client.close();
    await waitOffline(alice.client, 'bob');

    const bodies = ['lost in transit 1', 'lost in transit 2', 'lost in transit 3'];
    const sent = [];
    for (const body of bodies) sent.push(await alice.client.send('bob', body));
    expect(sent.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);

    // bob's "process": logged in over the wire, receives every envelope, stores nothing, acks nothing, dies.
    const doomed = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await waitUntil(() => (doomed.messages.length >= 3 ? true : undefined), 5000, 'the raw socket to receive the backlog');
    expect(doomed.messages.map((m) => m.id)).toEqual(sent.map((s) => s.serverId));
    doomed.socket.disconnect();
    await waitOffline(alice.client, 'bob');
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 3 });

    // A real client for bob, with an empty store: gets all three, once, in order, and acknowledges them.
    const bob: Recorded = await res.client(srv.url, 'bob', { keys: bobKeys });
    await waitUntil(() => (bob.received.length >= 3 ? true : undefined), 5000, 'the redelivered backlog');
    expect(bob.received.map((m) => m.body)).toEqual(bodies);
    expect(bob.received.map((m) => m.serverId)).toEqual(sent.map((s) => s.serverId));
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 5000, "bob's queue to empty");
    await waitUntil(() => (alice.delivered.length >= 3 ? true : undefined), 5000, 'three delivery receipts');
    const barrier = await clientBarrier(alice, bob);
    expect(bob.received.map((m) => m.body)).toEqual([...bodies, barrier]);
    expect(alice.delivered).toHaveLength(4);
    expect(doomed.messages).toHaveLength(3);
  });
});
