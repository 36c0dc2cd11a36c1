/**
 * End to end, real processes: `--user` is optional (issue 11, item 4). E2EE_CHAT_USER from the
 * environment or `.env` names the user, else the only user with keys in E2EE_CHAT_HOME; with none or
 * several the command stops and lists them. `receive` creates only a name it was given.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** `receive` with these settings until it listens; returns the name it listens as. */
async function receiveUntilListening(w: World, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const receiver = procs.spawn(`receive ${args.join(' ')}`, ['receive', ...args], { cwd: w.cwd, env: w.env(extra) });
  const [, name] = await receiver.waitFor('stderr', /^Listening as (\S+) /m);
  expect((await receiver.stop()).code).toBe(0);
  return name!;
}

describe('the default user', () => {
  it('comes from E2EE_CHAT_USER, then .env, then the only user in the home folder; --user wins', async () => {
    const w = await World.create(procs, 'default-user');
    await w.startServer();

    // No setting and no user: nothing to act as, and receive does not invent a name.
    const none = await w.cli(['receive']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error \[no_local_user\]: no user given and no user has keys in .+; name one with --user NAME or E2EE_CHAT_USER=NAME/m);
    expect(existsSync(w.home)).toBe(false);

    // receive creates the user named by the environment...
    expect(await receiveUntilListening(w, [], { E2EE_CHAT_USER: 'alice' })).toBe('alice');
    // ...and the only user there is the default of every command.
    const keys = await w.cli(['keys']);
    expect(keys.code, keys.proc.describe()).toBe(0);
    expect(keys.stdout).toMatch(/^alice \(private keys NOT passphrase-protected\)$/m);
    expect(await receiveUntilListening(w, [])).toBe('alice');

    // .env in the working directory names a new user, and receive creates it.
    writeFileSync(join(w.cwd, '.env'), 'E2EE_CHAT_USER=bob\n');
    expect(await receiveUntilListening(w, [])).toBe('bob');
    expect(readdirSync(w.home).sort()).toEqual(['alice', 'bob']);

    // send with no --user: bob, from .env.
    const sent = await w.cli(['send', '--to', 'alice', 'from the default user']);
    expect(sent.code, sent.proc.describe()).toBe(0);
    expect(sent.stderr).toMatch(/^queued for alice/m);
    const bobHistory = await w.cli(['history', 'alice', '--json']);
    expect(bobHistory.code, bobHistory.proc.describe()).toBe(0);
    expect(JSON.parse(bobHistory.stdout)).toMatchObject({ direction: 'out', from: 'bob', to: 'alice', status: 'queued', body: 'from the default user' });

    // The environment wins over .env, and --user over both.
    expect((await w.cli(['keys'], { env: { E2EE_CHAT_USER: 'alice' } })).stdout).toMatch(/^alice \(/m);
    expect((await w.cli(['keys', '--user', 'alice'])).stdout).toMatch(/^alice \(/m);
    expect((await w.cli(['keys'])).stdout).toMatch(/^bob \(/m);
  }, 120_000);

  it('with several users and no setting, every command stops and lists them; receive never creates a guessed name', async () => {
    const w = await World.create(procs, 'several-users');
    await w.startServer();
    await w.createUser('alice');
    await w.createUser('bob');
    mkdirSync(join(w.home, 'not-a-user')); // a folder without keys is not a user

    for (const args of [['keys'], ['users'], ['history', 'alice'], ['outbox'], ['send', '--to', 'alice', 'x'], ['receive']]) {
      const r = await w.cli(args);
      expect(r.code, r.proc.describe()).toBe(1);
      expect(r.stderr).toMatch(/^error \[no_local_user\]: no user given and .+ holds several users \(alice, bob\); name one with --user NAME or E2EE_CHAT_USER=NAME/m);
      expect(r.stdout).toBe('');
    }
    expect(readdirSync(w.home).sort()).toEqual(['alice', 'bob', 'not-a-user']);

    // An invalid name in the setting is refused as such, not used as a path.
    const bad = await w.cli(['keys'], { env: { E2EE_CHAT_USER: '../alice' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error \[invalid_username\]/m);

    const help = await w.cli(['keys', '--help']);
    expect(help.stdout).toMatch(/-u, --user <name>\s+your username [^]*default: the only\s+user in the home folder\s+\(env: E2EE_CHAT_USER\)/);
  }, 120_000);
});
