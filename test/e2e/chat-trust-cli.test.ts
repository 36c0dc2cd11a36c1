/**
 * `chat`'s /verify and /trust against a lying server: after bob's keys were pinned, the hostile-server
 * harness answers every question about bob with mallory's keys labelled "bob". /verify refuses and points
 * to /trust; /trust shows the warning with both fingerprints, asks in the screen, changes nothing on "n",
 * and on "y" pins exactly the keys it showed. Real CLI processes; bob and mallory are library clients.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint } from '../../src/client/fingerprint.js';
import type { PinnedPeer } from '../../src/client/stores.js';
import { ed25519PublicOf, jwkThumbprint } from '../../src/crypto/keys.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
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

const named = (payload: unknown): string => (payload as { username: string }).username;

/** `text` occurring at least `n` times. */
const times = (n: number, text: string) => new RegExp(`(?:[\\s\\S]*?${text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}){${n}}`);

function pinnedBob(home: string, user: string): PinnedPeer | undefined {
  return (JSON.parse(readFileSync(join(home, user, 'peers.json'), 'utf8')) as { peers: Record<string, PinnedPeer> }).peers.bob;
}

describe('chat /verify and /trust when the server changes bob\'s keys', () => {
  it('/verify refuses changed keys; /trust shows both fingerprints, keeps the pin on "n" and pins what it showed on "y"', async () => {
    const w = await World.create(procs, 'chat-trust', { serverUrl: servers.hostile.url });
    await w.createUser('alice-c');
    // First contact, honest: the real bob is pinned.
    expect((await w.cli(['trust', 'bob', '--user', 'alice-c', '--yes'])).code).toBe(0);
    expect(pinnedBob(w.home, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    removers.push(servers.hostile.onAnswer('keys', async (answer, payload, conn) => (named(payload) === 'bob' ? { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' } : answer)));
    const chat = procs.spawn('chat alice-c', ['chat', '--user', 'alice-c', '--to', 'bob'], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    await chat.waitFor('stdout', /^Talking to bob\./m);
    const type = (text: string) => chat.child.stdin!.write(text);

    type('/verify\n');
    await chat.waitFor('stdout', /^! bob's keys have changed since you pinned them: \/trust reviews them first$/m);

    const oldPrint = formatFingerprint(await jwkThumbprint(ed25519PublicOf(bob.identity.keys.signing)));
    const newPrint = formatFingerprint(await jwkThumbprint(ed25519PublicOf(mallory.identity.keys.signing)));
    type('/trust\n');
    await chat.waitFor('stdout', /^Accept these keys for bob\? \[y\/N\]$/m);
    expect(chat.stdout).toMatch(/^WARNING: bob's keys differ from the ones you pinned on /m);
    expect(chat.stdout).toContain(`  old signing    ${oldPrint}`);
    expect(chat.stdout).toContain(`  new signing    ${newPrint}`);
    type('n\n');
    await chat.waitFor('stdout', /^Keys for bob not accepted\.$/m);
    expect(pinnedBob(w.home, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    // A slash command instead of an answer means "no", and then runs.
    type('/trust\n');
    await chat.waitFor('stdout', times(2, 'Accept these keys for bob? [y/N]\n'));
    type('/help\n');
    await chat.waitFor('stdout', times(2, "Keys for bob not accepted.\n"));
    await chat.waitFor('stdout', /^Commands: \/to NAME/m);
    expect(pinnedBob(w.home, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    type('/trust\n');
    await chat.waitFor('stdout', times(3, 'Accept these keys for bob? [y/N]\n'));
    type('y\n');
    await chat.waitFor('stdout', /^Now trusting bob's new keys\.$/m);
    // What the screen showed is what was pinned: mallory's key, the one under "new signing".
    expect(pinnedBob(w.home, 'alice-c')?.signingKey.x).toBe(mallory.identity.keys.signing.x);
    expect(pinnedBob(w.home, 'alice-c')?.verified).toBe(false);

    type('/quit\n');
    expect((await chat.waitForExit()).code).toBe(0);
  });
});
