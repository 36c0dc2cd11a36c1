/**
 * End to end, real processes (issue 11, items 4 and 5): `receive --once` shows the backlog and exits 0
 * when the server says it ended (and still ends, after a quiet time, when a server never says it); read
 * receipts travel end to end from the reader's `receive` to the sender's history, and none travel with
 * --no-read-receipts or the read-receipts setting off.
 */
import { describe, expect, it } from 'vitest';
import { useHostileServer } from '../helpers/server-fixtures.js';
import type { RunResult } from './processes.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** A quiet time no test waits for: a run that ends before it ended because the backlog did. */
const NEVER = '600';

async function worldWith(name: string, users: readonly string[]): Promise<World> {
  const w = await World.create(procs, name);
  await w.startServer();
  for (const user of users) await w.createUser(user);
  return w;
}

async function sendAll(w: World, from: string, to: string, bodies: readonly string[]): Promise<void> {
  for (const body of bodies) {
    const sent = await w.send(from, to, body);
    expect(sent.code, sent.proc.describe()).toBe(0);
  }
}

/** `receive --once` with a quiet time it must not need: it ends because the backlog did. */
async function receiveOnce(w: World, user: string, ...args: string[]): Promise<RunResult> {
  const r = await w.cli(['receive', '--user', user, '--once', '--timeout', NEVER, ...args]);
  expect(r.code, r.proc.describe()).toBe(0);
  expect(r.stderr).not.toMatch(/did not say where its backlog ends/);
  return r;
}

/** `history peer --user user --json`: [body, status] per message. */
async function states(w: World, user: string, peer: string): Promise<Array<[string, string]>> {
  const r = await w.cli(['history', peer, '--user', user, '--json']);
  expect(r.code, r.proc.describe()).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { body: string; status: string })
    .map((l) => [l.body, l.status]);
}

describe('receive --once', () => {
  it('prints a backlog of 3 and exits 0; with nothing waiting it exits 0 at once', async () => {
    const w = await worldWith('once', ['alice', 'bob']);
    await sendAll(w, 'alice', 'bob', ['one', 'two', 'three']);

    const first = await receiveOnce(w, 'bob');
    expect(first.stdout).toBe('[alice] one\n[alice] two\n[alice] three\n');
    expect(first.stderr).toMatch(/^Listening as bob on .+\. Stops after the messages waiting now \(or 600 s without a message\)\.$/m);

    // Shown, committed and acknowledged: nothing waits any more, and the next run ends at once.
    const empty = await receiveOnce(w, 'bob');
    expect(empty.stdout).toBe('');
    const json = await receiveOnce(w, 'bob', '--json');
    expect(json.stdout).toBe('');
  }, 120_000);

  it('help says what --once relies on and how it still ends', async () => {
    const w = await World.create(procs, 'once-help');
    const help = await w.cli(['receive', '--help']);
    expect(help.stdout).toMatch(/--once +exit \(status 0\) after the backlog/);
    expect(help.stdout).toMatch(/That is the server's word, which the client cannot check/);
    expect(help.stdout).toMatch(/--once still stops after --timeout seconds without a message, or\n10 s without --timeout/);
  });
});

describe('receive --once against a server that never says where the backlog ends', () => {
  const servers = useHostileServer();

  it('shows the backlog, then stops after the quiet time with a notice, exit 0', async () => {
    const w = await World.create(procs, 'once-withheld', { serverUrl: servers.hostile.url });
    await w.createUser('bob-w');
    await w.createUser('alice-w');
    await sendAll(w, 'alice-w', 'bob-w', ['kept', 'going']);
    const remove = servers.hostile.onPush('backlog.end', () => []);
    try {
      const r = await w.cli(['receive', '--user', 'bob-w', '--once', '--timeout', '1']);
      expect(r.code, r.proc.describe()).toBe(0);
      expect(r.stdout).toBe('[alice-w] kept\n[alice-w] going\n');
      expect(r.stderr).toMatch(/^The server did not say where its backlog ends; stopped after 1 s without a message\.$/m);
    } finally {
      remove();
    }
  }, 60_000);
});

describe('read receipts between processes', () => {
  it("bob's receive shows alice's messages; alice's history then says read, and her receive reports it", async () => {
    const w = await worldWith('reads', ['alice', 'bob']);
    await sendAll(w, 'alice', 'bob', ['hello', 'again']);
    expect(await states(w, 'alice', 'bob')).toEqual([
      ['hello', 'queued'],
      ['again', 'queued'],
    ]);

    expect((await receiveOnce(w, 'bob')).stdout).toBe('[alice] hello\n[alice] again\n');
    // alice's client learns it from bob's receipt, which waits in her backlog: no message is shown.
    const alice = await receiveOnce(w, 'alice', '--json');
    const lines = alice.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.type !== 'delivered')).toEqual([
      { type: 'read', id: expect.any(String), to: 'bob', readAt: expect.any(Number) },
      { type: 'read', id: expect.any(String), to: 'bob', readAt: expect.any(Number) },
    ]);
    expect(await states(w, 'alice', 'bob')).toEqual([
      ['hello', 'read'],
      ['again', 'read'],
    ]);
    const text = await w.cli(['history', 'bob', '--user', 'alice']);
    expect(text.stdout).toMatch(/^\S+ \S+ {2}alice -> bob {2}\[read\] {2}hello$/m);
    // Neither side's history holds the receipt itself.
    expect(await states(w, 'bob', 'alice')).toEqual([
      ['hello', 'received'],
      ['again', 'received'],
    ]);
  }, 120_000);

  it('none is sent with --no-read-receipts, nor with the setting off; the setting can be turned on again', async () => {
    const w = await worldWith('no-reads', ['alice', 'bob']);

    await sendAll(w, 'alice', 'bob', ['not told']);
    expect((await receiveOnce(w, 'bob', '--no-read-receipts')).stdout).toBe('[alice] not told\n');

    const off = await w.cli(['settings', 'read-receipts', 'off', '--user', 'bob']);
    expect(off.code, off.proc.describe()).toBe(0);
    expect(off.stdout).toBe('read-receipts off\n');
    expect((await w.cli(['settings', '--user', 'bob'])).stdout).toBe('read-receipts off\n');
    await sendAll(w, 'alice', 'bob', ['not told either']);
    expect((await receiveOnce(w, 'bob')).stdout).toBe('[alice] not told either\n');

    // Barrier: a message bob sends after both runs ended. A receipt from either run would have been
    // accepted by the server before it, and alice's backlog delivers in that order.
    await sendAll(w, 'bob', 'alice', ['barrier']);
    const alice = await receiveOnce(w, 'alice', '--json');
    expect(alice.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type).filter((t) => t !== 'delivered')).toEqual(['message']);
    expect(await states(w, 'alice', 'bob')).toEqual([
      ['not told', 'delivered'],
      ['not told either', 'delivered'],
      ['barrier', 'received'],
    ]);

    expect((await w.cli(['settings', 'read-receipts', 'on', '--user', 'bob'])).stdout).toBe('read-receipts on\n');
    await sendAll(w, 'alice', 'bob', ['told']);
    expect((await receiveOnce(w, 'bob')).stdout).toBe('[alice] told\n');
    await receiveOnce(w, 'alice');
    expect((await states(w, 'alice', 'bob')).at(-1)).toEqual(['told', 'read']);

    const bad = await w.cli(['settings', 'read-receipts', 'maybe', '--user', 'bob']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/read-receipts is "on" or "off", not "maybe"/);
  }, 180_000);
});
