/** `e2ee-chat users`: who is online now (the seed's "active users"). */
import type { Command } from 'commander';
import { addUserOptions, connectClient, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

export function registerUsersCommand(program: Command): void {
  addUserOptions(program.command('users').description('list the users who are online now')).action(async (opts: UserOptions) => {
    const opened = await connectClient(opts);
    const { client } = opened;
    try {
      // The names come from the server: one per line, each escaped so none can drive the terminal.
      process.stdout.write((await client.onlineUsers()).map(printable).join('\n') + '\n');
    } finally {
      await opened.close();
    }
  });
}
