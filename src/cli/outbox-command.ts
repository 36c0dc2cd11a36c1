/**
 * `e2ee-chat outbox`: the messages of this user that have not gone out: pending ones (waiting for the
 * server) and failed ones (refused for good, too large, or failing again and again), with the reason. A
 * failed entry never blocks the ones behind it; `--drop ID` and `--drop-failed` remove entries. Works
 * offline: it reads the local store only, without connecting.
 */
import type { Command } from 'commander';
import { readPublicIdentity } from '../client/node/identity-file.js';
import type { OutboxEntry } from '../client/stores.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, folderFor, openLocalMessages, type UserOptions } from './common.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { printable } from './terminal-text.js';

interface OutboxOptions extends UserOptions {
  drop?: string[];
  dropFailed?: boolean;
}

function describe(e: OutboxEntry): string {
  const status = e.failed ? `failed [${e.failed.code}]: ${printable(e.failed.message)}` : `pending (${e.attempts ?? 0} attempt(s) so far)`;
  const what = e.kind === 'receipt' ? 'read receipt to' : e.kind === 'history' ? `history for device ${e.messages.map((m) => m.device).join(', ')} of` : 'to';
  return `${e.id}  ${what} ${printable(e.to)}  created ${new Date(e.createdAt).toISOString()}  ${status}`;
}

export function registerOutboxCommand(program: Command): void {
  addUserOptions(
    program
      .command('outbox')
      .description('list the messages that have not gone out (pending and failed), and drop them')
      .option('--drop <id...>', 'remove these entries (pending or failed); a dropped pending message is never sent')
      .option('--drop-failed', 'remove every failed entry')
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nPending entries go out, oldest first, whenever this user is connected (any command).\n' +
          'A failed entry (refused by the server for good, too large, or failing each time it was sent) stays\n' +
          'listed until dropped; it never holds back the entries behind it.\n' +
          '\nWith --json, one object per entry (an empty outbox prints nothing):\n' +
          '  {"type":"outbox","id","to","createdAt","attempts","state":"pending"|"failed","error"}\n' +
          'error: {"code","message","at"} for a failed entry, else null; times in ms since the epoch.\n' +
          'With --drop / --drop-failed: {"type":"dropped","id"} per entry removed.',
      ),
  ).action(async (opts: OutboxOptions) => {
    // Reading an outbox must not create a user: no keys here means nothing was ever sent from here.
    if (!(await readPublicIdentity(folderFor(opts)))) {
      throw new ChatError('no_local_user', `no keys for ${opts.user} on this machine; create them with "e2ee-chat receive --user ${opts.user}"`);
    }
    const { messages } = await openLocalMessages(opts);
    try {
      const entries = await messages.outboxEntries();
      const toDrop = new Set(opts.drop ?? []);
      if (opts.dropFailed) for (const e of entries) if (e.failed) toDrop.add(e.id);
      if (toDrop.size > 0) {
        const missing: string[] = [];
        for (const id of toDrop) {
          if (!(await messages.dropOutgoing(id))) missing.push(id);
          else if (jsonOutput()) writeJson({ type: 'dropped', id });
          else process.stdout.write(`dropped ${id}\n`);
        }
        if (missing.length > 0) throw new ChatError('bad_request', `no outbox entry with id ${missing.map((m) => printable(m)).join(', ')}`);
        return;
      }
      if (jsonOutput()) {
        for (const e of entries) {
          writeJson({
            type: 'outbox',
            id: e.id,
            to: e.to,
            createdAt: e.createdAt,
            attempts: e.attempts ?? 0,
            state: e.failed ? 'failed' : 'pending',
            error: e.failed ? { code: e.failed.code, message: e.failed.message, at: e.failed.at } : null,
          });
        }
        return;
      }
      if (entries.length === 0) {
        process.stdout.write('The outbox is empty.\n');
        return;
      }
      for (const e of entries) process.stdout.write(describe(e) + '\n');
    } finally {
      messages.close();
    }
  });
}
