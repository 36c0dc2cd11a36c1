/**
 * `chat`'s /verify and /trust against a lying server: after bob's keys were pinned, the hostile-server
 * harness answers every question about bob with mallory's keys labelled "bob". /verify refuses and points
 * to /trust; /trust shows the warning with both fingerprints, asks in the screen, changes nothing on "n",
 * and on "y" pins exactly the keys it showed. Real CLI processes; bob and mallory are library clients.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint } from '../../src/client/fingerprint.js';
import type { PinnedPeer } from '../../src/client/stores.js';
import { ed25519PublicOf, jwkThumbprint } from '../../src/crypto/keys.js';
import { HostileServer } from '../helpers/hostile-server.js';
import { connectTestClient, keysFor, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { Processes, assertBuilt } from './processes.js';

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

const named = (payload: unknown): string => (payload as { username: string }).username;

/** `text` occurring at least `n` times. */
const times = (n: number, text: string) => new RegExp(`(?:[\\s\\S]*?${text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}){${n}}`);

function pinnedBob(home: string, user: string): PinnedPeer | undefined {
  return (JSON.parse(readFileSync(join(home, user, 'peers.json'), 'utf8')) as { peers: Record<string, PinnedPeer> }).peers.bob;
}

describe('chat /verify and /trust when the server changes bob\'s keys', () => {
  it('/verify refuses changed keys; /trust shows both fingerprints, keeps the pin on "n" and pins what it showed on "y"', async () => {
    const dir = procs.tempDir('chat-trust');
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const env = { E2EE_CHAT_HOME: join(dir, 'home'), E2EE_CHAT_SERVER: hostile.url };
    await procs.createUser('alice-c', { cwd, env });
    // First contact, honest: the real bob is pinned.
    expect((await procs.run('trust bob', ['trust', 'bob', '--user', 'alice-c', '--yes'], { cwd, env })).code).toBe(0);
    expect(pinnedBob(env.E2EE_CHAT_HOME, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    removers.push(hostile.onAnswer('keys', async (answer, payload, conn) => (named(payload) === 'bob' ? { ...(await conn.ask('keys', { username: 'mallory' })), username: 'bob' } : answer)));
    const chat = procs.spawn('chat alice-c', ['chat', '--user', 'alice-c', '--to', 'bob'], { cwd, env, keepStdinOpen: true });
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
    expect(pinnedBob(env.E2EE_CHAT_HOME, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    // A slash command instead of an answer means "no", and then runs.
    type('/trust\n');
    await chat.waitFor('stdout', times(2, 'Accept these keys for bob? [y/N]\n'));
    type('/help\n');
    await chat.waitFor('stdout', times(2, "Keys for bob not accepted.\n"));
    await chat.waitFor('stdout', /^Commands: \/to NAME/m);
    expect(pinnedBob(env.E2EE_CHAT_HOME, 'alice-c')?.signingKey.x).toBe(bob.identity.keys.signing.x);

    type('/trust\n');
    await chat.waitFor('stdout', times(3, 'Accept these keys for bob? [y/N]\n'));
    type('y\n');
    await chat.waitFor('stdout', /^Now trusting bob's new keys\.$/m);
    // What the screen showed is what was pinned: mallory's key, the one under "new signing".
    expect(pinnedBob(env.E2EE_CHAT_HOME, 'alice-c')?.signingKey.x).toBe(mallory.identity.keys.signing.x);
    expect(pinnedBob(env.E2EE_CHAT_HOME, 'alice-c')?.verified).toBe(false);

    type('/quit\n');
    expect((await chat.waitForExit()).code).toBe(0);
  });
});
