/**
 * End to end, real processes: groups from the CLI (issue 14, design docs/design/groups-mls.md step 4).
 * Three users on two devices each (the second linked with `link` / `devices approve`), one server for the
 * whole file: `group create` puts all six devices in "team", a message shows as `[bob @ team] text` once
 * on each other device, `group remove`, `group update` and `group leave` change the group and everyone
 * sees it, a removed member gets nothing sent after, `history --group` reads it back from a new process,
 * a name two groups share is resolved by the start of an id, and `chat --group` talks in a group. The
 * tests run in order and build on each other, as the people in them would.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Processes, assertBuilt, type RunResult } from './processes.js';
import { World, type Env } from './world.js';

/** One server and six devices for the whole file (making and linking them is most of the time): they live until the end. */
const procs = new Processes();

const USERS = ['alice', 'bob', 'carol'] as const;
type User = (typeof USERS)[number];

/** One device of one user: its name in failure messages and the environment its commands run with. */
interface Device {
  readonly user: User;
  readonly id: 1 | 2;
  readonly env: Env;
}

let w: World;
const devices: Device[] = [];
const device = (user: User, id: 1 | 2) => devices.find((d) => d.user === user && d.id === id)!;
const devicesOf = (...users: User[]) => devices.filter((d) => users.includes(d.user));

function ok(r: RunResult): RunResult {
  expect(r.code, r.proc.describe()).toBe(0);
  return r;
}

/** A command as `d`: `--user` its user, its home folder. */
const as = (d: Device, args: readonly string[], options: { input?: string } = {}) => w.cli([...args, '--user', d.user], { env: d.env, label: `${d.user}/${d.id} ${args.join(' ')}`.slice(0, 60), ...options });

/** `receive --once` on `d`: what waited for it, shown once. */
const receiveOnce = (d: Device, args: readonly string[] = []) => as(d, ['receive', '--once', ...args]).then(ok);

const jsonLines = (stdout: string): Record<string, unknown>[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

const count = (text: string, line: string) => text.split('\n').filter((l) => l === line).length;

/** Links a second home folder to `user` as device 2 (link there, devices approve on device 1). */
async function linkSecondDevice(user: User): Promise<Device> {
  const env = w.env({ E2EE_CHAT_HOME: join(w.dir, `${user}-laptop`) });
  const link = w.procs.spawn(`link ${user}`, ['link', '--user', user, '--name', 'laptop'], { cwd: w.cwd, env });
  const [, code] = await link.waitFor('stdout', /^code: (\S+)$/m);
  ok(await w.cli(['devices', 'approve', code!, '--user', user]));
  expect((await link.waitForExit()).code, link.describe()).toBe(0);
  return { user, id: 2, env: { E2EE_CHAT_HOME: join(w.dir, `${user}-laptop`) } };
}

afterAll(async () => {
  await procs.cleanup();
  procs.removeDirs();
});

beforeAll(async () => {
  assertBuilt();
  w = await World.create(procs, 'groups');
  await w.startServer();
  for (const user of USERS) {
    await w.createUser(user);
    devices.push({ user, id: 1, env: {} });
  }
  for (const user of USERS) devices.push(await linkSecondDevice(user));
}, 120_000);

describe('e2ee-chat group, with three users on two devices each', () => {
  let teamId: string;
  /** The second group named team (alice and carol). */
  let otherId: string;

  it('alice creates team with bob and carol: all six devices are members, and the server routes to exactly them', async () => {
    const created = ok(await as(device('alice', 1), ['group', 'create', 'team', '--members', 'bob,carol']));
    teamId = created.stdout.match(/^created team \(#([A-Za-z0-9_-]+)\)$/m)![1]!;
    expect(created.stdout).toContain('* bob (devices 1, 2) joined team');
    expect(created.stdout).toContain('* carol (devices 1, 2) joined team');

    const info = jsonLines(ok(await as(device('carol', 2), ['group', 'info', 'team', '--json'])).stdout);
    expect(info).toEqual([
      {
        type: 'group-info',
        groupId: teamId,
        name: 'team',
        active: true,
        epoch: expect.any(Number),
        self: { user: 'carol', device: 2 },
        members: expect.arrayContaining(devices.map((d) => ({ user: d.user, device: d.id }))),
        routing: { missing: [], extra: [] },
        forked: null,
      },
    ]);
    expect((info[0]!.members as unknown[]).length).toBe(6);

    const text = ok(await as(device('alice', 1), ['group', 'info', 'team'])).stdout;
    expect(text).toContain('you are alice device 1');
    expect(text).toContain('  bob (devices 1, 2)');
    expect(text).toContain('the server routes to exactly these devices');
  }, 60_000);

  it('a message bob sends shows as [bob @ team] text once on every other device, with the join notices', async () => {
    const sent = ok(await as(device('bob', 1), ['send', '--group', 'team', 'hello team']));
    expect(sent.stderr).toMatch(/^sent to team \(seq \d+\)$/m);
    for (const d of devices.filter((x) => !(x.user === 'bob' && x.id === 1))) {
      const r = await receiveOnce(d);
      expect(count(r.stdout, '[bob @ team] hello team'), r.proc.describe()).toBe(1);
      if (d.user !== 'alice') expect(r.stdout).toMatch(/^\* you joined team \(members: /m);
    }
    // Shown once: a second run has nothing of it.
    expect((await receiveOnce(device('carol', 2))).stdout).not.toContain('hello team');
  }, 120_000);

  it('receive --json gives group-message lines', async () => {
    ok(await as(device('carol', 1), ['send', '--group', 'team', 'json please']));
    const lines = jsonLines((await receiveOnce(device('alice', 2), ['--json'])).stdout);
    expect(lines).toContainEqual({ type: 'group-message', id: expect.any(String), groupId: teamId, group: 'team', direction: 'in', from: 'carol', device: 1, seq: expect.any(Number), sentAt: expect.any(Number), body: 'json please' });
  }, 60_000);

  it('bob gives his device fresh keys: the epoch moves on and messages still flow both ways', async () => {
    const before = jsonLines(ok(await as(device('bob', 2), ['group', 'info', 'team', '--json'])).stdout)[0]!.epoch as number;
    const updated = jsonLines(ok(await as(device('bob', 2), ['group', 'update', 'team', '--json'])).stdout);
    expect(updated).toEqual([expect.objectContaining({ type: 'group-membership', groupId: teamId, epoch: before + 1, added: [], removed: [], joined: false, left: false })]);
    ok(await as(device('alice', 1), ['send', '--group', 'team', 'after the update']));
    expect((await receiveOnce(device('bob', 2))).stdout).toContain('[alice @ team] after the update');
    ok(await as(device('bob', 2), ['send', '--group', 'team', 'from the new keys']));
    expect((await receiveOnce(device('alice', 1))).stdout).toContain('[bob @ team] from the new keys');
  }, 60_000);

  it('alice removes carol: both of carol\'s devices are told, and see nothing sent after', async () => {
    const removed = ok(await as(device('alice', 1), ['group', 'remove', 'team', 'carol']));
    expect(removed.stdout).toContain('* carol (devices 1, 2) left team');
    ok(await as(device('alice', 1), ['send', '--group', 'team', 'carol is out']));
    // A barrier: a direct message alice sends after the group one reaches carol after it would have.
    ok(await w.send('alice', 'carol', 'barrier after the removal'));
    for (const d of devicesOf('carol')) {
      const r = await receiveOnce(d);
      expect(r.stdout, r.proc.describe()).toContain('* you are no longer in team');
      expect(r.stdout).toContain('[alice] barrier after the removal');
      expect(r.stdout).not.toContain('carol is out');
    }
    expect((await receiveOnce(device('bob', 1))).stdout).toContain('[alice @ team] carol is out');
    const listed = jsonLines(ok(await as(device('carol', 2), ['group', 'list', '--json'])).stdout);
    expect(listed).toEqual([{ type: 'group', groupId: teamId, name: 'team', active: false }]);
    const refused = await as(device('carol', 1), ['send', '--group', 'team', 'let me back']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error \[unknown_group\]: /m);
  }, 90_000);

  it('bob leaves: alice\'s next receive settles it, and the group is alice\'s devices alone', async () => {
    const left = ok(await as(device('bob', 1), ['group', 'leave', 'team']));
    expect(left.stdout).toContain('* you are no longer in team');
    const r = await receiveOnce(device('alice', 1));
    expect(r.stdout, r.proc.describe()).toContain('* bob (devices 1, 2) left team');
    const info = jsonLines(ok(await as(device('alice', 2), ['group', 'info', 'team', '--json'])).stdout)[0]!;
    expect(info.members).toEqual(expect.arrayContaining([{ user: 'alice', device: 1 }, { user: 'alice', device: 2 }]));
    expect((info.members as unknown[]).length).toBe(2);
    expect(info.routing).toEqual({ missing: [], extra: [] });
  }, 60_000);

  it('history --group reads the conversation back in a new process, without the server', async () => {
    const r = ok(await as(device('alice', 2), ['history', '--group', 'team'], {}));
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    const texts = lines.map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}/, ''));
    expect(texts).toEqual(expect.arrayContaining(['[bob @ team] hello team', '[carol @ team] json please', '[alice @ team] after the update', '[bob @ team] from the new keys', '[alice @ team] carol is out', '* carol (devices 1, 2) left team']));
    // alice's own message, sent from device 1, is in device 1's history as hers.
    const own = jsonLines(ok(await as(device('alice', 1), ['history', '--group', teamId.slice(0, 6), '--json'])).stdout);
    expect(own).toContainEqual(expect.objectContaining({ type: 'group-message', direction: 'out', from: 'alice', device: 1, body: 'carol is out' }));
    // carol, removed, still has what she saw.
    expect(ok(await as(device('carol', 1), ['history', '--group', 'team'])).stdout).toContain('[bob @ team] hello team');
  }, 60_000);

  it('two groups named team: the name is refused as ambiguous, the start of an id names one', async () => {
    const created = ok(await as(device('alice', 1), ['group', 'create', 'team', '--members', 'carol']));
    otherId = created.stdout.match(/^created team \(#([A-Za-z0-9_-]+)\)$/m)![1]!;
    const ambiguous = await as(device('alice', 1), ['send', '--group', 'team', 'which one?']);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('2 groups match "team"');
    expect(ambiguous.stderr).toContain(`#${otherId.slice(0, 8)}`);
    expect(ambiguous.stderr).toContain(`#${teamId.slice(0, 8)}`);
    ok(await as(device('alice', 1), ['send', '--group', `#${otherId.slice(0, 8)}`, 'the new team']));
    const r = await receiveOnce(device('carol', 2));
    expect(r.stdout).toContain('[alice @ team] the new team');
  }, 60_000);

  it('chat --group shows the group\'s lines and sends what is typed', async () => {
    const chat = w.procs.spawn('chat carol', ['chat', '--group', 'team', '--user', 'carol'], { cwd: w.cwd, env: w.env(), keepStdinOpen: true });
    await chat.waitFor('stderr', /^Chatting as carol in team /m);
    await chat.waitFor('stdout', /^\* team, epoch \d+: alice \(devices 1, 2\), carol \(devices 1, 2\)$/m);
    ok(await as(device('alice', 2), ['send', '--group', otherId.slice(0, 8), 'are you there?']));
    await chat.waitFor('stdout', /^\[alice @ team\] are you there\?$/m);
    chat.child.stdin!.write('yes, in the chat\n');
    await chat.waitFor('stdout', /^\[carol @ team\] yes, in the chat$/m);
    chat.child.stdin!.end();
    expect((await chat.waitForExit()).code, chat.describe()).toBe(0);
    expect((await receiveOnce(device('alice', 1))).stdout).toContain('[carol @ team] yes, in the chat');
  }, 60_000);

  it('a member whose keys changed since they were pinned is refused, and no group is made', async () => {
    // alice's pin for bob replaced by carol's keys under bob's name: to alice, bob's keys "changed".
    const file = join(w.home, 'alice', 'peers.json');
    const pins = JSON.parse(readFileSync(file, 'utf8')) as { peers: Record<string, Record<string, unknown>> };
    const before = ok(await as(device('alice', 1), ['group', 'list', '--json'])).stdout;
    writeFileSync(file, JSON.stringify({ ...pins, peers: { ...pins.peers, bob: { ...pins.peers.carol, username: 'bob' } } }));
    const refused = await as(device('alice', 1), ['group', 'create', 'again', '--members', 'bob']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error \[peer_key_changed\]: WARNING: the keys of "bob" have changed .*e2ee-chat trust bob \(group again not created: nothing was changed\)$/m);
    expect(ok(await as(device('alice', 1), ['group', 'list', '--json'])).stdout).toBe(before);
    writeFileSync(file, JSON.stringify(pins));
  }, 60_000);

  it('every group subcommand has --help', async () => {
    for (const sub of ['create', 'add', 'remove', 'leave', 'update', 'list', 'info']) {
      const r = ok(await w.cli(['group', sub, '--help']));
      expect(r.stdout).toMatch(new RegExp(`^Usage: e2ee-chat group ${sub} `, 'm'));
      expect(r.stdout).toContain('--json');
    }
    expect(ok(await w.cli(['group', '--help'])).stdout).toContain('[alice @ team] text');
  }, 60_000);
});


