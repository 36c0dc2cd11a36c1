/**
 * End to end, real processes: a device removed from its user's list says so and exits non-zero (design
 * §6.9), at start (`unknown_device` at login) and while running (`device.removed`), and its history stays.
 *
 * The CLI cannot be a linked device yet (there is no `link` command to make such a folder), so the
 * removal is the word of a server in front of the real one: it refuses alice's login with
 * `unknown_device`, or pushes `device.removed` naming alice/1. The client believes both for its own
 * address, as it must (a server can refuse service anyway); what a real removal does to the library is
 * test/client/device-removed.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient } from '../helpers/test-clients.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** The lines every command prints for a removed device (stderr), the user and folder filled in. */
const REMOVED = (user: string) =>
  new RegExp(`^error \\[unknown_device\\]: this device was removed from ${user}'s devices; its history stays in this folder \\(.+\\); run \`e2ee-chat link --user ${user}\` to link it again$`, 'm');

const named = (payload: unknown) => (payload as { username?: string }).username;

describe('a removed device on the command line', () => {
  const servers = useHostileServer();

  it('receive refused at login with unknown_device says the device was removed and exits 1; --json adds an error line', async () => {
    const w = await World.create(procs, 'removed-start', { serverUrl: servers.hostile.url });
    await w.createUser('rd-alice');
    const unhook = servers.hostile.onAnswer('login', (answer, payload) =>
      named(payload) === 'rd-alice' ? { ok: false, error: { code: 'unknown_device', message: 'no such device' } } : answer,
    );
    try {
      const r = await w.cli(['receive', '--user', 'rd-alice', '--once']);
      expect(r.code, r.proc.describe()).toBe(1);
      expect(r.stderr).toMatch(REMOVED('rd-alice'));
      expect(r.stderr).toContain(w.home);

      const json = await w.cli(['receive', '--user', 'rd-alice', '--once', '--json']);
      expect(json.code, json.proc.describe()).toBe(1);
      const lines = json.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toEqual([{ type: 'error', code: 'unknown_device', message: expect.stringMatching(/^this device was removed from rd-alice's devices; /), line: null }]);
    } finally {
      unhook();
    }
  }, 60_000);

  it('receive told while running that this device was removed exits 1 saying so, and its history stays', async () => {
    const w = await World.create(procs, 'removed-running', { serverUrl: servers.hostile.url });
    await w.createUser('rd-bob');
    const carol = await connectTestClient(servers.srv.url, 'rd-carol');
    try {
      const receiver = await w.startReceiver('rd-bob');
      await carol.client.send('rd-bob', 'before the removal');
      await receiver.waitFor('stdout', /^\[rd-carol\] before the removal$/m);

      expect(servers.hostile.push({ user: 'rd-bob', device: 1 }, 'device.removed', { username: 'rd-bob', device: 1, version: 2 })).toBe(1);
      const exit = await receiver.waitForExit();
      expect(exit.code, receiver.describe()).toBe(1);
      expect(receiver.stderr).toMatch(REMOVED('rd-bob'));
      // Not a dropped connection: it does not claim to reconnect.
      expect(receiver.stderr).not.toMatch(/reconnecting/);

      const history = await w.cli(['history', 'rd-carol', '--user', 'rd-bob', '--json']);
      expect(history.code, history.proc.describe()).toBe(0);
      expect(history.stdout).toContain('"body":"before the removal"');
    } finally {
      await carol.client.close();
    }
  }, 60_000);

  it('chat told while running that this device was removed leaves, saying so, with exit 1', async () => {
    const w = await World.create(procs, 'removed-chat', { serverUrl: servers.hostile.url });
    await w.createUser('rd-dan');
    const chat = procs.spawn('chat rd-dan', ['chat', '--user', 'rd-dan'], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    await chat.waitFor('stdout', /^No peer chosen/m);
    await servers.hostile.waitForLogin('rd-dan');
    servers.hostile.push({ user: 'rd-dan', device: 1 }, 'device.removed', { username: 'rd-dan', device: 1, version: 2 });
    const exit = await chat.waitForExit();
    expect(exit.code, chat.describe()).toBe(1);
    expect(chat.stderr).toMatch(REMOVED('rd-dan'));
  }, 60_000);
});
