/**
 * End-to-end against a lying server: real `e2ee-chat` processes talk to the hostile-server harness,
 * which stands in front of a real test server. The honest peers (bob, mallory) are library clients on
 * the real server. Build first (`npm test` does).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PinnedPeer } from '../../src/client/stores.js';
import { HostileServer } from '../helpers/hostile-server.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { Processes, assertBuilt, type Proc, type RunResult } from './processes.js';

const procs = new Processes();
let srv: TestServer;
let hostile: HostileServer;
let bob: TestClient;
let mallory: TestClient;
const removers: Array<() => void> = [];

beforeAll(async () => {
  assertBuilt();
  srv = await startTestServer();
  hostile = await HostileServer.start(srv.url);
  bob = await connectTestClient(srv.url, 'bob', { keys: await keysFor(true) });
  mallory = await connectTestClient(srv.url, 'mallory', { keys: await keysFor(true) });
});
afterEach(async () => {
  for (const remove of removers.splice(0)) remove();
  await procs.cleanup();
});
afterAll(async () => {
  await bob.client.close();
  await mallory.client.close();
  await hostile.close();
  await srv.stop();
  removeDir(srv.dataDir);
  procs.removeDirs();
});

/** One test's key home and working directory; every process talks to the hostile server. */
interface World {
  home: string;
  cwd: string;
}

function newWorld(name: string): World {
  const dir = procs.tempDir(name);
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd);
  return { home: join(dir, 'home'), cwd };
}

function cli(w: World, args: string[], input?: string): Promise<RunResult> {
  return procs.run(args.join(' '), args, { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: hostile.url }, ...(input !== undefined && { input }) });
}

function receive(w: World, user: string): Proc {
  return procs.spawn(`receive ${user}`, ['receive', '--user', user], { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: hostile.url } });
}

/** Creates `user`'s keys and registers them, the one way the CLI allows: a first `receive`. */
async function createUser(w: World, user: string): Promise<void> {
  const r = receive(w, user);
  await r.waitFor('stderr', new RegExp(`^Listening as ${user} `, 'm'));
  expect((await r.stop('SIGTERM')).code).toBe(0);
}

function pins(w: World, user: string): Record<string, PinnedPeer> {
  const file = join(w.home, user, 'peers.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { peers: Record<string, PinnedPeer> }).peers : {};
}

const named = (payload: unknown): string => (payload as { username: string }).username;

/** Every answer about bob becomes mallory's real answer, labelled mallory. */
function substituteMalloryForBob(): void {
  for (const event of ['keys', 'prekeys.bundle'] as const) {
    removers.push(hostile.onAnswer(event, async (answer, payload, conn) => (named(payload) === 'bob' ? conn.ask(event, { username: 'mallory' }) : answer)));
  }
}

function expectFailure(r: RunResult, code: string): void {
  expect(r.code, r.proc.describe()).toBe(1);
  expect(r.stderr, r.proc.describe()).toMatch(new RegExp(`^error \\[${code}\\]: `, 'm'));
}

describe('the CLI against a server that substitutes keys', () => {
  for (const mode of ['ratchet', 'hybrid'] as const) {
    it(`send --to bob refuses mallory's keys given under mallory's name (${mode})`, async () => {
      const w = newWorld(`subst-${mode}`);
      const alice = `alice-${mode}`;
      await createUser(w, alice);
      substituteMalloryForBob();
      const r = await cli(w, ['send', '--user', alice, '--to', 'bob', '--mode', mode, 'for bob only']);
      expectFailure(r, 'bad_response');
      expect(r.stderr).toContain('with the keys of "mallory"');
      expect(pins(w, alice)).toEqual({});
      expect(hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === alice)).toEqual([]);
    });
  }

  it('verify bob refuses the substituted keys and marks nothing verified', async () => {
    const w = newWorld('subst-verify');
    await createUser(w, 'alice-v');
    substituteMalloryForBob();
    const r = await cli(w, ['verify', 'bob', '--user', 'alice-v', '--yes']);
    expectFailure(r, 'bad_response');
    expect(r.stdout).not.toMatch(/verified/);
    expect(pins(w, 'alice-v')).toEqual({});
  });
});
