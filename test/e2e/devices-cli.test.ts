/**
 * End to end, real processes: `e2ee-chat devices` lists the user's devices from the signed list its
 * client verified, this one marked (issue 10, item 3). A user made by `receive` has its primary alone.
 * `e2ee-chat link` in a second home folder and `devices approve` on the first make that folder alice's
 * device 2, which then reads and writes as alice; `devices remove` takes it away again. With
 * `--history N` the laptop shows the last N messages as history.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { World, useProcesses, type Env } from './world.js';

const procs = useProcesses();

describe('e2ee-chat devices', () => {
  it('lists the primary of a user made by receive, marked current; --json gives one device line', async () => {
    const w = await World.create(procs, 'devices');
    await w.startServer();
    await w.createUser('alice');

    const listed = await w.cli(['devices', '--user', 'alice']);
    expect(listed.code, listed.proc.describe()).toBe(0);
    expect(listed.stdout).toMatch(/^\* 1  primary  added \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  last seen now\n$/);

    const json = await w.cli(['devices', '--user', 'alice', '--json']);
    expect(json.code, json.proc.describe()).toBe(0);
    const lines = json.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ type: 'device', device: 1, name: 'primary', addedAt: expect.any(Number), lastSeenAt: expect.any(Number), current: true });

    const help = await w.cli(['devices', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: e2ee-chat devices /m);
    expect(help.stdout).toMatch(/server's word/);
  }, 60_000);
});

/** The safety-number line `verify` prints (12 groups of five digits). */
const SAFETY_NUMBER = /^(\d{5}(?: \d{5}){11})$/m;

/**
 * Links a second folder to `user`'s account: `link` there, `devices approve` on the first (with
 * `approveArgs`); returns the laptop's env, and both commands' output.
 */
async function linkLaptop(w: World, user: string, approveArgs: readonly string[] = []): Promise<{ env: Env; approved: string; linked: string }> {
  const laptop = w.env({ E2EE_CHAT_HOME: join(w.dir, 'laptop-home') });
  const link = w.procs.spawn(`link ${user}`, ['link', '--user', user, '--name', 'laptop'], { cwd: w.cwd, env: laptop });
  const [, code] = await link.waitFor('stdout', /^code: (\S+)$/m);
  const approve = await w.cli(['devices', 'approve', code!, '--user', user, ...approveArgs]);
  expect(approve.code, approve.proc.describe()).toBe(0);
  expect(approve.stdout).toMatch(/^new device "laptop", key [0-9a-f]{4}( [0-9a-f]{4}){3}$/m);
  expect(approve.stdout).toContain(`added as ${user}'s device 2; device list version 2`);
  // Both sides show the same short fingerprint of the new device's key.
  const shown = approve.stdout.match(/key ([0-9a-f ]{19})/)![1]!;
  const exit = await link.waitForExit();
  expect(exit.code, link.describe()).toBe(0);
  expect(link.stdout).toContain(`and check that it shows this device's key: ${shown}`);
  expect(link.stdout).toContain(`linked as ${user}, device 2 ("laptop")`);
  // No passphrase in this environment: said, as for a user made by receive.
  expect(link.stderr).toMatch(/^WARNING: this device's private keys are stored WITHOUT a passphrase in /m);
  return { env: laptop, approved: approve.stdout, linked: link.stdout };
}

describe('e2ee-chat link and devices approve / remove', () => {
  it("a linked laptop reads what bob sends, its own messages show on alice's first device, and the safety number stays", async () => {
    const w = await World.create(procs, 'link');
    await w.startServer();
    await w.createUser('alice');
    await w.createUser('bob');
    const numberBefore = (await w.cli(['verify', 'bob', '--user', 'alice'])).stdout.match(SAFETY_NUMBER)?.[1];
    expect(numberBefore).toBeDefined();

    const { env: laptop } = await linkLaptop(w, 'alice');
    const listed = await w.cli(['devices', '--user', 'alice'], { env: laptop });
    expect(listed.stdout).toMatch(/^ {2}1 {2}primary .*\n\* 2 {2}laptop {3}added /);

    expect((await w.send('bob', 'alice', 'to both of you')).code).toBe(0);
    for (const env of [{}, laptop]) {
      const received = await w.cli(['receive', '--user', 'alice', '--once'], { env });
      expect(received.stdout.match(/\[bob\] to both of you/g), received.proc.describe()).toHaveLength(1);
    }

    expect((await w.send('alice', 'bob', 'from the laptop', { env: laptop })).code).toBe(0);
    const first = await w.cli(['receive', '--user', 'alice', '--once']);
    expect(first.stdout, first.proc.describe()).toContain('[alice → bob] from the laptop');
    const bob = await w.cli(['receive', '--user', 'bob', '--once']);
    expect(bob.stdout).toContain('[alice] from the laptop');

    for (const env of [{}, laptop]) {
      const number = (await w.cli(['verify', 'bob', '--user', 'alice'], { env })).stdout.match(SAFETY_NUMBER)?.[1];
      expect(number).toBe(numberBefore);
    }

    // Removed, the laptop gets nothing new; bob's next message reaches alice's first device, and the
    // safety number is still the same on both sides.
    const removed = await w.cli(['devices', 'remove', '2', '--user', 'alice']);
    expect(removed.stdout, removed.proc.describe()).toContain("removed alice's device 2 (\"laptop\"); device list version 3");
    expect((await w.send('bob', 'alice', 'after the removal')).code).toBe(0);
    const afterwards = await w.cli(['receive', '--user', 'alice', '--once']);
    expect(afterwards.stdout.match(/\[bob\] after the removal/g), afterwards.proc.describe()).toHaveLength(1);
    expect((await w.cli(['receive', '--user', 'alice', '--once'], { env: laptop })).code).toBe(1);
    const fromBob = (await w.cli(['verify', 'alice', '--user', 'bob'])).stdout.match(SAFETY_NUMBER)?.[1];
    expect(fromBob).toBe(numberBefore);
    expect((await w.cli(['verify', 'bob', '--user', 'alice'])).stdout.match(SAFETY_NUMBER)?.[1]).toBe(numberBefore);
  }, 120_000);

  it('a wrong code is refused on the first device and the new device fails too; nothing is listed', async () => {
    const w = await World.create(procs, 'link-wrong');
    await w.startServer();
    await w.createUser('alice');
    const laptop = w.env({ E2EE_CHAT_HOME: join(w.dir, 'laptop-home') });
    const link = w.procs.spawn('link alice', ['link', '--user', 'alice'], { cwd: w.cwd, env: laptop });
    const [, slot, secret] = await link.waitFor('stdout', /^code: (\d+)-(\S+)$/m);
    const wrong = `${slot}-${secret!.startsWith('0') ? '1' : '0'}${secret!.slice(1)}`;
    const approve = await w.cli(['devices', 'approve', wrong, '--user', 'alice']);
    expect(approve.code).not.toBe(0);
    expect(approve.stderr).toMatch(/error \[link_failed\]/);
    const exit = await link.waitForExit();
    expect(exit.code).not.toBe(0);
    expect(link.stderr).toMatch(/error \[link_failed\]/);
    const listed = await w.cli(['devices', '--user', 'alice', '--json']);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);
    // Nothing was written in the new device's folder: link can simply be run again.
    const again = w.procs.spawn('link alice again', ['link', '--user', 'alice'], { cwd: w.cwd, env: laptop });
    await again.waitFor('stdout', /^code: /m);
  }, 90_000);

  it('a device linked with --history 2 shows the last 2 messages in its history', async () => {
    const w = await World.create(procs, 'link-history');
    await w.startServer();
    await w.createUser('alice');
    await w.createUser('bob');
    expect((await w.send('alice', 'bob', 'before the window')).code).toBe(0);
    expect((await w.send('bob', 'alice', 'lunch?')).code).toBe(0);
    expect((await w.cli(['receive', '--user', 'alice', '--once'])).stdout).toContain('[bob] lunch?');
    expect((await w.send('alice', 'bob', 'yes, noon')).code).toBe(0);

    const { env: laptop, approved, linked } = await linkLaptop(w, 'alice', ['--history', '2']);
    expect(approved).toContain('sending the last 2 messages to device 2…');
    expect(approved).toContain('sent 2 messages of history to device 2');
    expect(linked).toContain('received 2 messages of history');

    const history = await w.cli(['history', 'bob', '--user', 'alice'], { env: laptop });
    expect(history.code, history.proc.describe()).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ {2}bob -> alice {2}\[received\] {2}lunch\?$/);
    expect(lines[1]).toMatch(/ {2}alice -> bob {2}\[.*\] {2}yes, noon$/);
    // History, not news: a receive on the laptop shows nothing of it.
    const received = await w.cli(['receive', '--user', 'alice', '--once'], { env: laptop });
    expect(received.stdout, received.proc.describe()).not.toContain('lunch?');
  }, 120_000);
});
