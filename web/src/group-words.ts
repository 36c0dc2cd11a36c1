/**
 * How the web app words a group conversation: a text with its sender's user and device ("bob (device 2)"
 * when the user has more than the first), and a membership change as notices ("carol joined", "bob
 * left"), from the entries the group history keeps (src/client/groups/group-history.ts). Text from
 * the network is rendered by Preact as text nodes, never parsed as markup.
 */
import type { Address } from '../../src/client/index.js';
import type { GroupHistoryEntry } from '../../src/client/browser/index.js';

/** One line of a group conversation as the view shows it. */
export interface GroupItem {
  key: string;
  kind: 'message' | 'notice';
  /** ms since the epoch: a text's sender clock, a change's time of arrival here. */
  at: number;
  /** A text's sender ("you" not used: the user's name, as the 1:1 view shows it). */
  sender: string | undefined;
  direction: 'in' | 'out' | undefined;
  body: string;
}

/** `bob`, or `bob (device 2)` for any device but the first. */
export function deviceWords(a: Address): string {
  return a.device === 1 ? a.user : `${a.user} (device ${a.device})`;
}

/** The distinct users of `addresses`, in order. */
const usersOf = (addresses: readonly Address[]): string[] => [...new Set(addresses.map((a) => a.user))];

/** The notices of a membership change, for the user `me`. */
export function changeWords(e: Extract<GroupHistoryEntry, { kind: 'membership' }>, me: string): string[] {
  if (e.joined) return ['you joined the group'];
  if (e.left) return ['you are no longer in this group'];
  return [
    ...usersOf(e.added).map((u) => (u === me ? `another device of yours joined` : `${u} joined`)),
    ...usersOf(e.removed).map((u) => (u === me ? `a device of yours left` : `${u} left`)),
  ];
}

export function groupItems(e: GroupHistoryEntry, me: string): GroupItem[] {
  if (e.kind === 'message') {
    return [{ key: e.id, kind: 'message', at: e.sentAt, sender: deviceWords(e.from), direction: e.direction, body: e.text }];
  }
  return changeWords(e, me).map((body, i) => ({ key: `${e.id}:${i}`, kind: 'notice', at: e.at, sender: undefined, direction: undefined, body }));
}

/** The list's one-line summary of an entry: "bob: hi there", or a notice. */
export function lastWords(e: GroupHistoryEntry, me: string): string {
  if (e.kind === 'message') return `${e.from.user}: ${e.text}`;
  return changeWords(e, me).join(', ');
}
