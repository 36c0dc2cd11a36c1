/**
 * End to end, real processes: a message that cannot be read is never silently consumed. A command that
 * merely connects (`users`) records it; `receive` shows it once ("could not be read"); a message refused
 * because its sender's keys changed is opened by `trust` and shown by the next `receive` (issue 9, hole 6).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Proc } from './processes.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** Runs `receive` until it has printed `until` (or just started, when undefined), then stops it. */
async function receiveOnce(w: World, user: string, until?: { stream: 'stdout' | 'stderr'; pattern: RegExp }): Promise<Proc> {
  const receiver = await w.startReceiver(user);
  if (until) await receiver.waitFor(until.stream, until.pattern);
  expect((await receiver.stop()).code).toBe(0);
  return receiver;
}

/**
 * bob and alice exchange a message on a first server; then alice loses her keys and the server is
 * replaced by one with an empty directory (or one that lies), where bob has pinned alice's old keys.
 */
async function aliceLosesHerKeysAfterTalkingToBob(w: World): Promise<void> {
  const first = await w.startServer({ data: 'data-1' });
  await receiveOnce(w, 'bob');
  await w.createUser('alice');
  expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'before'])).code).toBe(0);
  await receiveOnce(w, 'bob', { stream: 'stdout', pattern: /^\[alice\] before$/m });
  expect((await first.stop()).code).toBe(0);
  rmSync(join(w.home, 'alice'), { recursive: true, force: true });
  await w.startServer({ data: 'data-2' });
}

const KEY_CHANGE_LINE = /^! a message from alice could not be read: alice's keys have changed; it is kept sealed until you accept them with "e2ee-chat trust alice"/m;

describe('unreadable messages in the CLI', () => {
  it('stored by a command that only connects, shown once by receive, opened after trust', async () => {
    const w = await World.create(procs, 'unreadable');
    await aliceLosesHerKeysAfterTalkingToBob(w);
    await receiveOnce(w, 'bob'); // bob registers again with his unchanged keys
    await w.createUser('alice'); // new keys
    const sent = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'after']);
    expect(sent.code, sent.proc.describe()).toBe(0);

    // `users` connects: if the envelope reaches it, it is recorded, not shown; either way it is not lost.
    const users = await w.cli(['users', '--user', 'bob']);
    expect(users.code, users.proc.describe()).toBe(0);
    expect(users.stderr).not.toMatch(/could not be read/);

    const shown = await receiveOnce(w, 'bob', { stream: 'stderr', pattern: KEY_CHANGE_LINE });
    expect(shown.stdout).toBe('');
    const again = await receiveOnce(w, 'bob');
    expect(again.stderr).not.toMatch(/could not be read/);

    const trusted = await w.cli(['trust', 'alice', '--user', 'bob', '--yes']);
    expect(trusted.code, trusted.proc.describe()).toBe(0);
    const opened = await receiveOnce(w, 'bob', { stream: 'stdout', pattern: /^\[alice\] after$/m });
    expect(opened.stdout).toBe('[alice] after\n');
  }, 90_000);

  it('send says "could not be read by bob" when bob refuses the message, not "delivered"', async () => {
    const w = await World.create(procs, 'unreadable-receipt');
    await aliceLosesHerKeysAfterTalkingToBob(w);
    await w.createUser('alice'); // new keys

    const bob = await w.startReceiver('bob');
    const sent = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--wait', '10', 'after']);
    expect(sent.code, sent.proc.describe()).toBe(0);
    expect(sent.stderr).toMatch(/^sent to bob, id [A-Za-z0-9_-]+$/m);
    expect(sent.stderr).toMatch(/^could not be read by bob: your keys differ from the ones bob pinned; it is kept until they accept them \("e2ee-chat trust alice"\), id /m);
    expect(sent.stderr).not.toMatch(/delivered/);
    await bob.waitFor('stderr', KEY_CHANGE_LINE);
  }, 90_000);
});
