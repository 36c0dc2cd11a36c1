/**
 * `e2ee-chat group create|add|remove|leave|update|list|info`: groups (MLS, docs/design/groups-mls.md),
 * thin over ChatClient. Every change is one MLS commit this device makes and the server orders; members
 * are devices, and adding a user adds every device of their device list as this device verified it.
 * Before a user is added their keys are checked against the ones pinned for them, as `send` does: keys
 * that changed since they were pinned stop the command before anything changes (`e2ee-chat trust`).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ChatClient } from '../client/chat-client.js';
import { groupChangeEntry } from '../client/groups/group-history.js';
import type { GroupMembershipEvent } from '../client/groups/group-runtime.js';
import { ChatError } from '../protocol/errors.js';
import { USERNAME_PATTERN } from '../protocol/limits.js';
import { addUserOptions, connectClient, type OpenedClient, type UserOptions } from './common.js';
import { entryJson, groupChangeText, groupLabel, usersWithDevices } from './group-lines.js';
import { groupBacklogHandled, resolveGroup } from './group-resolve.js';
import { JSON_HELP, jsonOutput, writeJson, type MemberJson } from './output.js';
import { printable } from './terminal-text.js';

/** Says where things stand on stdout (human mode) or stderr (with --json, stdout is NDJSON only). */
const say = (text: string) => (jsonOutput() ? process.stderr : process.stdout).write(`${text}\n`);

/** Commander parser for --members: usernames separated by commas. */
export function parseUsers(text: string): string[] {
  const users = text.split(',').map((u) => u.trim()).filter((u) => u !== '');
  const bad = users.find((u) => !USERNAME_PATTERN.test(u));
  if (bad !== undefined) throw new InvalidArgumentError(`"${printable(bad)}" is not a valid username (^[a-z][a-z0-9_-]{0,31}$)`);
  return users;
}

function checkUsers(users: readonly string[]): void {
  const bad = users.find((u) => !USERNAME_PATTERN.test(u));
  if (bad !== undefined) throw new ChatError('invalid_username', `"${printable(bad)}" is not a valid username (^[a-z][a-z0-9_-]{0,31}$)`);
}

/**
 * Each user's keys, checked against their pin (pinned now if first seen), as `send` checks a recipient:
 * a user whose keys changed, or who does not exist, stops the command with nothing changed.
 */
async function checkKeys(client: ChatClient, me: string, users: readonly string[], what: string): Promise<void> {
  for (const user of users) {
    if (user === me) continue;
    try {
      await client.peerKeys(user);
    } catch (err) {
      if (err instanceof ChatError) throw new ChatError(err.code, `${err.message} (${what}: nothing was changed)`, { cause: err });
      throw err;
    }
  }
}

/** The membership changes this device applies to `groupId` while `work` runs, shown by the command itself. */
async function withChanges(opened: OpenedClient, groupId: () => string | undefined, work: () => Promise<void>): Promise<GroupMembershipEvent[]> {
  const heard: GroupMembershipEvent[] = [];
  const listener = (c: GroupMembershipEvent) => heard.push(c);
  opened.client.on('groupMembership', listener);
  try {
    await work();
  } finally {
    opened.client.off('groupMembership', listener);
  }
  // Filtered after: a new group's id is known only once createGroup returns, after its first commit.
  const seen = heard.filter((c) => c.groupId === groupId());
  const at = Date.now();
  const entries = seen.map((c) => groupChangeEntry(c, at));
  // Shown here, so not again by the next `receive` of this device.
  await opened.groupHistory.markDisplayed(entries.map((e) => e.id));
  for (const e of entries) {
    if (jsonOutput()) writeJson(entryJson(e));
    else for (const line of groupChangeText(e)) say(line);
  }
  return seen;
}

const memberJson = (a: { user: string; device: number }): MemberJson => ({ user: a.user, device: a.device });

/** Runs `action` connected, closing the client after (and on failure). */
async function connected(opts: UserOptions, action: (opened: OpenedClient) => Promise<void>, { allowOffline = false } = {}): Promise<void> {
  const opened = await connectClient(opts, { allowOffline });
  try {
    await groupBacklogHandled(opened.client);
    await action(opened);
  } finally {
    await opened.close();
  }
}

/** Users asked for who ended up with no device in the group: none of their devices had KeyPackages. */
async function reportMissing(client: ChatClient, groupId: string, users: readonly string[], name: string): Promise<void> {
  const members = new Set((await client.groupInfo(groupId)).members.map((m) => m.user));
  for (const user of users.filter((u) => !members.has(u))) {
    process.stderr.write(
      `${printable(user)} is not in ${name}: none of ${printable(user)}'s devices has published group keys yet ` +
        `(${printable(user)} runs any e2ee-chat command once, e.g. receive --once; then: e2ee-chat group add ${name} ${printable(user)})\n`,
    );
  }
}

const JSON_CHANGES =
  '\nWith --json, one object per membership change this device applied:\n' +
  '  {"type":"group-membership","id","groupId","group","epoch","added":[{"user","device"}],"removed":[…],\n' +
  '   "joined","left","at"}\n';

export function registerGroupCommand(program: Command): void {
  const group = program
    .command('group')
    .description('group conversations (MLS): create, add, remove, leave, update, list, info')
    .enablePositionalOptions()
    .addHelpText(
      'after',
      '\nMembers are devices: adding a user adds every device of their device list. Send with\n' +
        '`e2ee-chat send --group NAME "text"`, talk with `e2ee-chat chat --group NAME`; `receive` shows group\n' +
        'messages as [alice @ team] text and membership changes as "* bob joined team" notices.\n' +
        'A group is named by its name, or, when several groups share one, by the start of its id (#abcd1234).',
    );

  addUserOptions(
    group
      .command('create')
      .description('create a group of you and --members (every device of each); prints its id')
      .argument('<name>', 'the group\'s name, which every member sees (the server does not)')
      .requiredOption('-m, --members <users>', 'the users to add, separated by commas (bob,carol)', parseUsers)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nEach member\'s keys are checked against the ones you pinned for them, as send does; if they changed\n' +
          'the group is not created (review them with `e2ee-chat trust USER`). A member none of whose devices has\n' +
          'published group keys yet is left out, with a warning; add them later with `group add`.\n' +
          JSON_CHANGES +
          'and first {"type":"group","groupId","name","active":true}.',
      ),
  ).action(async (name: string, opts: UserOptions & { members: string[] }) => {
    await connected(opts, async (opened) => {
      const { client } = opened;
      await checkKeys(client, opts.user, opts.members, `group ${printable(name)} not created`);
      let groupId: string | undefined;
      await withChanges(opened, () => groupId, async () => {
        groupId = await client.createGroup(name, opts.members);
        if (jsonOutput()) writeJson({ type: 'group', groupId, name, active: true });
        say(`created ${groupLabel(name, groupId)} (#${groupId})`);
      });
      await reportMissing(client, groupId!, opts.members, printable(name));
    });
  });

  addUserOptions(
    group
      .command('add')
      .description('add users to a group: every device of each that is not in it yet')
      .argument('<group>', 'the group\'s name or the start of its id')
      .argument('<users...>', 'the users to add')
      .option('--json', JSON_HELP)
      .addHelpText('after', '\nKeys are checked as for `group create`.\n' + JSON_CHANGES),
  ).action(async (given: string, users: string[], opts: UserOptions) => {
    checkUsers(users);
    await connected(opts, async (opened) => {
      const { client } = opened;
      const g = await resolveGroup(client, given);
      const label = groupLabel(g.name, g.groupId);
      await checkKeys(client, opts.user, users, `nobody was added to ${label}`);
      let changed = false;
      await withChanges(opened, () => g.groupId, async () => {
        changed = await client.addToGroup(g.groupId, users);
      });
      if (!changed) say(`nothing to add: every device of ${users.map(printable).join(', ')} with group keys is in ${label} already`);
      await reportMissing(client, g.groupId, users, label);
    });
  });

  addUserOptions(
    group
      .command('remove')
      .description('remove users (all their devices) from a group; they read nothing sent after')
      .argument('<group>', 'the group\'s name or the start of its id')
      .argument('<users...>', 'the users to remove (to go yourself: group leave)')
      .option('--json', JSON_HELP)
      .addHelpText('after', JSON_CHANGES),
  ).action(async (given: string, users: string[], opts: UserOptions) => {
    checkUsers(users);
    if (users.includes(opts.user)) throw new ChatError('bad_request', `to leave a group yourself, use: e2ee-chat group leave ${printable(given)}`);
    await connected(opts, async (opened) => {
      const g = await resolveGroup(opened.client, given);
      let changed = false;
      await withChanges(opened, () => g.groupId, async () => {
        changed = await opened.client.removeFromGroup(g.groupId, users);
      });
      if (!changed) say(`nothing to remove: none of ${users.map(printable).join(', ')} is in ${groupLabel(g.name, g.groupId)}`);
    });
  });

  addUserOptions(
    group
      .command('leave')
      .description('leave a group (all your devices): the next member to read it removes you')
      .argument('<group>', 'the group\'s name or the start of its id')
      .option('--json', JSON_HELP)
      .addHelpText('after', '\nThis device stops reading the group at once; the group\'s history stays here (history --group).\n' + JSON_CHANGES),
  ).action(async (given: string, opts: UserOptions) => {
    await connected(opts, async (opened) => {
      const g = await resolveGroup(opened.client, given);
      await withChanges(opened, () => g.groupId, () => opened.client.leaveGroup(g.groupId));
    });
  });

  addUserOptions(
    group
      .command('update')
      .description('give this device fresh keys in a group: a copy of its earlier state (a leak) reads nothing from now on')
      .argument('<group>', 'the group\'s name or the start of its id')
      .option('--json', JSON_HELP)
      .addHelpText('after', '\nPost-compromise security: one commit with a new path of keys from this device.\n' + JSON_CHANGES),
  ).action(async (given: string, opts: UserOptions) => {
    await connected(opts, async (opened) => {
      const g = await resolveGroup(opened.client, given);
      await withChanges(opened, () => g.groupId, () => opened.client.updateGroupKeys(g.groupId));
    });
  });

  addUserOptions(
    group
      .command('list')
      .description('list the groups this device is in (and those it left or was removed from)')
      .option('--json', JSON_HELP)
      .addHelpText('after', '\nWith --json, one object per group: {"type":"group","groupId","name","active"} (name null if none).'),
  ).action(async (opts: UserOptions) => {
    await connected(
      opts,
      async ({ client }) => {
        const groups = await client.groups();
        for (const g of groups) {
          if (jsonOutput()) {
            writeJson({ type: 'group', groupId: g.groupId, name: g.name ?? null, active: g.active });
            continue;
          }
          const label = groupLabel(g.name, g.groupId);
          if (!g.active) {
            say(`${label}  #${g.groupId.slice(0, 8)}  (you are no longer a member)`);
            continue;
          }
          const info = await client.groupInfo(g.groupId);
          const users = new Set(info.members.map((m) => m.user));
          say(`${label}  #${g.groupId.slice(0, 8)}  ${users.size} member(s), ${info.members.length} device(s), epoch ${info.epoch}`);
        }
        if (groups.length === 0 && !jsonOutput()) process.stderr.write('No groups on this device.\n');
      },
      { allowOffline: true },
    );
  });

  addUserOptions(
    group
      .command('info')
      .description('a group\'s members (by user and device), epoch and your device; flags where the server routes otherwise')
      .argument('<group>', 'the group\'s name or the start of its id')
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nMembers are what this device\'s MLS state says. The server keeps its own list of where to deliver;\n' +
          'if it differs (a member it does not deliver to, a device it delivers to that is not a member), that is\n' +
          'shown as a WARNING: it can cost delivery, never confidentiality.\n' +
          '\nWith --json: {"type":"group-info","groupId","name","active","epoch","self":{"user","device"},\n' +
          '"members":[{"user","device"}],"routing":{"missing":[…],"extra":[…]}|null,"forked":{"seq","from":{"user","device"},"reason"}|null}\n' +
          '(routing null when the server was not asked: offline, or a group you are no longer in; epoch null for\n' +
          'those too). "forked": this device refused the change that ended its epoch (an invalid commit by another\n' +
          'member), and the server went on with it: the group can no longer change from here.',
      ),
  ).action(async (given: string, opts: UserOptions) => {
    await connected(
      opts,
      async ({ client }) => {
        const g = await resolveGroup(client, given, { inactiveToo: true });
        const info = await client.groupInfo(g.groupId);
        const routing = info.active && client.connected ? await client.groupRoutingDiffers(g.groupId) : undefined;
        const self = { user: client.username, device: client.device };
        if (jsonOutput()) {
          writeJson({
            type: 'group-info',
            groupId: g.groupId,
            name: info.name ?? null,
            active: info.active,
            epoch: info.active ? info.epoch : null,
            self,
            members: info.members.map(memberJson),
            routing: routing ? { missing: routing.missing.map(memberJson), extra: routing.extra.map(memberJson) } : null,
            forked: info.forked ? { seq: info.forked.seq, from: memberJson(info.forked.from), reason: info.forked.reason } : null,
          });
          return;
        }
        say(`${groupLabel(info.name, g.groupId)}  id ${g.groupId}`);
        if (!info.active) {
          say('you are no longer a member (left or removed)');
          return;
        }
        say(`epoch ${info.epoch}; you are ${printable(self.user)} device ${self.device}`);
        say('members:');
        for (const line of usersWithDevices(info.members)) say(`  ${line}`);
        if (info.forked) {
          const f = info.forked;
          say(`WARNING: the change at seq ${f.seq} from ${printable(f.from.user)}/${f.from.device} was refused here (${printable(f.reason)}), and the server went on with it:`);
          say('  this group can no longer be changed from this device (messages still reach those who refused it too);');
          say('  to add, remove or re-key, create a new group with the members you trust.');
        }
        if (!routing) say('(not connected: the server\'s routing was not checked)');
        else if (routing.missing.length === 0 && routing.extra.length === 0) say('the server routes to exactly these devices');
        else {
          if (routing.missing.length > 0) say(`WARNING: the server does not deliver to ${routing.missing.map((a) => `${printable(a.user)}/${a.device}`).join(', ')}, which the group's keys name as members`);
          if (routing.extra.length > 0) say(`WARNING: the server delivers to ${routing.extra.map((a) => `${printable(a.user)}/${a.device}`).join(', ')}, which are not members (they cannot read the messages)`);
        }
      },
      { allowOffline: true },
    );
  });
}
