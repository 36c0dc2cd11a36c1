/**
 * End-to-end against a lying server: real `e2ee-chat` processes talk to the hostile-server harness,
 * which stands in front of a real test server. The honest peers (bob, mallory) are library clients on
 * the real server. Build first (`npm test` does).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint } from '../../src/client/fingerprint.js';
import type { PinnedPeer } from '../../src/client/stores.js';
import { ed25519PublicOf, jwkThumbprint, type Ed25519PublicJwk } from '../../src/crypto/keys.js';
import { base64urlDecode } from '../../src/crypto/bytes.js';
import { formatSafetyNumber, safetyNumber } from '../../src/e2ee/safety-number.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import type { RunResult } from './processes.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();
const servers = useHostileServer();
let bob: TestClient;
let mallory: TestClient;
const removers: Array<() => void> = [];

beforeAll(async () => {
  bob = servers.track(await connectTestClient(servers.srv.url, 'bob', { keys: await keysFor(true) }));
  mallory = servers.track(await connectTestClient(servers.srv.url, 'mallory', { keys: await keysFor(true) }));
});
afterEach(() => {
  for (const remove of removers.splice(0)) remove();
});

/** A world whose every process talks to the hostile server. */
function hostileWorld(name: string): Promise<World> {
  return World.create(procs, name, { serverUrl: servers.hostile.url });
}

/** The peers `user` pinned; the user's own account keys, pinned beside them for its own device list (PROTOCOL.md §21.2), are not a peer. */
function pins(w: World, user: string): Record<string, PinnedPeer> {
  const file = join(w.home, user, 'peers.json');
  const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { peers: Record<string, PinnedPeer> }).peers : {};
  return Object.fromEntries(Object.entries(all).filter(([name]) => name !== user));
}

const named = (payload: unknown): string => (payload as { username: string }).username;

/** Every answer about bob becomes mallory's real answer, labelled mallory. */
function substituteMalloryForBob(): void {
  for (const event of ['keys', 'prekeys.bundle'] as const) {
    removers.push(servers.hostile.onAnswer(event, async (answer, payload, conn) => (named(payload) === 'bob' ? conn.ask(event, { username: 'mallory' }) : answer)));
  }
}

function expectFailure(r: RunResult, code: string): void {
  expect(r.code, r.proc.describe()).toBe(1);
  expect(r.stderr, r.proc.describe()).toMatch(new RegExp(`^error \\[${code}\\]: `, 'm'));
}

describe('the CLI against a server that substitutes keys', () => {
  for (const mode of ['ratchet', 'hybrid'] as const) {
    it(`send --to bob refuses mallory's keys given under mallory's name (${mode})`, async () => {
      const w = await hostileWorld(`subst-${mode}`);
      const alice = `alice-${mode}`;
      await w.createUser(alice);
      substituteMalloryForBob();
      const r = await w.cli(['send', '--user', alice, '--to', 'bob', '--mode', mode, 'for bob only']);
      expectFailure(r, 'bad_response');
      expect(r.stderr).toContain('with the keys of "mallory"');
      expect(pins(w, alice)).toEqual({});
      expect(servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === alice)).toEqual([]);
    });
  }

  it('verify bob refuses the substituted keys and marks nothing verified', async () => {
    const w = await hostileWorld('subst-verify');
    await w.createUser('alice-v');
    substituteMalloryForBob();
    const r = await w.cli(['verify', 'bob', '--user', 'alice-v', '--yes']);
    expectFailure(r, 'bad_response');
    expect(r.stdout).not.toMatch(/verified/);
    expect(pins(w, 'alice-v')).toEqual({});
  });
});

/** Answers the first question about bob honestly, every later one with mallory's keys relabelled "bob". */
function honestOnceThenMalloryAsBob(): void {
  let asked = 0;
  removers.push(
    servers.hostile.onAnswer('keys', async (answer, payload, conn) => {
      if (named(payload) !== 'bob' || asked++ === 0) return answer;
      return { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' };
    }),
  );
}

/** Mallory's keys labelled "bob" for every question about bob (a first-contact impersonation). */
function malloryAsBob(): void {
  removers.push(servers.hostile.onAnswer('keys', async (answer, payload, conn) => (named(payload) === 'bob' ? { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' } : answer)));
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
    const w = await hostileWorld('trust-shown');
    await w.createUser('alice-t');
    honestOnceThenMalloryAsBob();
    const r = await w.cli(['trust', 'bob', '--user', 'alice-t', '--yes']);
    expect(r.code, r.proc.describe()).toBe(0);
    const shown = formatFingerprint(await jwkThumbprint(ed25519PublicOf(bob.identity.keys.signing)));
    expect(r.stderr).toContain(`  new signing    ${shown}`);
    expect(r.stderr).toContain(`  safety number  ${formatSafetyNumber(realSafetyNumber(w, 'alice-t'))}`);
    expect(pins(w, 'alice-t').bob?.signingKey.x).toBe(bobSigningX());
    expect(pins(w, 'alice-t').bob?.verified).toBe(false);
  });

  it('verify --expect marks bob verified only when the safety number matches, and changes nothing otherwise', async () => {
    const w = await hostileWorld('verify-expect');
    await w.createUser('alice-e');
    const right = realSafetyNumber(w, 'alice-e');
    const wrong = (right[0] === '1' ? '2' : '1') + right.slice(1);

    const refused = await w.cli(['verify', 'bob', '--user', 'alice-e', '--expect', wrong]);
    expectFailure(refused, 'peer_key_changed');
    expect(refused.stderr).toContain('is not the one expected');
    expect(pins(w, 'alice-e')).toEqual({});

    // A server that answers with mallory's keys labelled bob, at first contact: the number gives it away.
    malloryAsBob();
    const impersonated = await w.cli(['verify', 'bob', '--user', 'alice-e', '--expect', right]);
    expectFailure(impersonated, 'peer_key_changed');
    expect(pins(w, 'alice-e')).toEqual({});
    for (const remove of removers.splice(0)) remove();

    const accepted = await w.cli(['verify', 'bob', '--user', 'alice-e', '--expect', formatSafetyNumber(right)]);
    expect(accepted.code, accepted.proc.describe()).toBe(0);
    expect(accepted.stdout).toContain('bob is now verified.');
    expect(pins(w, 'alice-e').bob).toMatchObject({ verified: true, signingKey: { x: bobSigningX() } });

    const malformed = await w.cli(['verify', 'bob', '--user', 'alice-e', '--expect', right.slice(1)]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('expected the 60-digit safety number');
  });

  it('trust --expect accepts only keys with the expected safety number, and records them verified', async () => {
    const w = await hostileWorld('trust-expect');
    await w.createUser('alice-x');
    const right = realSafetyNumber(w, 'alice-x');
    malloryAsBob();
    const impersonated = await w.cli(['trust', 'bob', '--user', 'alice-x', '--expect', right]);
    expectFailure(impersonated, 'peer_key_changed');
    expect(pins(w, 'alice-x')).toEqual({});
    for (const remove of removers.splice(0)) remove();

    const accepted = await w.cli(['trust', 'bob', '--user', 'alice-x', '--expect', right]);
    expect(accepted.code, accepted.proc.describe()).toBe(0);
    expect(accepted.stdout).toContain('the safety number matches: verified');
    expect(pins(w, 'alice-x').bob).toMatchObject({ verified: true, signingKey: { x: bobSigningX() } });
  });
});

describe('receive against malformed server events', () => {
  it('a receive process ignores null, numbers, huge strings and wrong types in every event, stays alive and shows the next message', async () => {
    const w = await hostileWorld('bad-frames');
    const carol = w.spawnReceiver('carol-r');
    await carol.waitFor('stderr', /^Listening as carol-r /m);
    await servers.hostile.waitForLogin('carol-r');
    const frames: unknown[] = [null, 42, 'x'.repeat(1_000_000), [], { id: 7, from: null }];
    for (const event of ['message', 'receipt', 'presence', 'prekeys.low', 'protocol_error']) {
      for (const frame of frames) expect(servers.hostile.push('carol-r', event, frame)).toBe(1);
    }
    await bob.client.send('carol-r', 'still listening?');
    await carol.waitFor('stdout', /^\[bob\] still listening\?$/m);
    expect(carol.running, carol.describe()).toBe(true);
    expect((await carol.stop('SIGTERM')).code).toBe(0);
  });
});

describe('only receive creates and registers a user', () => {
  it('users, send, trust and verify on an unknown local user fail with no_local_user, say how to create one, and claim nothing', async () => {
    const w = await hostileWorld('no-local-user');
    const commands = [
      ['users', '--user', 'eve'],
      ['send', '--user', 'eve', '--to', 'bob', 'hello'],
      ['trust', 'bob', '--user', 'eve', '--yes'],
      ['verify', 'bob', '--user', 'eve', '--yes'],
    ];
    for (const args of commands) {
      const r = await w.cli(args);
      expectFailure(r, 'no_local_user');
      expect(r.stderr).toContain('e2ee-chat receive --user eve');
    }
    expect(existsSync(join(w.home, 'eve', 'identity.json'))).toBe(false);
    expect(await servers.srv.store.getUser('eve')).toBeUndefined();
  });

  it('receive with lost keys for a name taken on the server explains it instead of reporting bad_signature', async () => {
    const w = await hostileWorld('lost-keys');
    const r = await w.cli(['receive', '--user', 'bob'], { label: 'receive bob (new keys)' });
    expectFailure(r, 'username_taken');
    expect(r.stderr).toContain('that name belongs to other keys on this server');
    expect(r.stderr).toContain('restore your key folder');
    expect(r.stderr).not.toContain('bad_signature');
  });
});

describe('strings from the network or the disk reach the terminal escaped', () => {
  it('debug output escapes a server error text; folder paths are escaped', async () => {
    const w = await hostileWorld('escapes');
    const home = join(w.home, 'x\u001b]0;owned\u0007y');
    const carol = w.spawnReceiver('carol-esc', { env: { E2EE_CHAT_HOME: home, E2EE_CHAT_DEBUG: '1' } });
    await carol.waitFor('stderr', /^Listening as carol-esc /m);
    expect(carol.stderr).toContain('Created keys for carol-esc in ');
    expect(carol.stderr).toContain('x\\u{1b}]0;owned\\u{7}y');
    await servers.hostile.waitForLogin('carol-esc');
    servers.hostile.push('carol-esc', 'protocol_error', { event: 'ack', error: { code: 'internal', message: 'evil \u001b[2J\u009b31m text' } });
    await bob.client.send('carol-esc', 'barrier');
    await carol.waitFor('stdout', /^\[bob\] barrier$/m);
    await carol.waitFor('stderr', /evil /);
    expect(carol.stderr).toContain('evil \\u{1b}[2J\\u{9b}31m text');
    expect(carol.stderr).not.toMatch(/[\u001b\u0007\u009b]/);
  });
});
