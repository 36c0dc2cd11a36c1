/**
 * `e2ee-chat send`: the seed's sender.py. One message from the argument, or one per line of stdin.
 * Messages go through the persisted outbox: if the server is unreachable they stay there and go out the
 * next time this user runs a command, exactly once.
 */
import { Option, type Command } from 'commander';
import { createInterface } from 'node:readline';
import type { ChatClient, SentMessage } from '../client/chat-client.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, connectClient, type UserOptions } from './common.js';

function report(sent: SentMessage): void {
  const what =
    sent.status === 'sent'
      ? `sent to ${sent.to}`
      : sent.status === 'queued'
        ? `queued for ${sent.to} (offline; delivered when they connect)`
        : `kept in the outbox for ${sent.to} (server unreachable; it goes out on the next run)`;
  process.stderr.write(`${what}, id ${sent.id}\n`);
}

/** Waits up to `ms` for delivery receipts of `ids`; returns how many arrived. */
function awaitReceipts(client: ChatClient, ids: ReadonlySet<string>, ms: number): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    const done = () => {
      off();
      clearTimeout(timer);
      resolve(count);
    };
    const off = client.on('delivered', (d) => {
      if (ids.has(d.id) && ++count === ids.size) done();
    });
    const timer = setTimeout(done, ms);
    if (ids.size === 0) done();
  });
}

export function registerSendCommand(program: Command): void {
  addUserOptions(
    program
      .command('send')
      .description('send an encrypted message; without [message], sends each line of standard input')
      .argument('[message...]', 'the text to send')
      .requiredOption('-t, --to <name>', 'recipient username')
      .option('-w, --wait <seconds>', 'how long to wait for delivery receipts', '2')
      .addOption(new Option('-m, --mode <mode>', 'ratchet: PQXDH + Double Ratchet sessions (forward secret); hybrid: the seed\'s envelope').choices(['ratchet', 'hybrid']).default('ratchet')),
  ).action(async (words: string[], opts: UserOptions & { to: string; wait: string; mode: 'ratchet' | 'hybrid' }) => {
    const opened = await connectClient(opts, { allowOffline: true, mode: opts.mode });
    const { client } = opened;
    client.on('delivered', (d) => process.stderr.write(`delivered to ${d.to}'s device, id ${d.id}\n`));
    const waitingFor = new Set<string>();
    let keptOffline = 0;
    const sendOne = async (body: string) => {
      const sent = await client.send(opts.to, body);
      report(sent);
      if (sent.status === 'sent') waitingFor.add(sent.id);
      if (sent.status === 'outbox') keptOffline++;
    };
    try {
      if (words.length > 0) {
        await sendOne(words.join(' '));
      } else {
        if (process.stdin.isTTY) process.stderr.write(`Type messages for ${opts.to}, one per line; Ctrl-D to finish.\n`);
        for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          if (line.trim() !== '') await sendOne(line);
        }
      }
      await awaitReceipts(client, waitingFor, Number(opts.wait) * 1000);
    } finally {
      await opened.close();
    }
    if (keptOffline > 0) throw new ChatError('not_connected', `${keptOffline} message(s) kept in the outbox: the server is unreachable`);
  });
}
