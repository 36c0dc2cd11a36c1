/**
 * `e2ee-chat send --group NAME`: one text from the arguments, or one per line of standard input, to every
 * member device of a group. Group messages need the server (the MLS state moves on with each message),
 * so an unreachable server is an error here; a text whose send broke off halfway is kept by the client
 * and goes at the next login or before the next text (the error says so), never twice. Each text sent is recorded in
 * the group history (by the client, once the server ordered it) as this device's own, so `history
 * --group` shows it beside the others'.
 */
import { createInterface } from 'node:readline';
import { ChatError } from '../protocol/errors.js';
import { connectClient, type OpenedClient, type UserOptions } from './common.js';
import { groupLabel } from './group-lines.js';
import { groupBacklogHandled, resolveGroup, type ResolvedGroup } from './group-resolve.js';
import { jsonOutput, writeJson } from './output.js';
import { printable } from './terminal-text.js';

/** Sends `text` to the group (the client records it as sent by this device) and returns its place in the group's order. */
export async function sendGroupText(opened: OpenedClient, group: ResolvedGroup, text: string): Promise<number> {
  const { seq } = await opened.client.sendGroupMessage(group.groupId, text);
  return seq;
}

export async function sendToGroup(given: string, words: readonly string[], opts: UserOptions): Promise<void> {
  const opened = await connectClient(opts);
  let refused = 0;
  let lastRefusal: ChatError | undefined;
  try {
    await groupBacklogHandled(opened.client);
    const group = await resolveGroup(opened.client, given);
    const label = groupLabel(group.name, group.groupId);
    const sendOne = async (text: string, line?: number) => {
      let seq: number;
      try {
        seq = await sendGroupText(opened, group, text);
      } catch (err) {
        // One refused line does not stop the lines after it.
        if (line === undefined || !(err instanceof ChatError)) throw err;
        refused++;
        lastRefusal = err;
        process.stderr.write(`error [${err.code}]: line ${line} not sent: ${printable(err.message)}\n`);
        if (jsonOutput()) writeJson({ type: 'error', code: err.code, message: err.message, line });
        return;
      }
      if (jsonOutput()) writeJson({ type: 'group-sent', groupId: group.groupId, group: group.name ?? null, seq });
      else process.stderr.write(`sent to ${label} (seq ${seq})\n`);
    };
    if (words.length > 0) {
      await sendOne(words.join(' '));
    } else {
      if (process.stdin.isTTY) process.stderr.write(`Type messages for ${label}, one per line; Ctrl-D to finish.\n`);
      let line = 0;
      for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
        line++;
        if (text.trim() !== '') await sendOne(text, line);
      }
    }
  } finally {
    await opened.close();
  }
  if (refused > 0) throw new ChatError(lastRefusal!.code, `${refused} message(s) not sent (see above)`);
}
