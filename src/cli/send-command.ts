/**
 * `e2ee-chat send`: the seed's sender.py. One message from the argument, or one per line of stdin.
 * Messages go through the persisted outbox: if the server is unreachable they stay there and go out the
 * next time this user runs a command, exactly once. What it prints, in order of what is known:
 * "sent to bob" (the server stored it and pushed it to a connected device of bob) or "queued for bob"
 * (stored until bob connects); later "delivered to bob's device" (bob's client stored it: the receipt; with
 * receipts per device "delivered to bob (1 of 2 devices)", delivery-summary.ts) or
 * "could not be read by bob: why" (bob's client could not read it).
 */
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ChatClient, SentMessage } from '../client/chat-client.js';
import { fileSource } from '../client/node/attachment-files.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, connectClient, type UserOptions } from './common.js';
import { sendToGroup } from './group-send.js';
import { deliveredJson, deliveredText } from './delivery-summary.js';
import { fileJson, fileSummary, progressFor } from './file-transfer.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { PROGRESS_MIN_BYTES, terminalLine } from './progress-bar.js';
import { unreadableBySender } from './reasons.js';
import { printable } from './terminal-text.js';

function report(sent: SentMessage): void {
  if (jsonOutput()) {
    writeJson({ type: 'sent', id: sent.id, to: sent.to, status: sent.status });
    return;
  }
  const to = printable(sent.to);
  const what =
    sent.status === 'sent'
      ? `sent to ${to}`
      : sent.status === 'queued'
        ? `queued for ${to} (stored by the server until their device takes it)`
        : `kept in the outbox for ${to} (server unreachable; it goes out on the next run)`;
  process.stderr.write(`${what}, id ${sent.id}\n`);
}

/**
 * The receipts (delivered or unreadable) of this run's messages. It listens from the start: a receipt can
 * arrive while later lines are still being sent, or even before the send's own answer (the recipient may
 * have the envelope as soon as it is committed), and must not be missed by a wait that starts later.
 */
class Receipts {
  /** Every id a receipt arrived for in this run (receipts of earlier runs' messages too: few, and harmless). */
  private readonly seen = new Set<string>();
  /** Expected and not arrived yet. */
  private readonly outstanding = new Set<string>();
  private wake: (() => void) | undefined;

  constructor(client: ChatClient) {
    const record = (r: { id: string }) => {
      this.seen.add(r.id);
      if (this.outstanding.delete(r.id) && this.outstanding.size === 0) this.wake?.();
    };
    client.on('delivered', record);
    client.on('unreadable', record);
  }

  expect(id: string): void {
    if (!this.seen.has(id)) this.outstanding.add(id);
  }

  /** Resolves once every expected receipt has arrived, or after `ms`. */
  async waitAll(ms: number): Promise<void> {
    if (this.outstanding.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }
}

export function registerSendCommand(program: Command): void {
  addUserOptions(
    program
      .command('send')
      .description('send an encrypted message; without [message], sends each line of standard input; --file sends a file')
      .argument('[message...]', 'the text to send (with --file: the caption)')
      .option('-t, --to <name>', 'recipient username')
      .option('-g, --group <group>', 'send to a group instead (its name, or the start of its id when names collide)')
      .option('-f, --file <path>', 'send this file (encrypted with a key of its own, uploaded in chunks; the text, if any, is its caption)')
      .option('-w, --wait <seconds>', 'how long to wait for delivery receipts', '2')
      .addOption(new Option('-m, --mode <mode>', 'ratchet: PQXDH + Double Ratchet sessions (forward secret); hybrid: the seed\'s envelope').choices(['ratchet', 'hybrid']).default('ratchet'))
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\n"sent" means the server stored it and pushed it to a connected device; "delivered" (the receipt) means\n' +
          'the recipient\'s device stored it; "could not be read" means their device received it but could not open it.\n' +
          '\nWith --json, one object per line:\n' +
          '  {"type":"sent","id","to","status"}        status: sent, queued (recipient offline), outbox (server\n' +
          '                                           unreachable: kept, it goes out on the next run)\n' +
          '  {"type":"file","direction":"out","id","from","to","name","size","contentType","path","error":null}\n' +
          '                                           (--file: uploaded, before its "sent" line)\n' +
          '  {"type":"delivered","id","to","deliveredAt"} and, when the receipt names the device, "device",\n' +
          '                                           "delivered","of" (how many of the recipient\'s devices have it)\n' +
          '  {"type":"unreadable","direction":"out","id","serverId":null,"from","to","reason","held":null,"at"}\n' +
          '  {"type":"error","code","message","line"}  a stdin line not sent (line: its number), or the error\n' +
          '                                           the command exits with (line: null)\n' +
          'Times are ms since the epoch. reason: decryption_failed, peer_key_changed, unsupported.\n' +
          '\n--group NAME sends to every member device of a group (needs the server: group messages are not kept\n' +
          'in the outbox). Prints "sent to team (seq 12)"; with --json {"type":"group-sent","groupId","group","seq"}.\n' +
          'Group messages have no delivery receipts.',
      ),
  ).action(async (words: string[], opts: UserOptions & { to?: string; group?: string; wait: string; mode: 'ratchet' | 'hybrid'; file?: string }, command: Command) => {
    // Worded as commander words a missing required option (--to was one before groups), help hint included.
    if (opts.to === undefined && opts.group === undefined) command.error("error: required option '-t, --to <name>' not specified (or -g, --group <group> for a group)");
    if (opts.to !== undefined && opts.group !== undefined) throw new ChatError('bad_request', 'send to a user (--to) or to a group (--group), not both');
    if (opts.group !== undefined) {
      if (opts.file !== undefined) throw new ChatError('bad_request', '--file goes to one user (--to); files are not sent to groups yet');
      await sendToGroup(opts.group, words, opts);
      return;
    }
    const to = opts.to!;
    // Read before connecting: a missing file fails at once. A file needs the server (no outbox for uploads).
    const file = opts.file === undefined ? undefined : await fileSource(opts.file);
    const opened = await connectClient(opts, { allowOffline: file === undefined, mode: opts.mode });
    const { client } = opened;
    const json = jsonOutput();
    client.on('delivered', (d) => {
      if (json) writeJson(deliveredJson(d));
      else process.stderr.write(`${deliveredText(d, opts.user)}, id ${printable(d.id)}\n`);
    });
    client.on('unreadable', (u) => {
      if (json) writeJson({ type: 'unreadable', direction: 'out', id: u.id, serverId: null, from: opts.user, to: u.to, reason: u.reason, held: null, at: u.at });
      else process.stderr.write(`could not be read by ${printable(u.to)}: ${unreadableBySender(u.reason, printable(u.to), opts.user)}, id ${printable(u.id)}\n`);
    });
    const receipts = new Receipts(client);
    let keptOffline = 0;
    let refused = 0;
    let lastRefusal: ChatError | undefined;
    // The client stopped for good while sending (this device removed, or the name now other keys'): no
    // more lines are taken.
    let removed: ChatError | undefined;
    void opened.stopped.then((err) => (removed = err));
    const sendOne = async (body: string, line?: number) => {
      let sent: SentMessage;
      try {
        sent = await client.send(to, body);
      } catch (err) {
        // One refused line (too large, refused by the server) does not stop the lines after it.
        if (line === undefined || !(err instanceof ChatError)) throw err;
        refused++;
        lastRefusal = err;
        process.stderr.write(`error [${err.code}]: line ${line} not sent: ${printable(err.message)}\n`);
        if (json) writeJson({ type: 'error', code: err.code, message: err.message, line });
        return;
      }
      report(sent);
      if (sent.status === 'sent') receipts.expect(sent.id);
      if (sent.status === 'outbox') keptOffline++;
    };
    const sendFile = async (source: NonNullable<typeof file>) => {
      const limit = client.maxAttachmentBytes;
      if (source.size > limit) {
        throw new ChatError('attachment_too_large', `${opts.file} is ${source.size} bytes; the server takes files of at most ${limit} bytes. Nothing was sent`);
      }
      const bar = json ? undefined : progressFor(`sending ${printable(source.name)}`, source.size, process.stderr.isTTY ? terminalLine(process.stderr) : undefined);
      if (!json && !bar && source.size >= PROGRESS_MIN_BYTES) process.stderr.write(`sending ${fileSummary(source)} to ${printable(to)}...\n`);
      let sent: Awaited<ReturnType<ChatClient['sendFile']>>;
      try {
        sent = await client.sendFile(to, source, { ...(words.length > 0 && { caption: words.join(' ') }), ...(bar && { onProgress: (done: number) => bar.update(done) }) });
      } finally {
        bar?.finish();
      }
      if (json) writeJson(fileJson('out', { id: sent.id, from: opts.user, to: to }, sent.attachment, { path: resolve(opts.file!) }));
      else process.stderr.write(`uploaded ${fileSummary(source)}\n`);
      report(sent);
      if (sent.status === 'sent') receipts.expect(sent.id);
      if (sent.status === 'outbox') keptOffline++;
    };
    try {
      if (file) {
        await sendFile(file);
      } else if (words.length > 0) {
        await sendOne(words.join(' '));
      } else {
        if (process.stdin.isTTY) process.stderr.write(`Type messages for ${printable(to)}, one per line; Ctrl-D to finish.\n`);
        let line = 0;
        for await (const text of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          line++;
          if (removed) break;
          if (text.trim() !== '') await sendOne(text, line);
        }
      }
      await receipts.waitAll(Number(opts.wait) * 1000);
    } finally {
      await opened.close();
    }
    if (removed) throw removed;
    if (refused > 0) throw new ChatError(lastRefusal!.code, `${refused} message(s) not sent (see above)`);
    if (keptOffline > 0) throw new ChatError('not_connected', `${keptOffline} message(s) kept in the outbox: the server is unreachable`);
  });
}
