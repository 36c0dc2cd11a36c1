/**
 * `e2ee-chat receive`: the seed's receiver.py. Prints each message as `[sender] text`: first what was
 * stored but never shown (e.g. the process died just after storing it), then the server's backlog,
 * then live messages. Every message is shown once.
 */
import type { Command } from 'commander';
import type { HistoryRecord } from '../client/stores.js';
import { addUserOptions, connectClient, serverUrl, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

function show(m: Pick<HistoryRecord, 'peer' | 'body'>): void {
  process.stdout.write(`[${m.peer}] ${printable(m.body)}\n`);
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
        show({ peer: m.from, body: m.body });
        await messages.markDisplayed([m.id]);
      });
    });
    client.on('rejected', (r) => {
      const why = r.error.code === 'peer_key_changed' ? r.error.message : 'decryption failed (tampered, replayed or not for us)';
      process.stderr.write(`! a message from ${r.from} was rejected: ${why}\n`);
    });
    client.on('delivered', (d) => process.stderr.write(`(delivered to ${d.to}: ${d.id})\n`));
    client.on('disconnected', ({ reason }) => process.stderr.write(`connection lost (${reason}); reconnecting...\n`));
    client.on('reconnected', () => process.stderr.write('reconnected\n'));
    process.stderr.write(`Listening as ${opts.user} on ${serverUrl(opts)}. Press Ctrl-C to stop.\n`);
  });
}
