/**
 * `e2ee-chat history <peer>`: the stored conversation with one peer, oldest first, one line per message:
 * local time, who wrote to whom, its delivery state, the text. Reads the local store only (no server
 * needed); the store is sealed with the user's private key, so sealed keys need the passphrase.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { HistoryRecord, OutboxFailure } from '../client/stores.js';
import { ChatError } from '../protocol/errors.js';
import { USERNAME_PATTERN } from '../protocol/limits.js';
import { addUserOptions, openLocalGroups, openLocalMessages, type UserOptions } from './common.js';
import { entryJson, entryText, groupLabel } from './group-lines.js';
import { resolveGroup } from './group-resolve.js';
import { recordDeliverySummary } from './delivery-summary.js';
import { JSON_HELP, jsonOutput, writeJson, type HistoryLine } from './output.js';
import { outgoingState, unreadableReason } from './reasons.js';
import { printable } from './terminal-text.js';

interface HistoryOptions extends UserOptions {
  limit?: number;
  group?: string;
}

/** `history --group NAME`: the group's messages and membership changes as this device saw them, oldest first. */
async function groupHistory(given: string, opts: HistoryOptions): Promise<void> {
  const local = await openLocalGroups(opts);
  try {
    const group = await resolveGroup(local, given, { inactiveToo: true });
    const entries = await local.groupHistory.history(group.groupId, opts.limit);
    for (const e of entries) {
      if (jsonOutput()) writeJson(entryJson(e));
      else {
        const at = e.kind === 'message' ? e.sentAt : e.at;
        for (const line of entryText(e)) process.stdout.write(`${localTime(at)}  ${line}\n`);
      }
    }
    if (entries.length === 0 && !jsonOutput()) process.stderr.write(`No stored messages in ${groupLabel(group.name, group.groupId)}.\n`);
  } finally {
    local.close();
  }
}

/** Commander parser for --limit: a whole number of messages, at least 1. */
function parseLimit(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of messages, at least 1');
  return n;
}

const two = (n: number) => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:MM:SS` in the local time zone (TZ), as a person reading a conversation expects. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The delivery state of a record, in words; `failure` is its outbox entry's reason while it is still listed. */
function stateOf(r: HistoryRecord, me: string, failure: OutboxFailure | undefined): string {
  const peer = printable(r.peer);
  if (r.direction === 'in') return r.status === 'unreadable' ? `could not be read: ${unreadableReason(r.reason, peer)}` : 'received';
  return recordDeliverySummary(r, me) ?? outgoingState(r, me, failure ? `failed [${failure.code}]: ${printable(failure.message)}` : 'failed');
}

function toLine(r: HistoryRecord, me: string, failure: OutboxFailure | undefined): HistoryLine {
  return {
    type: 'history',
    id: r.id,
    direction: r.direction,
    from: r.direction === 'in' ? r.peer : me,
    to: r.direction === 'in' ? me : r.peer,
    sentAt: r.sentAt,
    serverTime: r.serverTime ?? null,
    status: r.status,
    reason: r.reason ?? null,
    error: failure ? { code: failure.code, message: failure.message } : null,
    body: r.body,
  };
}

export function registerHistoryCommand(program: Command): void {
  addUserOptions(
    program
      .command('history')
      .description('print the stored conversation with a peer or a group, oldest first (reads local files only; no server needed)')
      .argument('[peer]', 'the other side of the conversation')
      .option('-g, --group <group>', 'a group\'s conversation instead (its name, or the start of its id)')
      .option('-n, --limit <n>', 'only the newest n messages', parseLimit)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nOne line per message: local time (sent, by the sender\'s clock), sender -> recipient, [state], text.\n' +
          'States of your messages: not sent yet (in the outbox), sent (pushed to a device of the peer), queued\n' +
          '(stored by the server until the peer connects), delivered (a device of the peer stored it; once a\n' +
          'message went to several of their devices: delivered to bob (1 of 2 devices), and which device could\n' +
          'not read it), read (the\n' +
          'peer\'s client showed it to them: their end-to-end encrypted read receipt), could not be read (their\n' +
          'device received it and could not open it: why), failed (refused for good or kept failing; see\n' +
          '"e2ee-chat outbox"). Messages you received: received, or could not be read (why).\n' +
          'Text from others is shown with control characters escaped (\\n, \\u{1b}).\n' +
          '\nWith --json, one object per message:\n' +
          '  {"type":"history","id","direction":"in"|"out","from","to","sentAt","serverTime","status",\n' +
          '   "reason","error","body"}\n' +
          'status: outbox, sent, queued, delivered, read, unreadable, failed (out); received, unreadable (in).\n' +
          'reason (unreadable only, else null): decryption_failed, peer_key_changed, unsupported.\n' +
          'error: {"code","message"} for a failed message still in the outbox, else null. Times: ms since\n' +
          'the epoch (serverTime null until the server accepted it). Strings are raw, escaped by JSON only.\n' +
          '\n--group NAME: the group\'s messages as this device received or sent them, `[alice @ team] text` with\n' +
          'the sender\'s time, and its membership changes as "*" notices with the time this device applied them.\n' +
          'With --json: {"type":"group-message","id","groupId","group","direction","from","device","seq","sentAt",\n' +
          '"body"} and {"type":"group-membership","id","groupId","group","epoch","added","removed","joined","left","at"}.',
      ),
  ).action(async (peer: string | undefined, opts: HistoryOptions) => {
    if ((peer === undefined) === (opts.group === undefined)) throw new ChatError('bad_request', 'name a peer (history bob) or a group (history --group team), one of the two');
    if (opts.group !== undefined) return groupHistory(opts.group, opts);
    if (peer === undefined) return;
    if (!USERNAME_PATTERN.test(peer)) throw new ChatError('invalid_username', `"${printable(peer)}" is not a valid username (^[a-z][a-z0-9_-]{0,31}$)`);
    const { identity, messages } = await openLocalMessages(opts);
    try {
      const records = await messages.history({ peer, ...(opts.limit !== undefined && { limit: opts.limit }) });
      const failures = new Map((await messages.outboxEntries()).flatMap((e) => (e.failed ? [[e.id, e.failed] as const] : [])));
      const me = identity.username;
      for (const r of records) {
        const failure = r.direction === 'out' ? failures.get(r.id) : undefined;
        if (jsonOutput()) {
          writeJson(toLine(r, me, failure));
          continue;
        }
        const from = printable(r.direction === 'in' ? r.peer : me);
        const to = printable(r.direction === 'in' ? me : r.peer);
        const body = r.direction === 'in' && r.status === 'unreadable' ? '' : `  ${printable(r.body)}`;
        process.stdout.write(`${localTime(r.sentAt)}  ${from} -> ${to}  [${stateOf(r, me, failure)}]${body}\n`);
      }
      if (records.length === 0 && !jsonOutput()) process.stderr.write(`No stored messages with ${printable(peer)}.\n`);
    } finally {
      messages.close();
    }
  });
}
