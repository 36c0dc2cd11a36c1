/**
 * End to end, real processes: a message that cannot be read is never silently consumed. A command that
 * merely connects (`users`) records it; `receive` shows it once ("could not be read"); a message refused
 * because its sender's keys changed is opened by `trust` and shown by the next `receive` (issue 9, hole 6).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Processes, assertBuilt, freePort, type Proc, type RunResult } from './processes.js';

const procs = new Processes();

beforeAll(() => assertBuilt());
afterEach(() => procs.cleanup());
afterAll(() => procs.removeDirs());

interface World {
  dir: string;
  home: string;
  cwd: string;
  port: number;
  url: string;
}

async function newWorld(name: string): Promise<World> {
  const dir = procs.tempDir(name);
  const port = await freePort();
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  return { dir, home: join(dir, 'home'), cwd, port, url: `http://127.0.0.1:${port}` };
}

async function startServer(w: World, data: string): Promise<Proc> {
  const server = procs.spawn(`server ${data}`, ['server'], { cwd: w.cwd, env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: join(w.dir, data) } });
  await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
  expect((await fetch(`${w.url}/health`)).status).toBe(200);
  return server;
}

function cli(w: World, args: string[]): Promise<RunResult> {
  return procs.run(args.join(' '), args, { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } });
}

/** Runs `receive` until it has printed `until` (or just started, when undefined), then stops it. */
async function receiveOnce(w: World, user: string, until?: { stream: 'stdout' | 'stderr'; pattern: RegExp }): Promise<Proc> {
  const receiver = procs.spawn(`receive ${user}`, ['receive', '--user', user], { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } });
  await receiver.waitFor('stderr', /^Listening as /m);
  if (until) await receiver.waitFor(until.stream, until.pattern);
  expect((await receiver.stop()).code).toBe(0);
  return receiver;
}

const KEY_CHANGE_LINE = /^! a message from alice could not be read: alice's keys have changed; it is kept sealed until you accept them with "e2ee-chat trust alice"/m;

describe('unreadable messages in the CLI', () => {
  it('stored by a command that only connects, shown once by receive, opened after trust', async () => {
    const w = await newWorld('unreadable');
    const first = await startServer(w, 'data-1');
    await receiveOnce(w, 'bob');
    await procs.createUser('alice', { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } });
    expect((await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'before'])).code).toBe(0);
    await receiveOnce(w, 'bob', { stream: 'stdout', pattern: /^\[alice\] before$/m });

    // alice loses her keys; the server is replaced by one with an empty directory (or one that lies).
    expect((await first.stop()).code).toBe(0);
    rmSync(join(w.home, 'alice'), { recursive: true, force: true });
    await startServer(w, 'data-2');
    await receiveOnce(w, 'bob'); // bob registers again with his unchanged keys
    await procs.createUser('alice', { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } }); // new keys
    const sent = await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'after']);
    expect(sent.code, sent.proc.describe()).toBe(0);

    // `users` connects: if the envelope reaches it, it is recorded, not shown; either way it is not lost.
    const users = await cli(w, ['users', '--user', 'bob']);
    expect(users.code, users.proc.describe()).toBe(0);
    expect(users.stderr).not.toMatch(/could not be read/);

    const shown = await receiveOnce(w, 'bob', { stream: 'stderr', pattern: KEY_CHANGE_LINE });
    expect(shown.stdout).toBe('');
    const again = await receiveOnce(w, 'bob');
    expect(again.stderr).not.toMatch(/could not be read/);

    const trusted = await cli(w, ['trust', 'alice', '--user', 'bob', '--yes']);
    expect(trusted.code, trusted.proc.describe()).toBe(0);
    const opened = await receiveOnce(w, 'bob', { stream: 'stdout', pattern: /^\[alice\] after$/m });
    expect(opened.stdout).toBe('[alice] after\n');
  }, 90_000);

  it('send says "could not be read by bob" when bob refuses the message, not "delivered"', async () => {
    const w = await newWorld('unreadable-receipt');
    const first = await startServer(w, 'data-1');
    await receiveOnce(w, 'bob');
    await procs.createUser('alice', { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } });
    expect((await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'before'])).code).toBe(0);
    await receiveOnce(w, 'bob', { stream: 'stdout', pattern: /^\[alice\] before$/m });
    expect((await first.stop()).code).toBe(0);
    rmSync(join(w.home, 'alice'), { recursive: true, force: true });
    await startServer(w, 'data-2');
    await procs.createUser('alice', { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } }); // new keys

    const bob = procs.spawn('receive bob', ['receive', '--user', 'bob'], { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url } });
    await bob.waitFor('stderr', /^Listening as /m);
    const sent = await procs.run('send alice->bob', ['send', '--user', 'alice', '--to', 'bob', '--wait', '10', 'after'], {
      cwd: w.cwd,
      env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url },
    });
    expect(sent.code, sent.proc.describe()).toBe(0);
    expect(sent.stderr).toMatch(/^sent to bob, id [A-Za-z0-9_-]+$/m);
    expect(sent.stderr).toMatch(/^could not be read by bob: your keys differ from the ones bob pinned; it is kept until they accept them \("e2ee-chat trust alice"\), id /m);
    expect(sent.stderr).not.toMatch(/delivered/);
    await bob.waitFor('stderr', KEY_CHANGE_LINE);
  }, 90_000);
});
