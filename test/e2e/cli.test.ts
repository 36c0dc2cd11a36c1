/**
 * End-to-end: the built CLI (`node dist/cli/main.js`) as real processes — a server, receivers and
 * senders — with fresh key homes, data folders and ports for every test. Build first (`npm test` does).
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ed25519PublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { openWithPassphrase, type SealedBox } from '../../src/crypto/passphrase-seal.js';
import { utf8Decode } from '../../src/crypto/bytes.js';
import { REPO_ROOT, freePort, visible, type Proc, type RunResult } from './processes.js';
import { SERVER_LISTENING, World, useProcesses } from './world.js';

const procs = useProcesses();

const FINGERPRINT = /\b(?:[0-9a-f]{4} ){15}[0-9a-f]{4}\b/;
const FINGERPRINT_G = new RegExp(FINGERPRINT.source, 'g');

/** Asserts a one-shot exited 0, showing its output when it did not. */
function expectSuccess(r: RunResult): void {
  expect(r.code, r.proc.describe()).toBe(0);
}

/** The pino lines of a server's stdout (every stdout line must be JSON). */
function logLines(server: Proc): Array<Record<string, unknown>> {
  return server.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('e2ee-chat CLI, end to end', () => {
  it('the seed flow: alice sends to bob, then bob sends to alice', async () => {
    const w = await World.create(procs, 'seed');
    await w.startServer();
    const bob = procs.spawn('receive bob', ['receive', '--user', 'bob', '--server', w.url], { cwd: w.cwd, env: { E2EE_CHAT_HOME: w.home } });
    await bob.waitFor('stderr', /^Listening as bob /m);
    expect(bob.stderr).toContain(`Created keys for bob in ${join(w.home, 'bob')}`);
    expect(await w.createUser('alice')).toContain(`Created keys for alice in ${join(w.home, 'alice')}`);

    const sent = await procs.run('send alice->bob', ['send', '--user', 'alice', '--to', 'bob', 'hello thanh', '--server', w.url], {
      cwd: w.cwd,
      env: { E2EE_CHAT_HOME: w.home },
    });
    expectSuccess(sent);
    expect(sent.stdout).toBe('');
    expect(sent.stderr).toMatch(/^sent to bob, id [A-Za-z0-9_-]+$/m);
    await bob.waitFor('stdout', /^\[alice\] hello thanh$/m);
    expect(bob.stdout).toBe('[alice] hello thanh\n');

    // And back: alice listens, bob sends (bob's receiver keeps running: two connections for bob).
    const alice = await w.startReceiver('alice');
    expect(alice.stderr).not.toContain('Created keys'); // alice's keys were made by her first receive
    const reply = await w.send('bob', 'alice', 'hi alice, bob here');
    expectSuccess(reply);
    await alice.waitFor('stdout', /^\[bob\] hi alice, bob here$/m);
    expect(alice.stdout).toBe('[bob] hi alice, bob here\n');
    expect(bob.stdout).toBe('[alice] hello thanh\n');

    // Several words without quotes are joined with spaces.
    expectSuccess(await w.cli(['send', '--user', 'alice', '--to', 'bob', 'two', 'words']));
    await bob.waitFor('stdout', /^\[alice\] two words$/m);

    // Ctrl-C / SIGTERM stops a receiver cleanly.
    expect((await bob.stop('SIGTERM')).code).toBe(0);
    expect((await alice.stop('SIGINT')).code).toBe(0);
  });

  it('send without a message argument sends each line of stdin, in order', async () => {
    const w = await World.create(procs, 'stdin');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    const sent = await w.send('alice', 'bob', undefined, { input: 'first line\nsecond line\n\nthird line, with  spaces\n' });
    expectSuccess(sent);
    expect(lines(sent.stderr).filter((l) => l.startsWith('sent to bob'))).toHaveLength(3);
    await bob.waitFor('stdout', /third line/);
    expect(bob.stdout).toBe('[alice] first line\n[alice] second line\n[alice] third line, with  spaces\n');

    // A last line without a trailing newline is sent too; UTF-8 and CRLF line ends survive the trip.
    expectSuccess(await w.send('alice', 'bob', undefined, { input: 'chào Thành 👋\r\nno newline at the end' }));
    await bob.waitFor('stdout', /^\[alice\] no newline at the end$/m);
    expect(bob.stdout).toContain('\n[alice] chào Thành 👋\n[alice] no newline at the end\n');

    // Many lines: none lost, none reordered.
    const many = Array.from({ length: 60 }, (_, i) => `line ${i + 1}`);
    const before = bob.stdout;
    expectSuccess(await w.send('alice', 'bob', undefined, { input: many.join('\n') + '\n' }));
    await bob.waitFor('stdout', /^\[alice\] line 60$/m);
    expect(bob.stdout.slice(before.length)).toBe(many.map((l) => `[alice] ${l}\n`).join(''));
  });

  it('--help works on the program and on every command', async () => {
    const w = await World.create(procs, 'help');
    const commands = ['server', 'receive', 'send', 'keys', 'trust', 'users', 'history', 'devices'];
    const results = await Promise.all([w.cli(['--help']), ...commands.map((c) => w.cli([c, '--help']))]);
    const [top, ...perCommand] = results;
    expectSuccess(top!);
    expect(top!.stdout).toMatch(/^Usage: e2ee-chat /m);
    for (const c of commands) expect(top!.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
    perCommand.forEach((r, i) => {
      expectSuccess(r);
      expect(r.stdout).toMatch(new RegExp(`^Usage: e2ee-chat ${commands[i]!} `, 'm'));
    });
    // Help must not create anything.
    expect(existsSync(w.home)).toBe(false);

    const version = await w.cli(['--version']);
    expectSuccess(version);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version);

    // A missing required option is an error (exit 1) with the help hint.
    const missing = await w.cli(['send', '--user', 'alice', 'hi']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/required option '-t, --to <name>' not specified/);
    // --user is optional, but with no setting and no user in the home folder there is no one to act as.
    const nobody = await w.cli(['send', '--to', 'bob', 'hi']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^error \[no_local_user\]: no user given and no user has keys in /m);
    expect(existsSync(w.home)).toBe(false);
  });

  it('keys prints both fingerprints and the pinned peer; key files are 0600 in a 0700 folder', async () => {
    const w = await World.create(procs, 'keys');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    expect(await w.createUser('alice')).toMatch(/WARNING: alice's private keys are stored WITHOUT a passphrase/);
    const sent = await w.send('alice', 'bob', 'hello');
    expectSuccess(sent);
    await bob.waitFor('stdout', /^\[alice\] hello$/m);

    const aliceKeys = await w.cli(['keys', '--user', 'alice']);
    expectSuccess(aliceKeys);
    const out = lines(aliceKeys.stdout);
    expect(out[0]).toBe('alice (private keys NOT passphrase-protected)');
    expect(out[1]).toMatch(new RegExp(`^  signing    \\(Ed25519\\)       ${FINGERPRINT.source}$`));
    expect(out[2]).toMatch(new RegExp(`^  encryption \\(RSA-2048 OAEP\\) ${FINGERPRINT.source}$`));
    expect(out[3]).toBe('Pinned peers:');
    expect(out[4]).toMatch(/^bob, pinned \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(out).toHaveLength(7);
    const aliceFps = aliceKeys.stdout.match(FINGERPRINT_G) ?? [];
    expect(aliceFps).toHaveLength(4);
    expect(new Set(aliceFps).size).toBe(4);

    // What alice pinned for bob is what bob has.
    const bobKeys = await w.cli(['keys', '--user', 'bob']);
    expectSuccess(bobKeys);
    const bobFps = bobKeys.stdout.match(FINGERPRINT_G) ?? [];
    // bob has pinned alice on receipt: his own two, then alice's two.
    expect(bobFps).toHaveLength(4);
    expect(aliceFps.slice(2)).toEqual(bobFps.slice(0, 2));
    expect(bobFps.slice(2)).toEqual(aliceFps.slice(0, 2));

    const aliceDir = join(w.home, 'alice');
    expect(mode(aliceDir)).toBe(0o700);
    const files = readdirSync(aliceDir).sort();
    // ratchet.sqlite (sessions, prekeys, group states) and group-history.sqlite (what was said in groups)
    // are sealed SQLite stores beside state.sqlite.
    const sealedStore = (f: string) => f.startsWith('state.sqlite') || f.startsWith('ratchet.sqlite') || f.startsWith('group-history.sqlite');
    expect(files.filter((f) => !sealedStore(f))).toEqual(['identity.json', 'peers.json']); // no leftover temporary files
    expect(files).toContain('state.sqlite');
    for (const f of files) expect(mode(join(aliceDir, f)), f).toBe(0o600);
    const bobDir = join(w.home, 'bob');
    expect(mode(bobDir)).toBe(0o700);
    expect(readdirSync(bobDir).filter((f) => !sealedStore(f)).sort()).toEqual(['identity.json', 'peers.json']);
    for (const f of readdirSync(bobDir)) expect(mode(join(bobDir, f)), f).toBe(0o600);

    // No keys yet: a clear error, not a crash.
    const nobody = await w.cli(['keys', '--user', 'carol']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^error \[no_local_user\]: no keys for carol/m);
  });

  it('a passphrase seals the private keys; the right one sends and receives, a wrong one fails', async () => {
    const w = await World.create(procs, 'passphrase');
    await w.startServer();
    const alicePass = { E2EE_CHAT_PASSPHRASE: 'correct horse battery staple' };
    const bobPass = { E2EE_CHAT_PASSPHRASE: 'bob’s own passphrase' };
    const bob = await w.startReceiver('bob', { env: bobPass });
    expect(bob.stderr).not.toMatch(/WITHOUT a passphrase/);
    expect(await w.createUser('alice', { env: alicePass })).not.toMatch(/WITHOUT a passphrase/);
    const sent = await w.send('alice', 'bob', 'sealed hello', { env: alicePass });
    expectSuccess(sent);
    expect(sent.stderr).not.toMatch(/WITHOUT a passphrase/);
    await bob.waitFor('stdout', /^\[alice\] sealed hello$/m);

    // Unlocking an existing sealed file works too (alice's second run, now receiving).
    const alice = await w.startReceiver('alice', { env: alicePass });
    expectSuccess(await w.send('bob', 'alice', 'sealed reply', { env: bobPass }));
    await alice.waitFor('stdout', /^\[bob\] sealed reply$/m);

    const identityPath = join(w.home, 'alice', 'identity.json');
    const text = readFileSync(identityPath, 'utf8');
    const file = JSON.parse(text) as {
      public: { signingKey: { x: string }; encryptionKey: { n: string } };
      private: { encrypted: boolean; box: SealedBox };
    };
    expect(file.private.encrypted).toBe(true);
    expect(text).toMatch(/"encrypted": true/);
    // No private JWK member anywhere ("p" is also scrypt's parallelism parameter inside the box, so
    // the public JWKs are checked member by member instead).
    for (const member of ['d', 'q', 'dp', 'dq', 'qi']) expect(text).not.toContain(`"${member}":`);
    expect(Object.keys(file.public.signingKey).sort()).toEqual(['crv', 'kty', 'x']);
    expect(Object.keys(file.public.encryptionKey).sort()).toEqual(['e', 'kty', 'n']);
    expect(Object.keys(file.private).sort()).toEqual(['box', 'encrypted']);
    // Open the box as the CLI does and check that none of the secret values appear in the file.
    const keys = JSON.parse(
      utf8Decode(await openWithPassphrase(file.private.box, alicePass.E2EE_CHAT_PASSPHRASE, 'e2ee-chat/v1/identity/alice')),
    ) as UserKeyPairs;
    expect(ed25519PublicOf(keys.signing).x).toBe(file.public.signingKey.x);
    expect(keys.encryption.n).toBe(file.public.encryptionKey.n);
    for (const secret of [keys.signing.d, keys.encryption.d, keys.encryption.p, keys.encryption.q]) {
      expect(secret.length).toBeGreaterThan(20);
      expect(text).not.toContain(secret);
    }

    const keysOut = await w.cli(['keys', '--user', 'alice']); // needs no passphrase: public halves only
    expectSuccess(keysOut);
    expect(lines(keysOut.stdout)[0]).toBe('alice (private keys passphrase-protected)');

    const wrong = await w.send('alice', 'bob', 'should not go', { env: { E2EE_CHAT_PASSPHRASE: 'wrong passphrase' } });
    expect(wrong.code, wrong.proc.describe()).toBe(1);
    expect(wrong.stderr).toMatch(/^error \[wrong_passphrase\]: .*passphrase/m);
    // Without a passphrase and without a terminal: a clear error rather than a hanging prompt.
    const none = await w.send('alice', 'bob', 'should not go either');
    expect(none.code, none.proc.describe()).toBe(1);
    expect(none.stderr).toMatch(/^error \[wrong_passphrase\]: .*E2EE_CHAT_PASSPHRASE/m);
    expect(bob.stdout).toBe('[alice] sealed hello\n');
  });

  it('loads .env from the working directory (environment variables win over it)', async () => {
    const w = await World.create(procs, 'dotenv');
    writeFileSync(
      join(w.cwd, '.env'),
      [
        '# settings for this folder',
        `PORT=${w.port}`,
        'HOST=127.0.0.1',
        'E2EE_CHAT_DATA=./data-from-env',
        'E2EE_CHAT_HOME=./home-from-env',
        `E2EE_CHAT_SERVER=${w.url}`,
        '',
      ].join('\n'),
    );
    // No PORT, HOST or E2EE_CHAT_DATA in the environment: they come from .env.
    const server = procs.spawn('server (.env)', ['server'], { cwd: w.cwd, env: {} });
    const [, port] = await server.waitFor('stdout', SERVER_LISTENING);
    expect(Number(port)).toBe(w.port);
    const res = await fetch(`${w.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const health = (await res.json()) as { status: string };
    expect(health.status).toBe('ok');
    expect(existsSync(join(w.cwd, 'data-from-env', 'e2ee-chat.sqlite'))).toBe(true);

    // Clients read .env too: the server URL and the key home.
    const bob = procs.spawn('receive bob (.env)', ['receive', '--user', 'bob'], { cwd: w.cwd, env: {} });
    await bob.waitFor('stderr', new RegExp(`^Listening as bob on ${w.url.replace(/\./g, '\\.')}\\.`, 'm'));
    expect(existsSync(join(w.cwd, 'home-from-env', 'bob', 'identity.json'))).toBe(true);

    // A variable set in the environment wins over the .env file.
    const otherPort = await freePort();
    const server2 = procs.spawn('server (env wins)', ['server'], {
      cwd: w.cwd,
      env: { PORT: String(otherPort), E2EE_CHAT_DATA: join(w.dir, 'data-env-wins') },
    });
    const [, port2] = await server2.waitFor('stdout', SERVER_LISTENING);
    expect(Number(port2)).toBe(otherPort);
    expect(((await (await fetch(`http://127.0.0.1:${otherPort}/health`)).json()) as { status: string }).status).toBe('ok');
  });

  it("refuses to send to a peer whose keys changed until the user trusts them", async () => {
    const w = await World.create(procs, 'keychange');
    const server1 = await w.startServer();
    let bob = await w.startReceiver('bob');
    await w.createUser('alice');
    expectSuccess(await w.send('alice', 'bob', 'before'));
    await bob.waitFor('stdout', /^\[alice\] before$/m);
    expect((await bob.stop()).code).toBe(0);
    expect((await server1.stop()).code).toBe(0);

    // bob loses his keys and registers afresh on a server with a new data folder.
    rmSync(join(w.home, 'bob'), { recursive: true, force: true });
    await w.startServer({ data: join(w.dir, 'data-2'), label: 'server 2' });
    bob = await w.startReceiver('bob');
    expect(bob.stderr).toContain('Created keys for bob');
    // A new server knows neither of them: alice's keys are registered there by her receive, as bob's were.
    expect(await w.createUser('alice')).not.toContain('Created keys');

    const refused = await w.send('alice', 'bob', 'after');
    expect(refused.code, refused.proc.describe()).toBe(1);
    expect(refused.stderr).toMatch(/^error \[peer_key_changed\]: WARNING: the keys of "bob" have changed/m);
    expect(refused.stderr).toContain('e2ee-chat trust bob');

    // Without --yes and without a terminal, trust does not accept.
    const declined = await w.cli(['trust', 'bob', '--user', 'alice']);
    expect(declined.code, declined.proc.describe()).toBe(1);
    expect(declined.stderr).toMatch(/^WARNING: bob's keys differ from the ones you pinned/m);
    expect((await w.send('alice', 'bob', 'still refused')).code).toBe(1);

    const trusted = await w.cli(['trust', 'bob', '--user', 'alice', '--yes']);
    expectSuccess(trusted);
    expect(trusted.stderr).toMatch(/^WARNING: bob's keys differ from the ones you pinned/m);
    expect(trusted.stderr).toMatch(new RegExp(`^  old signing    ${FINGERPRINT.source}$`, 'm'));
    expect(trusted.stderr).toMatch(new RegExp(`^  new signing    ${FINGERPRINT.source}$`, 'm'));
    expect(trusted.stdout).toBe("Now trusting bob's new keys.\n");

    // The new pin is bob's new signing key.
    const bobKeys = await w.cli(['keys', '--user', 'bob']);
    const newBobSigning = (bobKeys.stdout.match(FINGERPRINT_G) ?? [])[0];
    expect(newBobSigning).toBeDefined();
    expect(trusted.stderr).toContain(`  new signing    ${newBobSigning!}`);

    const after = await w.send('alice', 'bob', 'after trust');
    expectSuccess(after);
    await bob.waitFor('stdout', /^\[alice\] after trust$/m);
    expect(bob.stdout).toBe('[alice] after trust\n');

    const again = await w.cli(['trust', 'bob', '--user', 'alice', '--yes']);
    expectSuccess(again);
    expect(again.stdout).toBe("bob's keys have not changed; nothing to do.\n");
  }, 60_000);

  it("a running receiver rejects messages signed with a sender's changed keys until it trusts them", async () => {
    const w = await World.create(procs, 'senderkeychange');
    const server1 = await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    expectSuccess(await w.send('alice', 'bob', 'before'));
    await bob.waitFor('stdout', /^\[alice\] before$/m);

    // alice loses her keys; the server comes back on the same port with a fresh data folder, bob's
    // receiver reconnects (registering again with his unchanged keys), and alice registers new keys.
    expect((await server1.stop()).code).toBe(0);
    await bob.waitFor('stderr', /connection lost/);
    rmSync(join(w.home, 'alice'), { recursive: true, force: true });
    await w.startServer({ data: join(w.dir, 'data-2'), label: 'server 2' });
    await bob.waitFor('stderr', /^reconnected$/m, 20_000);

    expect(await w.createUser('alice')).toContain('Created keys for alice');
    const after = await w.send('alice', 'bob', 'after');
    expectSuccess(after); // the server delivered it; only bob can tell the keys changed
    await bob.waitFor('stderr', /^! a message from alice could not be read: /m);
    expect(bob.stderr).toMatch(/^! a message from alice could not be read: alice's keys have changed; it is kept sealed until you accept them with "e2ee-chat trust alice"/m);
    expect(bob.stdout).toBe('[alice] before\n');

    // bob accepts alice's new keys from another process, which opens the message kept sealed (and
    // records it for bob's next `receive`); the running receiver picks the new pin up.
    const trusted = await w.cli(['trust', 'alice', '--user', 'bob', '--yes']);
    expectSuccess(trusted);
    expectSuccess(await w.send('alice', 'bob', 'after trust'));
    await bob.waitFor('stdout', /^\[alice\] after trust$/m);
    expect(bob.stdout).toBe('[alice] before\n[alice] after trust\n');
    await bob.stop();
    const bobAgain = await w.startReceiver('bob');
    await bobAgain.waitFor('stdout', /^\[alice\] after$/m);
    expect(bobAgain.stdout).toBe('[alice] after\n');
    expect(bobAgain.stderr).not.toMatch(/could not be read/);
  }, 60_000);

  it('reports bad settings and a busy port with exit code 1', async () => {
    const w = await World.create(procs, 'config');
    const badPort = await procs.run('server (bad PORT)', ['server'], { cwd: w.cwd, env: { PORT: 'eighty', E2EE_CHAT_DATA: w.data } });
    expect(badPort.code, badPort.proc.describe()).toBe(1);
    expect(badPort.stderr).toMatch(/^configuration error: PORT must be an integer between 0 and 65535, got "eighty"$/m);

    await w.startServer();
    const busy = await procs.run('server (busy port)', ['server'], {
      cwd: w.cwd,
      env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: join(w.dir, 'data-busy') },
    });
    expect(busy.code, busy.proc.describe()).toBe(1);
    expect(busy.stderr).toMatch(/EADDRINUSE/);

    const badName = await w.cli(['receive', '--user', 'Bob']);
    expect(badName.code, badName.proc.describe()).toBe(1);
    expect(badName.stderr).toMatch(/^error \[invalid_username\]: "Bob" is not a valid username/m);
    const escape = await w.cli(['keys', '--user', '../bob']);
    expect(escape.code).toBe(1);
    expect(escape.stderr).toMatch(/^error \[invalid_username\]/m);
    expect(existsSync(w.home)).toBe(false);
  });

  it('SIGTERM shuts the server down gracefully: exit code 0 and a "shutting down" log line', async () => {
    const w = await World.create(procs, 'sigterm');
    const server = await w.startServer();
    const bob = await w.startReceiver('bob'); // an open connection must not hold the shutdown up
    const exit = await server.stop('SIGTERM');
    expect(exit, server.describe()).toEqual({ code: 0, signal: null });
    const logs = logLines(server);
    const shutdown = logs.find((l) => l.msg === 'shutting down');
    expect(shutdown, server.stdout).toMatchObject({ signal: 'SIGTERM', service: 'e2ee-chat' });
    expect(logs.at(-1)?.msg).toBe('stopped');
    await bob.waitFor('stderr', /connection lost \(.*\); reconnecting/);

    // Ctrl-C (SIGINT) is graceful too, on the same data folder.
    const again = await w.startServer({ label: 'server (SIGINT)' });
    expect(await again.stop('SIGINT'), again.describe()).toEqual({ code: 0, signal: null });
    expect(logLines(again).find((l) => l.msg === 'shutting down')).toMatchObject({ signal: 'SIGINT' });
  });

  // BUG (src/cli/server-command.ts, src/cli/receive-command.ts): the readiness line ("e2ee-chat server
  // listening on port N", "Listening as bob ...") is written before the SIGINT/SIGTERM handlers are
  // installed, so a supervisor that stops the process as soon as it reports ready can kill it outright
  // (exit by signal, no "shutting down", no graceful close). Without the preload this happens in about
  // 1 run in 10-20; the preload pauses the process right after the line so it happens every time.
  describe('a stop signal sent as soon as the readiness line appears is handled gracefully', () => {
    const preload = ['--require', join(REPO_ROOT, 'test/e2e/pause-after-line.cjs')];

    it('server', async () => {
      const w = await World.create(procs, 'ready-server');
      const server = procs.spawn('server (paused after ready)', ['server'], {
        cwd: w.cwd,
        env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data, E2EE_TEST_PAUSE_AFTER: 'server listening on port' },
        nodeArgs: preload,
      });
      await server.waitFor('stdout', SERVER_LISTENING);
      const exit = await server.stop('SIGTERM');
      expect(exit, server.describe()).toEqual({ code: 0, signal: null });
      expect(logLines(server).map((l) => l.msg)).toContain('shutting down');
    });

    it('receive', async () => {
      const w = await World.create(procs, 'ready-receive');
      await w.startServer();
      const bob = await w.startReceiver('bob', { env: { E2EE_TEST_PAUSE_AFTER: '^Listening as bob' }, nodeArgs: preload });
      const exit = await bob.stop('SIGTERM');
      expect(exit, bob.describe()).toEqual({ code: 0, signal: null });
    });
  });

  // BUG (src/cli/receive-command.ts): the body is printed raw after "[sender] ". Any sender (with this CLI,
  // through a multi-line argument, or with any other client) can put a newline and a fake "[carol] ..."
  // line into bob's output, or terminal escape sequences, defeating the sender authentication the
  // protocol provides. Expected: one message = one line that cannot be mistaken for another sender's,
  // with control characters escaped or removed.
  it("a message body cannot forge another sender's line or inject terminal control sequences", async () => {
    const w = await World.create(procs, 'spoof');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    const forged = 'see you at 5\n[carol] please send the wire transfer today\u001b[2J\u001b]0;owned\u0007\u009b31m';
    expectSuccess(await w.send('alice', 'bob', forged));
    expectSuccess(await w.send('alice', 'bob', 'end marker'));
    await bob.waitFor('stdout', /^\[alice\] end marker$/m);
    const out = lines(bob.stdout);
    const shown = visible(bob.stdout); // failure messages must not clear the screen of whoever runs the tests
    expect(out[0]?.startsWith('[alice] see you at 5'), shown).toBe(true);
    expect(out.filter((l) => l.startsWith('[carol]')).length, `a forged "[carol]" line in bob's output:\n${shown}`).toBe(0);
    expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(bob.stdout), `control characters in bob's output:\n${shown}`).toBe(false);
    expect(out.at(-1)).toBe('[alice] end marker');
  });

  // BUG (src/client/node/identity-file.ts, loadOrCreateIdentity): creating keys is not exclusive. Two
  // first runs for the same user (two terminals, or `receive` and `send` started together) each make
  // keys and each write identity.json; the server registers one pair and the file may keep the other,
  // after which every run for that user fails with bad_signature (locked out of the name). Expected:
  // the second run adopts the keys the first one wrote (create with O_EXCL / link, then re-read).
  it('two first runs for the same user at once end up with one identity that works', async () => {
    const w = await World.create(procs, 'identityrace');
    await w.startServer();
    const first = w.spawnReceiver('bob', { label: 'receive bob #1' });
    const second = w.spawnReceiver('bob', { label: 'receive bob #2' });
    await Promise.all([first.waitFor('stderr', /^Listening as bob /m), second.waitFor('stderr', /^Listening as bob /m)]);
    // And the keys on disk are the registered ones: a later run logs in.
    const later = await w.cli(['users', '--user', 'bob']);
    expect(later.code, later.proc.describe()).toBe(0);
    expect(later.stdout).toBe('bob\n');
  });

  it('registrations survive a server restart; a running receiver reconnects', async () => {
    const w = await World.create(procs, 'restart');
    const server1 = await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    expectSuccess(await w.send('alice', 'bob', 'first'));
    await bob.waitFor('stdout', /^\[alice\] first$/m);
    expect(logLines(server1).filter((l) => l.msg === 'registered').map((l) => l.user).sort()).toEqual(['alice', 'bob']);
    expect((await server1.stop()).code).toBe(0);
    await bob.waitFor('stderr', /connection lost/);

    // Same data folder, same port.
    const server2 = await w.startServer({ label: 'server (restarted)' });
    await bob.waitFor('stderr', /^reconnected$/m, 20_000);
    const second = await w.send('alice', 'bob', 'second');
    expectSuccess(second);
    expect(second.stderr).not.toMatch(/username_taken/);
    expect(second.stderr).not.toMatch(/Created keys/);
    await bob.waitFor('stdout', /^\[alice\] second$/m);
    expect(bob.stdout).toBe('[alice] first\n[alice] second\n');
    // Both logged in with their existing registration: nobody registered again.
    const logs2 = logLines(server2);
    expect(logs2.filter((l) => l.msg === 'registered')).toEqual([]);
    expect(logs2.filter((l) => l.msg === 'authenticated').map((l) => l.user)).toEqual(expect.arrayContaining(['alice', 'bob']));

    // A fresh receiver process for bob logs in too (two connections for bob now).
    const bob2 = await w.startReceiver('bob');
    expect(bob2.stderr).not.toMatch(/error/);
  }, 60_000);

  it('users lists who is online; a message to someone offline is queued; unknown users and unreachable servers fail', async () => {
    const w = await World.create(procs, 'users');
    await w.startServer();
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');
    const users = await w.cli(['users', '--user', 'alice']);
    expectSuccess(users);
    expect(users.stdout).toBe('alice\nbob\n');

    expect((await bob.stop()).code).toBe(0);
    const offline = await w.send('alice', 'bob', 'are you there?');
    expect(offline.code).toBe(0);
    expect(offline.stderr).toMatch(/^queued for bob \(stored by the server until their device takes it\), id [A-Za-z0-9_-]+$/m);

    const unknown = await w.send('alice', 'carol', 'hello?');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error \[unknown_user\]: no user named "carol"$/m);

    const unreachable = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'x', '--server', `http://127.0.0.1:${await freePort()}`]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^kept in the outbox for bob \(server unreachable; it goes out on the next run\)/m);
    expect(unreachable.stderr).toMatch(/^error \[not_connected\]: 1 message\(s\) kept in the outbox/m);
  });
});
