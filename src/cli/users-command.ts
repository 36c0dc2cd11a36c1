/** `e2ee-chat users`: who is online now (the seed's "active users"). */
import type { Command } from 'commander';
import { addUserOptions, connectClient, type UserOptions } from './common.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { printable } from './terminal-text.js';

export function registerUsersCommand(program: Command): void {
  addUserOptions(
    program
      .command('users')
      .description('list the users who are online now')
      .option('--json', JSON_HELP)
      .addHelpText('after', '\nWith --json, one object per user: {"type":"user","username"}.'),
  ).action(async (opts: UserOptions) => {
    const opened = await connectClient(opts);
    const { client } = opened;
    try {
      const users = await client.onlineUsers();
      if (jsonOutput()) for (const username of users) writeJson({ type: 'user', username });
      // The names come from the server: one per line, each escaped so none can drive the terminal.
      else process.stdout.write(users.map(printable).join('\n') + '\n');
    } finally {
      await opened.close();
    }
  });
}
