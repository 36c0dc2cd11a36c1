/**
 * End-to-end against a lying server: real `e2ee-chat` processes talk to the hostile-server harness,
 * which stands in front of a real test server. The honest peers (bob, mallory) are library clients on
 * the real server. Build first (`npm test` does).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint } from '../../src/client/fingerprint.js';
import type { PinnedPeer } from '../../src/client/stores.js';
import { ed25519PublicOf, jwkThumbprint, type Ed25519PublicJwk } from '../../src/crypto/keys.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { formatSafetyNumber, safetyNumber } from '../../src/e2ee/safety-number.js';
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

/** Answers the first question about bob honestly, every later one with mallory's keys relabelled "bob". */
function honestOnceThenMalloryAsBob(): void {
  let asked = 0;
  removers.push(
    hostile.onAnswer('keys', async (answer, payload, conn) => {
      if (named(payload) !== 'bob' || asked++ === 0) return answer;
      return { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' };
    }),
  );
}

/** Mallory's keys labelled "bob" for every question about bob (a first-contact impersonation). */
function malloryAsBob(): void {
  removers.push(hostile.onAnswer('keys', async (answer, payload, conn) => (named(payload) === 'bob' ? { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' } : answer)));
}

function ownSigningKey(w: World, user: string): Ed25519PublicJwk {
  return (JSON.parse(readFileSync(join(w.home, user, 'identity.json'), 'utf8')) as { public: { signingKey: Ed25519PublicJwk } }).public.signingKey;
}

/** The safety number `user` shares with the real bob, as bob's own screen shows it. */
function realSafetyNumber(w: World, user: string): string {
  return safetyNumber(
    { identityKey: base64urlDecode(ownSigningKey(w, user).x), username: user },
    { identityKey: base64urlDecode(bob.identity.keys.signing.x), username: 'bob' },
  );
}

const bobSigningX = () => bob.identity.keys.signing.x;

describe('trust pins what it showed; --expect for scripted verification', () => {
  it('trust pins exactly the keys it displayed, whatever a second answer would say', async () => {
    const w = newWorld('trust-shown');
    await createUser(w, 'alice-t');
    honestOnceThenMalloryAsBob();
    const r = await cli(w, ['trust', 'bob', '--user', 'alice-t', '--yes']);
    expect(r.code, r.proc.describe()).toBe(0);
    const shown = formatFingerprint(await jwkThumbprint(ed25519PublicOf(bob.identity.keys.signing)));
    expect(r.stderr).toContain(`  new signing    ${shown}`);
    expect(r.stderr).toContain(`  safety number  ${formatSafetyNumber(realSafetyNumber(w, 'alice-t'))}`);
    expect(pins(w, 'alice-t').bob?.signingKey.x).toBe(bobSigningX());
    expect(pins(w, 'alice-t').bob?.verified).toBe(false);
  });

  it('verify --expect marks bob verified only when the safety number matches, and changes nothing otherwise', async () => {
    const w = newWorld('verify-expect');
    await createUser(w, 'alice-e');
    const right = realSafetyNumber(w, 'alice-e');
    const wrong = (right[0] === '1' ? '2' : '1') + right.slice(1);

    const refused = await cli(w, ['verify', 'bob', '--user', 'alice-e', '--expect', wrong]);
    expectFailure(refused, 'peer_key_changed');
    expect(refused.stderr).toContain('is not the one expected');
    expect(pins(w, 'alice-e')).toEqual({});

    // A server that answers with mallory's keys labelled bob, at first contact: the number gives it away.
    malloryAsBob();
    const impersonated = await cli(w, ['verify', 'bob', '--user', 'alice-e', '--expect', right]);
    expectFailure(impersonated, 'peer_key_changed');
    expect(pins(w, 'alice-e')).toEqual({});
    for (const remove of removers.splice(0)) remove();

    const accepted = await cli(w, ['verify', 'bob', '--user', 'alice-e', '--expect', formatSafetyNumber(right)]);
    expect(accepted.code, accepted.proc.describe()).toBe(0);
    expect(accepted.stdout).toContain('bob is now verified.');
    expect(pins(w, 'alice-e').bob).toMatchObject({ verified: true, signingKey: { x: bobSigningX() } });

    const malformed = await cli(w, ['verify', 'bob', '--user', 'alice-e', '--expect', right.slice(1)]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('expected the 60-digit safety number');
  });

  it('trust --expect accepts only keys with the expected safety number, and records them verified', async () => {
    const w = newWorld('trust-expect');
    await createUser(w, 'alice-x');
    const right = realSafetyNumber(w, 'alice-x');
    malloryAsBob();
    const impersonated = await cli(w, ['trust', 'bob', '--user', 'alice-x', '--expect', right]);
    expectFailure(impersonated, 'peer_key_changed');
    expect(pins(w, 'alice-x')).toEqual({});
    for (const remove of removers.splice(0)) remove();

    const accepted = await cli(w, ['trust', 'bob', '--user', 'alice-x', '--expect', right]);
    expect(accepted.code, accepted.proc.describe()).toBe(0);
    expect(accepted.stdout).toContain('the safety number matches: verified');
    expect(pins(w, 'alice-x').bob).toMatchObject({ verified: true, signingKey: { x: bobSigningX() } });
  });
});

describe('receive against malformed server events', () => {
  it('a receive process ignores null, numbers, huge strings and wrong types in every event, stays alive and shows the next message', async () => {
    const w = newWorld('bad-frames');
    const carol = receive(w, 'carol-r');
    await carol.waitFor('stderr', /^Listening as carol-r /m);
    await hostile.waitForLogin('carol-r');
    const frames: unknown[] = [null, 42, 'x'.repeat(1_000_000), [], { id: 7, from: null }];
    for (const event of ['message', 'receipt', 'presence', 'prekeys.low', 'protocol_error']) {
      for (const frame of frames) expect(hostile.push('carol-r', event, frame)).toBe(1);
    }
    await bob.client.send('carol-r', 'still listening?');
    await carol.waitFor('stdout', /^\[bob\] still listening\?$/m);
    expect(carol.running, carol.describe()).toBe(true);
    expect((await carol.stop('SIGTERM')).code).toBe(0);
  });
});

describe('only receive creates and registers a user', () => {
  it('users, send, trust and verify on an unknown local user fail with no_local_user, say how to create one, and claim nothing', async () => {
    const w = newWorld('no-local-user');
    const commands = [
      ['users', '--user', 'eve'],
      ['send', '--user', 'eve', '--to', 'bob', 'hello'],
      ['trust', 'bob', '--user', 'eve', '--yes'],
      ['verify', 'bob', '--user', 'eve', '--yes'],
    ];
    for (const args of commands) {
      const r = await cli(w, args);
      expectFailure(r, 'no_local_user');
      expect(r.stderr).toContain('e2ee-chat receive --user eve');
    }
    expect(existsSync(join(w.home, 'eve', 'identity.json'))).toBe(false);
    expect(await srv.store.getUser('eve')).toBeUndefined();
  });

  it('receive with lost keys for a name taken on the server explains it instead of reporting bad_signature', async () => {
    const w = newWorld('lost-keys');
    const r = await procs.run('receive bob (new keys)', ['receive', '--user', 'bob'], { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home, E2EE_CHAT_SERVER: hostile.url } });
    expectFailure(r, 'username_taken');
    expect(r.stderr).toContain('that name belongs to other keys on this server');
    expect(r.stderr).toContain('restore your key folder');
    expect(r.stderr).not.toContain('bad_signature');
  });
});

describe('strings from the network or the disk reach the terminal escaped', () => {
  it('debug output escapes a server error text; folder paths are escaped', async () => {
    const w = newWorld('escapes');
    const home = join(w.home, 'x\u001b]0;owned\u0007y');
    const env = { E2EE_CHAT_HOME: home, E2EE_CHAT_SERVER: hostile.url, E2EE_CHAT_DEBUG: '1' };
    const carol = procs.spawn('receive carol-esc', ['receive', '--user', 'carol-esc'], { cwd: w.cwd, env });
    await carol.waitFor('stderr', /^Listening as carol-esc /m);
    expect(carol.stderr).toContain('Created keys for carol-esc in ');
    expect(carol.stderr).toContain('x\\u{1b}]0;owned\\u{7}y');
    await hostile.waitForLogin('carol-esc');
    hostile.push('carol-esc', 'protocol_error', { event: 'ack', error: { code: 'internal', message: 'evil \u001b[2J\u009b31m text' } });
    await bob.client.send('carol-esc', 'barrier');
    await carol.waitFor('stdout', /^\[bob\] barrier$/m);
    await carol.waitFor('stderr', /evil /);
    expect(carol.stderr).toContain('evil \\u{1b}[2J\\u{9b}31m text');
    expect(carol.stderr).not.toMatch(/[\u001b\u0007\u009b]/);
  });
});
