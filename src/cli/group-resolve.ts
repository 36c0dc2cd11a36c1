/**
 * Which group the user means. Names are the group's members' word and local to nobody in particular, so
 * two groups may share one: a name names the one active group that has it; when several do, the command
 * stops and lists them by the start of their ids, which then name them (`#` optional, at least
 * MIN_ID_PREFIX characters). A full id always works.
 */
import type { ChatClient } from '../client/chat-client.js';
import { ChatError } from '../protocol/errors.js';
import { GROUP_ID_SHOWN, groupLabel } from './group-lines.js';
import { printable } from './terminal-text.js';

/** The shortest start of an id taken as naming a group: short enough to type, long enough not to be a word by accident. */
export const MIN_ID_PREFIX = 4;

/** How long a group command waits for the server's backlog (a Welcome, missed commits) before going on without its end. */
export const GROUP_BACKLOG_WAIT_MS = 5_000;

/**
 * Waits until the backlog queued for this device at login has been handled (a Welcome waiting there makes
 * the group exist here; commits bring it to the current epoch), or GROUP_BACKLOG_WAIT_MS: a server that
 * never says where its backlog ends delays the command, never stops it. Offline: at once.
 */
export async function groupBacklogHandled(client: Pick<ChatClient, 'caughtUp' | 'connected'>): Promise<void> {
  if (!client.connected) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.caughtUp(), new Promise((resolve) => (timer = setTimeout(resolve, GROUP_BACKLOG_WAIT_MS)))]);
  clearTimeout(timer);
}

export interface ResolvedGroup {
  readonly groupId: string;
  readonly name: string | undefined;
  readonly active: boolean;
}

/**
 * The group `given` names among this device's groups: active ones only, unless `inactiveToo` (info and
 * history also show groups this device left or was removed from, when no active one matches).
 */
export async function resolveGroup(client: Pick<ChatClient, 'groups'>, given: string, { inactiveToo = false } = {}): Promise<ResolvedGroup> {
  const all = await client.groups();
  const pick = (groups: typeof all) => {
    const exact = groups.find((g) => g.groupId === given);
    if (exact) return [exact];
    const named = groups.filter((g) => g.name === given);
    if (named.length > 0) return named;
    const prefix = given.startsWith('#') ? given.slice(1) : given;
    return prefix.length >= MIN_ID_PREFIX ? groups.filter((g) => g.groupId.startsWith(prefix)) : [];
  };
  let found = pick(all.filter((g) => g.active));
  if (found.length === 0 && inactiveToo) found = pick(all.filter((g) => !g.active));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new ChatError('unknown_group', `no group "${printable(given)}" on this device (e2ee-chat group list shows yours)`);
  }
  const which = found.map((g) => `#${g.groupId.slice(0, GROUP_ID_SHOWN)}${g.name === undefined ? '' : ` (${groupLabel(g.name, g.groupId)})`}`).join(', ');
  throw new ChatError('bad_request', `${found.length} groups match "${printable(given)}": ${which}; name one by the start of its id, e.g. #${found[0]!.groupId.slice(0, GROUP_ID_SHOWN)}`);
}
