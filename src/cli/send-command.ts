/**
 * `e2ee-chat send`: the seed's sender.py. One message from the argument, or one per line of stdin.
 * Messages go through the persisted outbox: if the server is unreachable they stay there and go out the
 * next time this user runs a command, exactly once. What it prints, in order of what is known:
 * "sent to bob" (the server stored it and pushed it to a connected device of bob) or "queued for bob"
 * (stored until bob connects); later "delivered to bob's device" (bob's client stored it: the receipt) or
 * "could not be read by bob: why" (bob's client could not read it).
 */
import { Option, type Command } from 'commander';
import { createInterface } from 'node:readline';
import type { ChatClient, SentMessage } from '../client/chat-client.js';
import { ChatError } from '../protocol/errors.js';
import type { RejectReason } from '../protocol/events.js';
import { addUserOptions, connectClient, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

function report(sent: SentMessage): void {
  const to = printable(sent.to);
  const what =
    sent.status === 'sent'
      ? `sent to ${to}`
      : sent.status === 'queued'
        ? `queued for ${to} (stored by the server until their device takes it)`
        : `kept in the outbox for ${to} (server unreachable; it goes out on the next run)`;
  process.stderr.write(`${what}, id ${sent.id}\n`);
}

/** Why the recipient's device could not read a message, for its sender. */
function unreadableBySender(reason: RejectReason, to: string, me: string): string {
  switch (reason) {
    case 'peer_key_changed':
      return `your keys differ from the ones ${to} pinned; it is kept until they accept them ("e2ee-chat trust ${me}")`;
    case 'unsupported':
      return 'their client does not support this message format';
    default:
      return 'decryption failed';
  }
}

/** Waits up to `ms` for receipts (delivered or unreadable) of `ids`; returns how many arrived. */
function awaitReceipts(client: ChatClient, ids: ReadonlySet<string>, ms: number): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    const seen = (d: { id: string }) => {
      if (ids.has(d.id) && ++count === ids.size) done();
    };
    const offDelivered = client.on('delivered', seen);
    const offUnreadable = client.on('unreadable', seen);
    const done = () => {
      offDelivered();
      offUnreadable();
      clearTimeout(timer);
      resolve(count);
    };
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
      .addOption(new Option('-m, --mode <mode>', 'ratchet: PQXDH + Double Ratchet sessions (forward secret); hybrid: the seed\'s envelope').choices(['ratchet', 'hybrid']).default('ratchet'))
      .addHelpText('after', '\n"sent" means the server stored it and pushed it to a connected device; "delivered" (the receipt) means\nthe recipient\'s device stored it; "could not be read" means their device received it but could not open it.'),
  ).action(async (words: string[], opts: UserOptions & { to: string; wait: string; mode: 'ratchet' | 'hybrid' }) => {
    const opened = await connectClient(opts, { allowOffline: true, mode: opts.mode });
    const { client } = opened;
    client.on('delivered', (d) => process.stderr.write(`delivered to ${printable(d.to)}'s device, id ${printable(d.id)}\n`));
    client.on('unreadable', (u) =>
      process.stderr.write(`could not be read by ${printable(u.to)}: ${unreadableBySender(u.reason, printable(u.to), opts.user)}, id ${printable(u.id)}\n`),
    );
    const waitingFor = new Set<string>();
    let keptOffline = 0;
    let refused = 0;
    let lastRefusal: ChatError | undefined;
    const sendOne = async (body: string, line?: number) => {
      let sent: SentMessage;
      try {
        sent = await client.send(opts.to, body);
      } catch (err) {
        // One refused line (too large, refused by the server) does not stop the lines after it.
        if (line === undefined || !(err instanceof ChatError)) throw err;
        refused++;
        lastRefusal = err;
        process.stderr.write(`error [${err.code}]: line ${line} not sent: ${printable(err.message)}\n`);
        return;
      }
      report(sent);
      if (sent.status === 'sent') waitingFor.add(sent.id);
      if (sent.status === 'outbox') keptOffline++;
    };
    try {
      if (words.length > 0) {
        await sendOne(words.join(' '));
      } else {
        if (process.stdin.isTTY) process.stderr.write(`Type messages for ${printable(opts.to)}, one per line; Ctrl-D to finish.\n`);
        let line = 0;
        for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          line++;
          if (text.trim() !== '') await sendOne(text, line);
        }
      }
      await awaitReceipts(client, waitingFor, Number(opts.wait) * 1000);
    } finally {
      await opened.close();
    }
    if (refused > 0) throw new ChatError(lastRefusal!.code, `${refused} message(s) not sent (see above)`);
    if (keptOffline > 0) throw new ChatError('not_connected', `${keptOffline} message(s) kept in the outbox: the server is unreachable`);
  });
}
