/**
 * End to end, real processes: a message too large for the server is refused before it enters the outbox
 * (from the argument and from stdin), so it can no longer brick the sender; `e2ee-chat outbox` lists
 * failed entries and drops them (issue 9, hole 5).
 */
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

const TOO_LARGE = /^error \[envelope_too_large\]: (line 2 not sent: )?message is \d{3},\d{3} bytes sealed; the server accepts at most 65,536$/m;

describe('messages too large for the server', () => {
  it('a 100,000-character argument is refused with the limit, and the next message goes out', async () => {
    const w = await World.create(procs, 'toolarge-arg');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    const huge = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'x'.repeat(100_000)]);
    expect(huge.code, huge.proc.describe()).toBe(1);
    expect(huge.stderr).toMatch(TOO_LARGE);
    expect(huge.stderr).not.toMatch(/unreachable|kept in the outbox/);

    const next = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'small and fine']);
    expect(next.code, next.proc.describe()).toBe(0);
    expect(next.stderr).toMatch(/^sent to bob, id /m);
    await bob.waitFor('stdout', /^\[alice\] small and fine$/m);
    expect(bob.stdout).toBe('[alice] small and fine\n');
    const outbox = await w.cli(['outbox', '--user', 'alice']);
    expect(outbox.stdout).toBe('The outbox is empty.\n');
  }, 60_000);

  it('via stdin: the long line is refused with the limit (not "server unreachable"), the lines around it go out', async () => {
    const w = await World.create(procs, 'toolarge-stdin');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    const r = await w.cli(['send', '--user', 'alice', '--to', 'bob'], { input: `before\n${'y'.repeat(100_000)}\nafter\n` });
    expect(r.code, r.proc.describe()).toBe(1);
    expect(r.stderr).toMatch(TOO_LARGE);
    expect(r.stderr).toMatch(/^error \[envelope_too_large\]: 1 message\(s\) not sent \(see above\)$/m);
    expect(r.stderr).not.toMatch(/unreachable/);
    await bob.waitFor('stdout', /^\[alice\] after$/m);
    expect(bob.stdout).toBe('[alice] before\n[alice] after\n');
  }, 60_000);
});

describe('e2ee-chat outbox', () => {
  it('lists a failed entry with its reason, drops it, and says what it does in --help', async () => {
    const w = await World.create(procs, 'outbox');
    await w.startServer({ env: { E2EE_CHAT_QUEUE_MAX_COUNT: '1' } });
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    await bob.stop();

    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'one'])).code).toBe(0);
    const refused = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'two']);
    expect(refused.code, refused.proc.describe()).toBe(1);
    expect(refused.stderr).toMatch(/^error \[quota_exceeded\]/m);

    const listed = await w.cli(['outbox', '--user', 'alice']);
    expect(listed.code, listed.proc.describe()).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const [id] = lines[0]!.split(' ');
    expect(lines[0]).toMatch(/^[A-Za-z0-9_-]{22} {2}to bob {2}created \d{4}-\d\d-\d\dT[\d:.]+Z {2}failed \[quota_exceeded\]: /);

    // A later command goes on normally: the failed entry holds nothing back.
    expect((await w.cli(['outbox', '--user', 'alice', '--drop', 'nosuchid0000000000000'])).code).toBe(1);
    const dropped = await w.cli(['outbox', '--user', 'alice', '--drop-failed']);
    expect(dropped.stdout).toBe(`dropped ${id}\n`);
    expect((await w.cli(['outbox', '--user', 'alice'])).stdout).toBe('The outbox is empty.\n');

    const help = await w.cli(['outbox', '--help']);
    expect(help.stdout).toMatch(/--drop <id\.\.\.>/);
    expect(help.stdout).toMatch(/--drop-failed/);
    expect(help.stdout).toMatch(/pending and failed/);

    const nobody = await w.cli(['outbox', '--user', 'carol']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^error \[no_local_user\]/m);
  }, 60_000);
});
