/**
 * How the CLI words group traffic: a message as `[alice @ team] text` (receive, send's echo, chat
 * --group, history --group), a membership change as a `*` notice, and the same as NDJSON lines. A
 * group's name is its members' word (inside the MLS group context, never seen by the server) and local
 * names may collide, so a group without a name shows the start of its id instead.
 */
import type { Address } from '../client/address.js';
import type { GroupChangeEntry, GroupHistoryEntry } from '../client/groups/group-history.js';
import type { GroupChangeLine, GroupMessageLine } from './output.js';
import { printable } from './terminal-text.js';

/** How many characters of a group id stand for it in text (and are enough to name it: group resolve). */
export const GROUP_ID_SHOWN = 8;

/** The group as a line names it: its name made printable, or `#` and the start of its id. */
export function groupLabel(name: string | undefined, groupId: string): string {
  return name === undefined || name === '' ? `#${groupId.slice(0, GROUP_ID_SHOWN)}` : printable(name);
}

/**
 * `[alice @ team] text`. A text of several lines keeps them, each after the first indented under the
 * text, so no line of someone's message can pass for a line of its own.
 */
export function groupMessageText(from: string, name: string | undefined, groupId: string, text: string): string {
  const head = `[${printable(from)} @ ${groupLabel(name, groupId)}] `;
  return head + text.split('\n').map(printable).join(`\n${' '.repeat(head.length)}`);
}

/** Addresses grouped by user: `bob (devices 1, 2)`, `carol (device 1)`. */
export function usersWithDevices(addresses: readonly Address[]): string[] {
  const byUser = new Map<string, number[]>();
  for (const a of addresses) byUser.set(a.user, [...(byUser.get(a.user) ?? []), a.device]);
  return [...byUser].map(([user, devices]) => `${printable(user)} (${devices.length === 1 ? 'device' : 'devices'} ${devices.sort((x, y) => x - y).join(', ')})`);
}

/** The notice lines of a membership change, as this device applied it (`* …`). */
export function groupChangeText(c: Pick<GroupChangeEntry, 'name' | 'groupId' | 'added' | 'removed' | 'joined' | 'left' | 'epoch'>): string[] {
  const group = groupLabel(c.name, c.groupId);
  if (c.left) return [`* you are no longer in ${group}`];
  // A join brings the whole roster as "added": one line with the members.
  if (c.joined) return [`* you joined ${group}${c.added.length > 0 ? ` (members: ${usersWithDevices(c.added).join(', ')})` : ''}`];
  const lines: string[] = [];
  for (const who of usersWithDevices(c.added)) lines.push(`* ${who} joined ${group}`);
  for (const who of usersWithDevices(c.removed)) lines.push(`* ${who} left ${group}`);
  // A commit that changed nobody: a member's new keys (an update, or a leave request being settled).
  if (lines.length === 0) lines.push(`* ${group} has new keys (epoch ${c.epoch})`);
  return lines;
}

/** An entry as terminal lines: the message, or its notices. */
export function entryText(e: GroupHistoryEntry): string[] {
  return e.kind === 'message' ? [groupMessageText(e.from.user, e.name, e.groupId, e.text)] : groupChangeText(e);
}

/** An entry as an NDJSON object (raw strings: JSON escapes them). */
export function entryJson(e: GroupHistoryEntry): GroupMessageLine | GroupChangeLine {
  if (e.kind === 'message') {
    return { type: 'group-message', id: e.id, groupId: e.groupId, group: e.name ?? null, direction: e.direction, from: e.from.user, device: e.from.device, seq: e.seq, sentAt: e.sentAt, body: e.text };
  }
  return {
    type: 'group-membership',
    id: e.id,
    groupId: e.groupId,
    group: e.name ?? null,
    epoch: e.epoch,
    added: e.added.map((a) => ({ user: a.user, device: a.device })),
    removed: e.removed.map((a) => ({ user: a.user, device: a.device })),
    joined: e.joined,
    left: e.left,
    at: e.at,
  };
}
