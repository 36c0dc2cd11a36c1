/**
 * `e2ee-chat receive`: the seed's receiver.py. Prints each message as `[sender] text`: first what was
 * stored but never shown (e.g. the process died just after storing it, or another command of this user
 * received it), then the server's backlog, then live messages. Every message is shown once, and so is
 * every envelope that could not be read ("! a message from X could not be read: why").
 */
import type { Command } from 'commander';
import type { HistoryRecord } from '../client/stores.js';
import type { RejectReason } from '../protocol/events.js';
import { addUserOptions, connectClient, serverUrl, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

/** Why an incoming envelope could not be read, for its recipient. */
export function unreadableReason(reason: RejectReason | undefined, from: string, held?: boolean): string {
  switch (reason) {
    case 'peer_key_changed':
      if (held === false) return `${from}'s keys have changed, and too many messages are already kept sealed: this one was not kept and cannot be opened later`;
      return `${from}'s keys have changed; it is kept sealed until you accept them with "e2ee-chat trust ${from}" (compare fingerprints first)`;
    case 'unsupported':
      return 'it uses a format this client does not support';
    default:
      return 'decryption failed (tampered, replayed or not for us)';
  }
}

function show(m: Pick<HistoryRecord, 'peer' | 'body' | 'status' | 'reason'> & { held?: boolean }): void {
  const peer = printable(m.peer);
  if (m.status === 'unreadable') process.stderr.write(`! a message from ${peer} could not be read: ${unreadableReason(m.reason, peer, m.held)}\n`);
  else process.stdout.write(`[${peer}] ${printable(m.body)}\n`);
}

export function registerReceiveCommand(program: Command): void {
  addUserOptions(
    program
      .command('receive')
      .description('receive and print messages (stored ones first); makes keys and registers on first run'),
  ).action(async (opts: UserOptions) => {
    const opened = await connectClient(opts, { createUser: true });
    const { client, messages } = opened;
    // Handlers first, then the "Listening" line: a supervisor may signal as soon as it sees it.
    const stop = () => void opened.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // Shown in arrival order: one chain for the stored-but-unshown ones and the new ones.
    let shown: Promise<void> = (async () => {
      const unshown = await messages.undisplayed();
      for (const m of unshown) show(m);
      await messages.markDisplayed(unshown.map((m) => m.id));
    })();
    client.on('message', (m) => {
      shown = shown.then(async () => {
        show({ peer: m.from, body: m.body, status: 'received' });
        await messages.markDisplayed([m.id]);
      });
    });
    client.on('rejected', (r) => {
      shown = shown.then(async () => {
        show({ peer: r.from, body: '', status: 'unreadable', reason: r.reason, held: r.held });
        await messages.markDisplayed([r.recordId]);
      });
    });
    client.on('delivered', (d) => process.stderr.write(`(delivered to ${printable(d.to)}'s device: ${printable(d.id)})\n`));
    client.on('unreadable', (u) => process.stderr.write(`(could not be read by ${printable(u.to)}: ${printable(u.reason)}: ${printable(u.id)})\n`));
    client.on('disconnected', ({ reason }) => process.stderr.write(`connection lost (${printable(reason)}); reconnecting...\n`));
    client.on('reconnected', () => process.stderr.write('reconnected\n'));
    process.stderr.write(`Listening as ${opts.user} on ${serverUrl(opts)}. Press Ctrl-C to stop.\n`);
  });
}
