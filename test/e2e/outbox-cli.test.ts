/**
 * End to end, real processes: a message too large for the server is refused before it enters the outbox
 * (from the argument and from stdin), so it can no longer brick the sender; `e2ee-chat outbox` lists
 * failed entries and drops them (issue 9, hole 5).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Processes, assertBuilt, freePort, type Proc, type RunResult } from './processes.js';

const procs = new Processes();

beforeAll(() => assertBuilt());
afterEach(() => procs.cleanup());
afterAll(() => procs.removeDirs());

interface World {
  home: string;
  data: string;
  cwd: string;
  port: number;
  url: string;
}

async function newWorld(name: string): Promise<World> {
  const dir = procs.tempDir(name);
  const port = await freePort();
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  return { home: join(dir, 'home'), data: join(dir, 'data'), cwd, port, url: `http://127.0.0.1:${port}` };
}

async function startServer(w: World, env: Record<string, string> = {}): Promise<Proc> {
  const server = procs.spawn('server', ['server'], { cwd: w.cwd, env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data, ...env } });
  await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
  expect((await fetch(`${w.url}/health`)).status).toBe(200);
  return server;
}

const env = (w: World) => ({ E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url });

function cli(w: World, args: string[], input?: string): Promise<RunResult> {
  return procs.run(args.join(' ').slice(0, 60), args, { cwd: w.cwd, env: env(w), ...(input !== undefined && { input }) });
}

async function startReceiver(w: World, user: string): Promise<Proc> {
  const receiver = procs.spawn(`receive ${user}`, ['receive', '--user', user], { cwd: w.cwd, env: env(w) });
  await receiver.waitFor('stderr', /^Listening as /m);
  return receiver;
}

const TOO_LARGE = /^error \[envelope_too_large\]: (line 2 not sent: )?message is \d{3},\d{3} bytes sealed; the server accepts at most 65,536$/m;

describe('messages too large for the server', () => {
  it('a 100,000-character argument is refused with the limit, and the next message goes out', async () => {
    const w = await newWorld('toolarge-arg');
    await startServer(w);
    const bob = await startReceiver(w, 'bob');
    await procs.createUser('alice', { cwd: w.cwd, env: env(w) });
    const huge = await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'x'.repeat(100_000)]);
    expect(huge.code, huge.proc.describe()).toBe(1);
    expect(huge.stderr).toMatch(TOO_LARGE);
    expect(huge.stderr).not.toMatch(/unreachable|kept in the outbox/);

    const next = await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'small and fine']);
    expect(next.code, next.proc.describe()).toBe(0);
    expect(next.stderr).toMatch(/^sent to bob, id /m);
    await bob.waitFor('stdout', /^\[alice\] small and fine$/m);
    expect(bob.stdout).toBe('[alice] small and fine\n');
    const outbox = await cli(w, ['outbox', '--user', 'alice']);
    expect(outbox.stdout).toBe('The outbox is empty.\n');
  }, 60_000);

  it('via stdin: the long line is refused with the limit (not "server unreachable"), the lines around it go out', async () => {
    const w = await newWorld('toolarge-stdin');
    await startServer(w);
    const bob = await startReceiver(w, 'bob');
    await procs.createUser('alice', { cwd: w.cwd, env: env(w) });
    const r = await cli(w, ['send', '--user', 'alice', '--to', 'bob'], `before\n${'y'.repeat(100_000)}\nafter\n`);
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
    const w = await newWorld('outbox');
    await startServer(w, { E2EE_CHAT_QUEUE_MAX_COUNT: '1' });
    const bob = await startReceiver(w, 'bob');
    await procs.createUser('alice', { cwd: w.cwd, env: env(w) });
    await bob.stop();

    expect((await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'one'])).code).toBe(0);
    const refused = await cli(w, ['send', '--user', 'alice', '--to', 'bob', 'two']);
    expect(refused.code, refused.proc.describe()).toBe(1);
    expect(refused.stderr).toMatch(/^error \[quota_exceeded\]/m);

    const listed = await cli(w, ['outbox', '--user', 'alice']);
    expect(listed.code, listed.proc.describe()).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const [id] = lines[0]!.split(' ');
    expect(lines[0]).toMatch(/^[A-Za-z0-9_-]{22} {2}to bob {2}created \d{4}-\d\d-\d\dT[\d:.]+Z {2}failed \[quota_exceeded\]: /);

    // A later command goes on normally: the failed entry holds nothing back.
    expect((await cli(w, ['outbox', '--user', 'alice', '--drop', 'nosuchid0000000000000'])).code).toBe(1);
    const dropped = await cli(w, ['outbox', '--user', 'alice', '--drop-failed']);
    expect(dropped.stdout).toBe(`dropped ${id}\n`);
    expect((await cli(w, ['outbox', '--user', 'alice'])).stdout).toBe('The outbox is empty.\n');

    const help = await cli(w, ['outbox', '--help']);
    expect(help.stdout).toMatch(/--drop <id\.\.\.>/);
    expect(help.stdout).toMatch(/--drop-failed/);
    expect(help.stdout).toMatch(/pending and failed/);

    const nobody = await cli(w, ['outbox', '--user', 'carol']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^error \[no_local_user\]/m);
  }, 60_000);
});
