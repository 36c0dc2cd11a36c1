/**
 * End to end, real processes: `--user` is optional (issue 11, item 4). E2EE_CHAT_USER from the
 * environment or `.env` names the user, else the only user with keys in E2EE_CHAT_HOME; with none or
 * several the command stops and lists them. `receive` creates only a name it was given.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
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

async function startServer(w: World): Promise<Proc> {
  const server = procs.spawn('server', ['server'], { cwd: w.cwd, env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data } });
  await server.waitFor('stdout', /e2ee-chat server listening on port \d+/);
  return server;
}

const env = (w: World, extra: Record<string, string> = {}) => ({ E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: w.url, ...extra });

function cli(w: World, args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return procs.run(args.join(' ').slice(0, 60), args, { cwd: w.cwd, env: env(w, extra) });
}

/** `receive` with these settings until it listens; returns the name it listens as. */
async function receiveUntilListening(w: World, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const receiver = procs.spawn(`receive ${args.join(' ')}`, ['receive', ...args], { cwd: w.cwd, env: env(w, extra) });
  const [, name] = await receiver.waitFor('stderr', /^Listening as (\S+) /m);
  expect((await receiver.stop()).code).toBe(0);
  return name!;
}

describe('the default user', () => {
  it('comes from E2EE_CHAT_USER, then .env, then the only user in the home folder; --user wins', async () => {
    const w = await newWorld('default-user');
    await startServer(w);

    // No setting and no user: nothing to act as, and receive does not invent a name.
    const none = await cli(w, ['receive']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error \[no_local_user\]: no user given and no user has keys in .+; name one with --user NAME or E2EE_CHAT_USER=NAME/m);
    expect(existsSync(w.home)).toBe(false);

    // receive creates the user named by the environment...
    expect(await receiveUntilListening(w, [], { E2EE_CHAT_USER: 'alice' })).toBe('alice');
    // ...and the only user there is the default of every command.
    const keys = await cli(w, ['keys']);
    expect(keys.code, keys.proc.describe()).toBe(0);
    expect(keys.stdout).toMatch(/^alice \(private keys NOT passphrase-protected\)$/m);
    expect(await receiveUntilListening(w, [])).toBe('alice');

    // .env in the working directory names a new user, and receive creates it.
    writeFileSync(join(w.cwd, '.env'), 'E2EE_CHAT_USER=bob\n');
    expect(await receiveUntilListening(w, [])).toBe('bob');
    expect(readdirSync(w.home).sort()).toEqual(['alice', 'bob']);

    // send with no --user: bob, from .env.
    const sent = await cli(w, ['send', '--to', 'alice', 'from the default user']);
    expect(sent.code, sent.proc.describe()).toBe(0);
    expect(sent.stderr).toMatch(/^queued for alice/m);
    const bobHistory = await cli(w, ['history', 'alice', '--json']);
    expect(bobHistory.code, bobHistory.proc.describe()).toBe(0);
    expect(JSON.parse(bobHistory.stdout)).toMatchObject({ direction: 'out', from: 'bob', to: 'alice', status: 'queued', body: 'from the default user' });

    // The environment wins over .env, and --user over both.
    expect((await cli(w, ['keys'], { E2EE_CHAT_USER: 'alice' })).stdout).toMatch(/^alice \(/m);
    expect((await cli(w, ['keys', '--user', 'alice'])).stdout).toMatch(/^alice \(/m);
    expect((await cli(w, ['keys'])).stdout).toMatch(/^bob \(/m);
  }, 120_000);

  it('with several users and no setting, every command stops and lists them; receive never creates a guessed name', async () => {
    const w = await newWorld('several-users');
    await startServer(w);
    await procs.createUser('alice', { cwd: w.cwd, env: env(w) });
    await procs.createUser('bob', { cwd: w.cwd, env: env(w) });
    mkdirSync(join(w.home, 'not-a-user')); // a folder without keys is not a user

    for (const args of [['keys'], ['users'], ['history', 'alice'], ['outbox'], ['send', '--to', 'alice', 'x'], ['receive']]) {
      const r = await cli(w, args);
      expect(r.code, r.proc.describe()).toBe(1);
      expect(r.stderr).toMatch(/^error \[no_local_user\]: no user given and .+ holds several users \(alice, bob\); name one with --user NAME or E2EE_CHAT_USER=NAME/m);
      expect(r.stdout).toBe('');
    }
    expect(readdirSync(w.home).sort()).toEqual(['alice', 'bob', 'not-a-user']);

    // An invalid name in the setting is refused as such, not used as a path.
    const bad = await cli(w, ['keys'], { E2EE_CHAT_USER: '../alice' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error \[invalid_username\]/m);

    const help = await cli(w, ['keys', '--help']);
    expect(help.stdout).toMatch(/-u, --user <name>\s+your username [^]*default: the only\s+user in the home folder\s+\(env: E2EE_CHAT_USER\)/);
  }, 120_000);
});
