/** `e2ee-chat receive`: the seed's receiver.py. Prints each message as `[sender] text`. */
import type { Command } from 'commander';
import { addUserOptions, connectClient, serverUrl, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

export function registerReceiveCommand(program: Command): void {
  addUserOptions(
    program
      .command('receive')
      .description('receive and print messages; makes keys and registers on first run'),
  ).action(async (opts: UserOptions) => {
    const { client } = await connectClient(opts);
    // Handlers first, then the "Listening" line: a supervisor may signal as soon as it sees it.
    const stop = () => void client.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    client.on('message', (m) => process.stdout.write(`[${m.from}] ${printable(m.body)}\n`));
    client.on('rejected', (r) => {
      const why = r.error.code === 'peer_key_changed' ? r.error.message : 'decryption failed (tampered, replayed or not for us)';
      process.stderr.write(`! a message from ${r.from} was rejected: ${why}\n`);
    });
    client.on('disconnected', ({ reason }) => process.stderr.write(`connection lost (${reason}); reconnecting...\n`));
    client.on('reconnected', () => process.stderr.write('reconnected\n'));
    process.stderr.write(`Listening as ${opts.user} on ${serverUrl(opts)}. Press Ctrl-C to stop.\n`);
  });
}
