/**
 * End to end, real processes: `e2ee-chat chat` driven through pipes (stdin not a terminal, so it reads
 * line by line and prints the same lines it would print above a prompt) against a real server (issue 11,
 * item 1). Each write to a chat's stdin is one chunk: one line is one entry, several lines one message.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Proc } from './processes.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** A world with its server running. */
async function newWorld(name: string): Promise<World> {
  const w = await World.create(procs, name);
  await w.startServer();
  return w;
}

async function chat(w: World, user: string, to?: string): Promise<Proc> {
  const args = ['chat', '--user', user, ...(to ? ['--to', to] : [])];
  const proc = procs.spawn(`chat ${user}`, args, { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
  await proc.waitFor('stdout', /^(Talking to|No peer chosen)/m);
  return proc;
}

/** One chunk on the chat's stdin. */
const type = (p: Proc, text: string) => p.child.stdin!.write(text);

/** `[HH:MM] <name> text` as a pattern, anchored to a whole line. */
const said = (name: string, text: string) => new RegExp(`^\\[\\d{2}:\\d{2}\\] <${name}> ${text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$`, 'm');

describe('e2ee-chat chat (piped stdin)', () => {
  it('two users chat both ways: messages print as [HH:MM] <name> text, own ones are echoed and marked delivered, then read', async () => {
    const w = await newWorld('both-ways');
    await w.createUser('alice');
    await w.createUser('bob');
    const alice = await chat(w, 'alice', 'bob');
    const bob = await chat(w, 'bob', 'alice');

    type(alice, 'hello bob\n');
    await alice.waitFor('stdout', said('alice', 'hello bob'));
    await bob.waitFor('stdout', said('alice', 'hello bob'));
    await alice.waitFor('stdout', /^ {2}↳ delivered \(hello bob\)$/m);
    // bob's screen showed it: his client's read receipt reaches alice's screen.
    await alice.waitFor('stdout', /^ {2}↳ read \(hello bob\)$/m);

    type(bob, 'hi alice\n');
    await alice.waitFor('stdout', said('bob', 'hi alice'));
    await bob.waitFor('stdout', /^ {2}↳ delivered \(hi alice\)$/m);

    type(alice, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
    // Ctrl-C on a pipe is a SIGINT: the same clean exit.
    expect((await bob.stop('SIGINT')).code).toBe(0);
  });

  it('a pasted block of lines is one message with real newlines; the receiver shows it on several lines, indented under the text', async () => {
    const w = await newWorld('paste');
    await w.createUser('alice');
    await w.createUser('bob');
    const alice = await chat(w, 'alice', 'bob');
    const bob = await chat(w, 'bob', 'alice');

    type(alice, 'first line\nsecond line\nthird line\n');
    await bob.waitFor('stdout', /^\[\d{2}:\d{2}\] <alice> first line\n {16}second line\n {16}third line$/m);
    // A barrier: the next message arrives after the block, so nothing of the block can still be coming.
    type(alice, 'after\n');
    await bob.waitFor('stdout', said('alice', 'after'));
    expect(bob.stdout).not.toMatch(said('alice', 'second line'));
    type(alice, '/quit\n');
    type(bob, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
    expect((await bob.waitForExit()).code).toBe(0);

    const history = await w.cli(['history', 'alice', '--user', 'bob', '--json']);
    expect(history.code).toBe(0);
    const bodies = history.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { body: string }).body);
    expect(bodies).toEqual(['first line\nsecond line\nthird line', 'after']);
  });

  it('a message from another peer shows as an unread count and appears on /to; /history prints the conversation', async () => {
    const w = await newWorld('unread');
    for (const u of ['alice', 'bob', 'carol']) await w.createUser(u);
    const alice = await chat(w, 'alice', 'bob');

    expect((await w.cli(['send', '--user', 'carol', '--to', 'alice', 'psst from carol'])).code).toBe(0);
    expect((await w.cli(['send', '--user', 'carol', '--to', 'alice', 'are you there?'])).code).toBe(0);
    await alice.waitFor('stdout', /^\(2 unread from carol; \/to carol\)$/m);
    expect(alice.stdout).not.toMatch(said('carol', 'psst from carol'));

    type(alice, '/to carol\n');
    await alice.waitFor('stdout', /^Talking to carol\.$/m);
    await alice.waitFor('stdout', said('carol', 'are you there?'));
    expect(alice.stdout).toMatch(said('carol', 'psst from carol'));

    type(alice, 'yes, here\n');
    // carol has no process running: the server keeps the message until she connects.
    await alice.waitFor('stdout', /^  ↳ queued: carol is offline; the server keeps it until they connect \(yes, here\)$/m);
    const before = alice.stdout.length;
    type(alice, '/history 2\n');
    // History marks the stored state under the message: "  ↳ queued" alone (the live line said more).
    await alice.waitFor('stdout', /^\[\d{2}:\d{2}\] <alice> yes, here\n {2}↳ queued$/m);
    const shown = alice.stdout.slice(before);
    expect(shown).toMatch(said('carol', 'are you there?'));
    expect(shown).not.toMatch(said('carol', 'psst from carol'));

    type(alice, '/nonsense\n');
    await alice.waitFor('stdout', /^! unknown command \/nonsense; \/help lists the commands$/m);
    type(alice, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
  });

  it('on open, the last messages with the peer are shown from history; the end of piped input leaves with 0', async () => {
    const w = await newWorld('open');
    await w.createUser('alice');
    await w.createUser('bob');
    const receiver = procs.spawn('receive alice', ['receive', '--user', 'alice'], { cwd: w.cwd, env: w.env() });
    await receiver.waitFor('stderr', /^Listening as /m);
    // One send reading twelve lines (one message each): one process, not twelve.
    const notes = Array.from({ length: 12 }, (_, i) => `note ${i + 1}\n`).join('');
    expect((await w.cli(['send', '--user', 'bob', '--to', 'alice'], { input: notes })).code).toBe(0);
    await receiver.waitFor('stdout', /^\[bob\] note 12$/m);
    await receiver.stop('SIGTERM');

    const alice = procs.spawn('chat alice', ['chat', '--user', 'alice', '--to', 'bob'], { cwd: w.cwd, env: w.env(), input: '' });
    expect((await alice.waitForExit()).code).toBe(0);
    expect(alice.stdout).toMatch(said('bob', 'note 3'));
    expect(alice.stdout).toMatch(said('bob', 'note 12'));
    expect(alice.stdout).not.toMatch(said('bob', 'note 2'));
  });
  it('/users lists who is online; /verify prints the safety number as verify does and marks the peer verified on "y"', async () => {
    const w = await newWorld('verify');
    await w.createUser('alice');
    await w.createUser('bob');
    const bob = await chat(w, 'bob', 'alice');
    const alice = await chat(w, 'alice', 'bob');

    type(alice, '/users\n');
    await alice.waitFor('stdout', /^Online: (alice, bob|bob, alice)$/m);

    const expected = await w.cli(['verify', 'bob', '--user', 'alice']);
    const digits = expected.stdout.match(/^((?:\d{5} ?){12})$/m)?.[1];
    expect(digits).toBeDefined();
    type(alice, '/verify\n');
    await alice.waitFor('stdout', /^Does bob see the same number .*\[y\/N\]$/m);
    expect(alice.stdout).toContain(`Safety number for alice and bob:\n${digits}\n`);
    type(alice, 'y\n');
    await alice.waitFor('stdout', /^bob is now verified\.$/m);

    type(alice, '/quit\n');
    type(bob, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
    expect((await bob.waitForExit()).code).toBe(0);
    const keys = await w.cli(['keys', '--user', 'alice', '--json']);
    const bobKeys = keys.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { username: string; verified: boolean | null })
      .find((k) => k.username === 'bob');
    expect(bobKeys?.verified).toBe(true);
  });
  it('a message that cannot be read shows inline on both sides; /trust opens the one kept sealed', async () => {
    const w = await newWorld('unreadable');
    await w.createUser('alice');
    await w.createUser('bob');
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'before'])).code).toBe(0);
    const bobFirst = await chat(w, 'bob', 'alice');
    await bobFirst.waitFor('stdout', said('alice', 'before'));
    type(bobFirst, '/quit\n');
    expect((await bobFirst.waitForExit()).code).toBe(0);

    // alice loses her keys and the server is replaced by one with an empty directory: new keys for alice.
    await procs.cleanup(); // the first server is the only process left
    rmSync(join(w.home, 'alice'), { recursive: true, force: true });
    await w.startServer({ data: 'data-2' });
    await w.createUser('bob'); // bob registers again, same keys
    await w.createUser('alice');

    const bob = await chat(w, 'bob', 'alice');
    const alice = await chat(w, 'alice', 'bob');
    type(alice, 'after\n');
    await bob.waitFor('stdout', /^! a message from alice could not be read: alice's keys have changed; it is kept sealed until you accept them/m);
    await alice.waitFor('stdout', /^ {2}↳ could not be read by bob: your keys differ from the ones bob pinned; .* \(after\)$/m);
    expect(bob.stdout).not.toMatch(said('alice', 'after'));

    type(bob, '/trust\n');
    await bob.waitFor('stdout', /^Accept these keys for alice\? \[y\/N\]$/m);
    type(bob, 'y\n');
    await bob.waitFor('stdout', /^Now trusting alice's new keys\.$/m);
    await bob.waitFor('stdout', said('alice', 'after'));

    type(alice, '/quit\n');
    type(bob, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
    expect((await bob.waitForExit()).code).toBe(0);
  }, 90_000);
  it('messages that arrived while away are each shown once on open, even more than the last 10', async () => {
    const w = await newWorld('away');
    await w.createUser('alice');
    await w.createUser('bob');
    for (let i = 1; i <= 12; i++) expect((await w.cli(['send', '--user', 'bob', '--to', 'alice', `away ${i}`])).code).toBe(0);
    // A command that only connects may take (and store, unshown) some of them first.
    expect((await w.cli(['users', '--user', 'alice'])).code).toBe(0);

    const alice = await chat(w, 'alice', 'bob');
    for (let i = 1; i <= 12; i++) await alice.waitFor('stdout', said('bob', `away ${i}`));
    // A barrier: a message sent now arrives after everything from before.
    expect((await w.cli(['send', '--user', 'bob', '--to', 'alice', 'barrier'])).code).toBe(0);
    await alice.waitFor('stdout', said('bob', 'barrier'));
    for (let i = 1; i <= 12; i++) expect(alice.stdout.match(new RegExp(said('bob', `away ${i}`).source, 'gm'))).toHaveLength(1);
    type(alice, '/quit\n');
    expect((await alice.waitForExit()).code).toBe(0);
  }, 90_000);
});
