/**
 * End to end, real processes: `e2ee-chat history <peer>` prints the stored conversation, oldest first,
 * with local times and every delivery state, reading local files only (issue 11, item 2).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { World, useProcesses } from './world.js';

const procs = useProcesses();

/** A time as `history` prints it in the time zone `timeZone`: YYYY-MM-DD HH:MM:SS. */
function timeIn(ms: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

interface HistoryJson {
  type: string;
  id: string;
  direction: 'in' | 'out';
  from: string;
  to: string;
  sentAt: number;
  serverTime: number | null;
  status: string;
  reason: string | null;
  error: { code: string; message: string } | null;
  body: string;
}

const parseLines = (stdout: string): HistoryJson[] =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as HistoryJson);

describe('e2ee-chat history', () => {
  it('shows delivered, received, queued, failed and outbox messages, oldest first, in local time, with the server down', async () => {
    const w = await World.create(procs, 'history');
    // A queue of one message per recipient: the second message to an offline bob is refused for good.
    const server = await w.startServer({ env: { E2EE_CHAT_QUEUE_MAX_COUNT: '1' } });
    // No read receipts: this test is about the other states, and a receipt would take the one queue slot.
    const bob = await w.startReceiver('bob', { args: ['--no-read-receipts'] });
    await w.createUser('alice');

    const hello = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--wait', '15', 'hello bob']);
    expect(hello.stderr, hello.proc.describe()).toMatch(/^delivered to bob's device/m);
    const alice = await w.startReceiver('alice', { args: ['--no-read-receipts'] });
    const hi = await w.cli(['send', '--user', 'bob', '--to', 'alice', '--wait', '15', 'hi alice\u001b[2J']);
    expect(hi.stderr, hi.proc.describe()).toMatch(/^delivered to alice's device/m);
    await alice.waitFor('stdout', /^\[bob\] hi alice/m);
    await alice.stop();
    await bob.stop();

    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', 'one'])).stderr).toMatch(/^queued for bob/m);
    const two = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'two']);
    expect(two.stderr, two.proc.describe()).toMatch(/^error \[quota_exceeded\]/m);
    await server.stop();
    const three = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'three']);
    expect(three.stderr, three.proc.describe()).toMatch(/^kept in the outbox for bob/m);

    // The server is down: history reads local files only.
    const human = await w.cli(['history', 'bob', '--user', 'alice'], { env: { TZ: 'Asia/Tokyo' } });
    expect(human.code, human.proc.describe()).toBe(0);
    const json = await w.cli(['history', 'bob', '--user', 'alice', '--json']);
    expect(json.code, json.proc.describe()).toBe(0);
    const records = parseLines(json.stdout);
    expect(records.map((r) => [r.direction, r.from, r.to, r.status, r.body])).toEqual([
      ['out', 'alice', 'bob', 'delivered', 'hello bob'],
      ['in', 'bob', 'alice', 'received', 'hi alice\u001b[2J'],
      ['out', 'alice', 'bob', 'queued', 'one'],
      ['out', 'alice', 'bob', 'failed', 'two'],
      ['out', 'alice', 'bob', 'outbox', 'three'],
    ]);
    for (const r of records) {
      expect(r.type).toBe('history');
      expect(r.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(r.reason).toBeNull();
    }
    expect(records[3]!.error?.code).toBe('quota_exceeded');
    expect(records.filter((r) => r.status !== 'failed').every((r) => r.error === null)).toBe(true);
    expect(records.slice(0, 3).every((r) => typeof r.serverTime === 'number')).toBe(true);
    expect(records[4]!.serverTime).toBeNull();

    // One line per message, in local time (here Tokyo's), with its state; others' text made printable.
    const at = (i: number) => timeIn(records[i]!.sentAt, 'Asia/Tokyo');
    expect(human.stdout.split('\n').filter((l) => l !== '')).toEqual([
      `${at(0)}  alice -> bob  [delivered]  hello bob`,
      `${at(1)}  bob -> alice  [received]  hi alice\\u{1b}[2J`,
      `${at(2)}  alice -> bob  [queued]  one`,
      expect.stringMatching(new RegExp(`^${at(3)}  alice -> bob  \\[failed \\[quota_exceeded\\]: .+\\]  two$`)),
      `${at(4)}  alice -> bob  [not sent yet (in the outbox)]  three`,
    ]);

    const last2 = await w.cli(['history', 'bob', '--user', 'alice', '--limit', '2', '--json']);
    expect(parseLines(last2.stdout).map((r) => r.body)).toEqual(['two', 'three']);

    const bobSide = parseLines((await w.cli(['history', 'alice', '--user', 'bob', '--json'])).stdout);
    expect(bobSide.map((r) => [r.direction, r.status, r.body])).toEqual([
      ['in', 'received', 'hello bob'],
      ['out', 'delivered', 'hi alice\u001b[2J'],
    ]);
    const nobodyElse = await w.cli(['history', 'carol', '--user', 'alice']);
    expect(nobodyElse.code).toBe(0);
    expect(nobodyElse.stdout).toBe('');
    expect(nobodyElse.stderr).toBe('No stored messages with carol.\n');

    const badPeer = await w.cli(['history', 'Bob\u001b[2J', '--user', 'alice']);
    expect(badPeer.code).toBe(1);
    expect(badPeer.stderr).toMatch(/^error \[invalid_username\]: "Bob\\u\{1b\}\[2J" is not a valid username/m);
    const badLimit = await w.cli(['history', 'bob', '--user', 'alice', '--limit', '0']);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toMatch(/expected a whole number of messages, at least 1/);
  }, 120_000);

  it('shows messages that could not be read, on both sides, with the reason', async () => {
    const w = await World.create(procs, 'history-unreadable');
    const first = await w.startServer({ data: 'data-1' });
    const bob1 = await w.startReceiver('bob');
    await w.createUser('alice');
    expect((await w.cli(['send', '--user', 'alice', '--to', 'bob', '--wait', '15', 'before'])).stderr).toMatch(/^delivered to bob/m);
    await bob1.waitFor('stdout', /^\[alice\] before$/m);
    await bob1.stop();

    // alice loses her keys and registers new ones on a fresh server: bob refuses her messages until he trusts them.
    await first.stop();
    rmSync(join(w.home, 'alice'), { recursive: true, force: true });
    await w.startServer({ data: 'data-2' });
    const bob2 = w.spawnReceiver('bob', { args: ['--json'], label: 'receive bob --json' });
    await bob2.waitFor('stderr', /^Listening as bob /m);
    await w.createUser('alice');
    const after = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--wait', '15', 'after']);
    expect(after.stderr, after.proc.describe()).toMatch(/^could not be read by bob: your keys differ/m);
    // The same, as a script sees it on both sides.
    const again = await w.cli(['send', '--user', 'alice', '--to', 'bob', '--wait', '15', '--json', 'again']);
    expect(again.code, again.proc.describe()).toBe(0);
    const [sentAgain, receiptAgain, ...noMore] = again.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(noMore).toEqual([]);
    expect(sentAgain).toEqual({ type: 'sent', id: expect.any(String), to: 'bob', status: 'sent' });
    expect(receiptAgain).toEqual({
      type: 'unreadable',
      direction: 'out',
      id: sentAgain!.id,
      serverId: null,
      from: 'alice',
      to: 'bob',
      reason: 'peer_key_changed',
      held: null,
      at: expect.any(Number),
    });
    await bob2.waitFor('stdout', /^(.*"unreadable".*\n){2}/m);
    const bobSaw = bob2.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(bobSaw).toHaveLength(2);
    for (const line of bobSaw) {
      expect(line).toEqual({
        type: 'unreadable',
        direction: 'in',
        id: null,
        serverId: expect.any(String),
        from: 'alice',
        to: 'bob',
        reason: 'peer_key_changed',
        held: true,
        at: expect.any(Number),
      });
    }
    await bob2.stop();

    const bobHuman = await w.cli(['history', 'alice', '--user', 'bob']);
    const bobLines = bobHuman.stdout.split('\n').filter((l) => l !== '');
    expect(bobLines).toHaveLength(3);
    expect(bobLines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  alice -> bob  \[received\]  before$/);
    expect(bobLines[1]).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  alice -> bob  \[could not be read: alice's keys have changed; it is kept sealed until you accept them with "e2ee-chat trust alice" \(compare fingerprints first\)\]$/,
    );
    const bobJson = parseLines((await w.cli(['history', 'alice', '--user', 'bob', '--json'])).stdout);
    expect(bobJson[1]).toMatchObject({ direction: 'in', from: 'alice', to: 'bob', status: 'unreadable', reason: 'peer_key_changed', body: '' });

    const aliceHuman = await w.cli(['history', 'bob', '--user', 'alice']);
    expect(aliceHuman.stdout).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  alice -> bob  \[could not be read by bob: your keys differ from the ones bob pinned; it is kept until they accept them \("e2ee-chat trust alice"\)\]  after\n.*  again\n$/,
    );
    const aliceJson = parseLines((await w.cli(['history', 'bob', '--user', 'alice', '--json'])).stdout);
    expect(aliceJson).toEqual([
      expect.objectContaining({ direction: 'out', status: 'unreadable', reason: 'peer_key_changed', body: 'after' }),
      expect.objectContaining({ direction: 'out', status: 'unreadable', reason: 'peer_key_changed', body: 'again' }),
    ]);
  }, 120_000);

  it('needs the passphrase of sealed keys, refuses a user with no keys here, and explains itself in --help', async () => {
    const w = await World.create(procs, 'history-sealed');
    await w.startServer();
    await w.createUser('bob');
    await w.createUser('alice', { env: { E2EE_CHAT_PASSPHRASE: 'correct horse' } });
    const sent = await w.cli(['send', '--user', 'alice', '--to', 'bob', 'sealed hello'], { env: { E2EE_CHAT_PASSPHRASE: 'correct horse' } });
    expect(sent.code, sent.proc.describe()).toBe(0);

    const locked = await w.cli(['history', 'bob', '--user', 'alice']);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toMatch(/^error \[wrong_passphrase\]: alice's keys are encrypted/m);
    expect(locked.stdout).toBe('');
    const wrong = await w.cli(['history', 'bob', '--user', 'alice'], { env: { E2EE_CHAT_PASSPHRASE: 'wrong' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^error \[wrong_passphrase\]/m);
    const opened = await w.cli(['history', 'bob', '--user', 'alice'], { env: { E2EE_CHAT_PASSPHRASE: 'correct horse' } });
    expect(opened.code, opened.proc.describe()).toBe(0);
    expect(opened.stdout).toMatch(/  alice -> bob  \[queued\]  sealed hello\n$/);

    const nobody = await w.cli(['history', 'bob', '--user', 'carol']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^error \[no_local_user\]: there are no keys for "carol" on this machine/m);

    const help = await w.cli(['history', '--help']);
    expect(help.code).toBe(0);
    for (const words of ['--limit <n>', '--json', 'local time', 'no server needed', 'not sent yet (in the outbox)', 'sent (pushed', 'queued', 'delivered', 'could not', 'failed', 'received', '"type":"history"']) {
      expect(help.stdout).toContain(words);
    }
  }, 120_000);
});
