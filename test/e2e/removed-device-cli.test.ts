/**
 * End to end, real processes (design §6.9): a linked laptop removed with `devices remove` says
 * "this device was removed from alice's devices" and exits 1, whether it was running (`receive`, `chat`:
 * the server's `device.removed`) or starts afterwards (`receive`, `send`: `unknown_device` at login); its
 * history stays in its folder, and linking the machine again from a new folder, as the message says,
 * works. What the library does on removal is test/client/device-removed.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Proc } from './processes.js';
import { World, useProcesses, type Env } from './world.js';

const procs = useProcesses();

/** What every command prints (stderr) for a removed device of `user`, the folder filled in. */
const removedLine = (user: string) =>
  new RegExp(
    `^error \\[unknown_device\\]: this device was removed from ${user}'s devices; its history stays in this folder \\(.+\\); ` +
      `to link this machine again, run \`e2ee-chat link --user ${user} --home NEW_DIR\` with a new, empty folder$`,
    'm',
  );

/** Links the home folder `home` (in the world's folder) to `user`'s account (`link` there, `devices approve` here); returns its env. */
async function linkLaptop(w: World, user: string, home: string): Promise<Env> {
  const laptop = w.env({ E2EE_CHAT_HOME: join(w.dir, home) });
  const link = w.procs.spawn(`link ${user}`, ['link', '--user', user, '--name', 'laptop'], { cwd: w.cwd, env: laptop });
  const [, code] = await link.waitFor('stdout', /^code: (\S+)$/m);
  const approve = await w.cli(['devices', 'approve', code!, '--user', user]);
  expect(approve.code, approve.proc.describe()).toBe(0);
  expect((await link.waitForExit()).code, link.describe()).toBe(0);
  return laptop;
}

describe('a removed device on the command line', () => {
  it('receive and chat running on the laptop stop with exit 1 when it is removed; later runs are refused the same way; its history stays', async () => {
    const w = await World.create(procs, 'removed');
    await w.startServer();
    await w.createUser('alice');
    await w.createUser('bob');
    const laptop = await linkLaptop(w, 'alice', 'laptop-home');

    const receiver = await w.startReceiver('alice', { env: laptop });
    expect((await w.send('bob', 'alice', 'before the removal')).code).toBe(0);
    await receiver.waitFor('stdout', /^\[bob\] before the removal$/m);
    // Started only now: two processes of one device show each message once between them, so a chat
    // running already could have been the one to take bob's message.
    const chat = procs.spawn('chat alice (laptop)', ['chat', '--user', 'alice'], { cwd: w.cwd, env: w.env(laptop), keepStdinOpen: true });
    await chat.waitFor('stdout', /^No peer chosen/m);

    const removal = await w.cli(['devices', 'remove', '2', '--user', 'alice']);
    expect(removal.code, removal.proc.describe()).toBe(0);
    for (const running of [receiver, chat] as Proc[]) {
      expect((await running.waitForExit()).code, running.describe()).toBe(1);
      expect(running.stderr).toMatch(removedLine('alice'));
      // Stopped for good, not a dropped connection: nothing claims to reconnect.
      expect(running.stderr + running.stdout).not.toMatch(/reconnecting/);
    }

    const later = await w.cli(['receive', '--user', 'alice', '--once'], { env: laptop });
    expect(later.code, later.proc.describe()).toBe(1);
    expect(later.stderr).toMatch(removedLine('alice'));
    expect(later.stderr).toContain(join(w.dir, 'laptop-home'));
    const sent = await w.send('alice', 'bob', 'after the removal', { env: laptop });
    expect(sent.code, sent.proc.describe()).toBe(1);
    expect(sent.stderr).toMatch(removedLine('alice'));

    const json = await w.cli(['receive', '--user', 'alice', '--once', '--json'], { env: laptop });
    expect(json.code, json.proc.describe()).toBe(1);
    const lines = json.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([{ type: 'error', code: 'unknown_device', message: expect.stringMatching(/^this device was removed from alice's devices; /), line: null }]);

    const history = await w.cli(['history', 'bob', '--user', 'alice', '--json'], { env: laptop });
    expect(history.code, history.proc.describe()).toBe(0);
    expect(history.stdout).toContain('"body":"before the removal"');

    // What the message says to do works: the machine, linked again from a new folder, is device 3.
    const again = await linkLaptop(w, 'alice', 'laptop-home-2');
    const listed = await w.cli(['devices', '--user', 'alice'], { env: again });
    expect(listed.stdout, listed.proc.describe()).toMatch(/^ {2}1 {2}primary .*\n\* 3 {2}laptop /);
  }, 120_000);
});
