/**
 * End to end, real processes: `--json` prints NDJSON that a script parses field by field, with nothing
 * else on stdout and strings escaped by JSON only; `receive --timeout S` exits 0 by itself after S
 * seconds without a message (issue 11, item 4).
 */
import { describe, expect, it } from 'vitest';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw } from '../helpers/test-clients.js';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

type Line = Record<string, unknown> & { type: string };

/** Every stdout line must be one JSON object: anything else on stdout fails the parse. */
function ndjson(stdout: string): Line[] {
  expect(stdout === '' || stdout.endsWith('\n')).toBe(true);
  return stdout
    .split('\n')
    .slice(0, -1)
    .map((l) => {
      const v = JSON.parse(l) as Line;
      expect(typeof v).toBe('object');
      expect(typeof v.type).toBe('string');
      return v;
    });
}

const ID = /^[A-Za-z0-9_-]{22}$/;
/** Text no peer should be able to smuggle past a script to its terminal, or across lines. */
const HOSTILE = 'two\nlines \u001b[31mred\u001b[0m \u2028sep \u0085nel \u202eevil "quoted" \\ back';

describe('--json output', () => {
  it('receive --json --timeout: the backlog as NDJSON (messages and an unreadable one), raw strings, then exit 0', async () => {
    const w = await World.create(procs, 'json-receive');
    await w.startServer();
    await w.createUser('bob');
    await w.createUser('alice');

    const plain = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--json', 'plain']);
    expect(plain.code, plain.proc.describe()).toBe(0);
    const [plainSent] = ndjson(plain.stdout);
    expect(plainSent).toEqual({ type: 'sent', id: expect.stringMatching(ID), to: 'bob', status: 'queued' });
    const hostile = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--json', HOSTILE]);
    const hostileLines = ndjson(hostile.stdout);
    expect(hostileLines).toHaveLength(1);
    expect(hostileLines[0]).toMatchObject({ type: 'sent', to: 'bob', status: 'queued' });

    // Another client (raw protocol) sends bob an envelope that does not decrypt.
    const mallory = await rawSocket(w.url);
    try {
      expect((await registerRaw(mallory, 'mallory', await keysFor())).ok).toBe(true);
      expect((await call(mallory, 'send', { to: 'bob', envelope: hybridEnvelope() })).ok).toBe(true);
    } finally {
      mallory.close();
    }

    // No signal: --timeout alone ends it, after the backlog and 2 quiet seconds.
    const received = await w.cli(['receive', '--user', 'bob', '--json', '--timeout', '2']);
    expect(received.code, received.proc.describe()).toBe(0);
    expect(received.stderr).toMatch(/^Listening as bob on .+\. Stops after 2 s without a message\.$/m);
    const lines = ndjson(received.stdout);
    expect(lines.map((l) => l.type)).toEqual(['message', 'message', 'unreadable']);
    const [first, second, bad] = lines as [Line, Line, Line];
    expect(first).toEqual({
      type: 'message',
      id: plainSent!.id,
      serverId: expect.any(String),
      from: 'alice',
      to: 'bob',
      sentAt: expect.any(Number),
      receivedAt: expect.any(Number),
      body: 'plain',
    });
    expect(second).toMatchObject({ type: 'message', id: hostileLines[0]!.id, from: 'alice', to: 'bob', body: HOSTILE });
    expect(bad).toEqual({
      type: 'unreadable',
      direction: 'in',
      id: null,
      serverId: expect.any(String),
      from: 'mallory',
      to: 'bob',
      reason: 'decryption_failed',
      held: false,
      at: expect.any(Number),
    });
    // Raw strings, escaped by JSON: no control, separator or bidi character reaches stdout as itself.
    expect(received.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    expect(received.stdout).toContain('\\n');
    expect(received.stdout).toContain('\\u001b[31m');
    expect(received.stdout).toContain('\\u2028');
    expect(received.stdout).toContain('\\u202e');

    // Shown once: a second run has nothing to show, and also stops by itself.
    const again = await w.cli(['receive', '--user', 'bob', '--json', '--timeout', '1']);
    expect(again.code, again.proc.describe()).toBe(0);
    expect(again.stdout).toBe('');

    const badTimeout = await w.cli(['receive', '--user', 'bob', '--timeout', '0']);
    expect(badTimeout.code).toBe(1);
    expect(badTimeout.stderr).toMatch(/--timeout <seconds>' argument '0' is invalid\. expected a number of seconds above 0/);
    const help = await w.cli(['receive', '--help']);
    expect(help.stdout).toMatch(/--timeout <seconds>/);
    expect(help.stdout).toMatch(/--once stops when the server says the messages queued for you at login have all been sent/);
    expect(help.stdout).toContain('{"type":"message","id","serverId","from","to","sentAt","receivedAt","body"}');
  }, 120_000);

  it('send --json: sent and delivered for a connected peer, an error object per refused line and for the exit', async () => {
    const w = await World.create(procs, 'json-send');
    await w.startServer();
    const bob = await w.startReceiver('bob', { args: ['--json'] });
    await w.createUser('alice');
    // alice's own receive gets the receipts of what her send commands sent, as JSON too.
    const aliceReceive = await w.startReceiver('alice', { args: ['--json'] });

    const live = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--json', '--wait', '15', 'live']);
    expect(live.code, live.proc.describe()).toBe(0);
    const [sent, delivered, ...rest] = ndjson(live.stdout);
    expect(rest).toEqual([]);
    expect(sent).toEqual({ type: 'sent', id: expect.stringMatching(ID), to: 'bob', status: 'sent' });
    expect(delivered).toEqual({ type: 'delivered', id: sent!.id, to: 'bob', deliveredAt: expect.any(Number), device: 1, delivered: 1, of: 1 });
    const [shown] = ndjson((await bob.waitFor('stdout', /^.*"live".*\n/m))[0]);
    expect(shown).toMatchObject({ type: 'message', id: sent!.id, from: 'alice', to: 'bob', body: 'live' });
    const [receipt] = ndjson((await aliceReceive.waitFor('stdout', /^.*"delivered".*\n/m))[0]);
    expect(receipt).toEqual({ type: 'delivered', id: sent!.id, to: 'bob', deliveredAt: delivered!.deliveredAt, device: 1, delivered: 1, of: 1 });
    await aliceReceive.stop();

    // Receipts that arrive while later lines are still being sent count: it ends long before --wait.
    const lines = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--json', '--wait', '600'], {
      input: `before\n${'y'.repeat(100_000)}\nafter\n`,
      label: 'send lines',
      timeoutMs: 60_000,
    });
    expect(lines.code, lines.proc.describe()).toBe(1);
    const out = ndjson(lines.stdout);
    expect(out.filter((l) => l.type === 'sent').map((l) => l.status)).toEqual(['sent', 'sent']);
    expect(out.filter((l) => l.type === 'delivered')).toHaveLength(2);
    expect(out.filter((l) => l.type === 'error')).toEqual([
      { type: 'error', code: 'envelope_too_large', message: expect.stringMatching(/^message is \d{3},\d{3} bytes sealed; the server accepts at most 65,536$/), line: 2 },
      { type: 'error', code: 'envelope_too_large', message: '1 message(s) not sent (see above)', line: null },
    ]);
    // The human notices stay on stderr.
    expect(lines.stderr).toMatch(/^error \[envelope_too_large\]: line 2 not sent/m);

    const nobody = await w.cli(['send', '--user', 'carol', '--to', 'bob', '--json', 'x']);
    expect(nobody.code).toBe(1);
    expect(ndjson(nobody.stdout)).toEqual([{ type: 'error', code: 'no_local_user', message: expect.stringContaining('carol'), line: null }]);
  }, 120_000);

  it('users, keys and outbox --json', async () => {
    const w = await World.create(procs, 'json-lists');
    // One queued message per recipient: the second to an offline bob is refused for good (a failed entry).
    await w.startServer({ env: { E2EE_CHAT_QUEUE_MAX_COUNT: '1' } });
    const bob = await w.startReceiver('bob');
    await w.createUser('alice');

    const users = await w.cli(['users', '--user', 'alice', '--json']);
    expect(users.code, users.proc.describe()).toBe(0);
    expect(ndjson(users.stdout)).toContainEqual({ type: 'user', username: 'bob' });
    expect(ndjson(users.stdout).every((l) => l.type === 'user' && typeof l.username === 'string' && Object.keys(l).length === 2)).toBe(true);

    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'pin bob'])).code).toBe(0);
    await bob.stop();
    const keys = await w.cli(['keys', '--user', 'alice', '--json']);
    expect(keys.code, keys.proc.describe()).toBe(0);
    const [self, peer, ...more] = ndjson(keys.stdout);
    expect(more).toEqual([]);
    const thumbprint = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);
    const fingerprint = expect.stringMatching(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(self).toEqual({
      type: 'keys',
      username: 'alice',
      self: true,
      passphraseProtected: false,
      verified: null,
      pinnedAt: null,
      signingKeyThumbprint: thumbprint,
      encryptionKeyThumbprint: thumbprint,
      signingFingerprint: fingerprint,
      encryptionFingerprint: fingerprint,
    });
    expect(peer).toMatchObject({ type: 'keys', username: 'bob', self: false, passphraseProtected: null, verified: false, pinnedAt: expect.any(Number) });
    // The same fingerprints as the human output shows.
    const human = (await w.cli(['keys', '--user', 'alice'])).stdout;
    for (const k of [self!, peer!]) {
      expect(human).toContain(`signing    (Ed25519)       ${String(k.signingFingerprint)}`);
      expect(human).toContain(`encryption (RSA-2048 OAEP) ${String(k.encryptionFingerprint)}`);
    }

    expect((await w.cli(['outbox', '--user', 'alice', '--json'])).stdout).toBe('');
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'one'])).code).toBe(0);
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'two'])).code).toBe(1);
    const outbox = await w.cli(['outbox', '--user', 'alice', '--json']);
    const [failed, ...others] = ndjson(outbox.stdout);
    expect(others).toEqual([]);
    expect(failed).toEqual({
      type: 'outbox',
      id: expect.stringMatching(ID),
      to: 'bob',
      createdAt: expect.any(Number),
      attempts: 1,
      state: 'failed',
      error: { code: 'quota_exceeded', message: expect.any(String), at: expect.any(Number) },
    });
    const dropped = await w.cli(['outbox', '--user', 'alice', '--drop-failed', '--json']);
    expect(ndjson(dropped.stdout)).toEqual([{ type: 'dropped', id: failed!.id }]);

    for (const command of ['users', 'keys', 'outbox', 'send', 'history']) {
      const help = await w.cli([command, '--help']);
      expect(help.stdout).toMatch(/--json\s+print NDJSON on stdout/);
      expect(help.stdout).toMatch(/With --json, one object/);
    }
  }, 120_000);
});
