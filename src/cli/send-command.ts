/** `e2ee-chat send`: the seed's sender.py. One message from the argument, or one per line of stdin. */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import type { ChatClient } from '../client/chat-client.js';
import { addUserOptions, connectClient, type UserOptions } from './common.js';

async function sendOne(client: ChatClient, to: string, body: string): Promise<void> {
  const sent = await client.send(to, body);
  process.stderr.write(`sent to ${to} (${sent.status}, id ${sent.id})\n`);
}

export function registerSendCommand(program: Command): void {
  addUserOptions(
    program
      .command('send')
      .description('send an encrypted message; without [message], sends each line of standard input')
      .argument('[message...]', 'the text to send')
      .requiredOption('-t, --to <name>', 'recipient username'),
  ).action(async (words: string[], opts: UserOptions & { to: string }) => {
    const { client } = await connectClient(opts);
    try {
      if (words.length > 0) {
        await sendOne(client, opts.to, words.join(' '));
      } else {
        if (process.stdin.isTTY) process.stderr.write(`Type messages for ${opts.to}, one per line; Ctrl-D to finish.\n`);
        for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          if (line.trim() !== '') await sendOne(client, opts.to, line);
        }
      }
    } finally {
      await client.close();
    }
  });
}
