/**
 * `e2ee-chat receive`: the seed's receiver.py. Prints each message as `[sender] text`: first what was
 * stored but never shown (e.g. the process died just after storing it, or another command of this user
 * received it), then the server's backlog, then live messages. Every message is shown once, and so is
 * every envelope that could not be read ("! a message from X could not be read: why").
 *
 * `--timeout S` ends it after S seconds without a new message, for scripts. There is no `--once`
 * ("exit when the backlog is drained"): the protocol has no end-of-backlog signal. The server pushes its
 * backlog and live messages on one stream without marking where one ends (docs/PROTOCOL.md §13), and the
 * client cannot infer it: a short batch only means the delivery window (512) was not full, and the time a
 * batch takes to arrive is no proof that nothing follows.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { HistoryRecord } from '../client/stores.js';
import { addUserOptions, connectClient, serverUrl } from './common.js';
import { DOWNLOAD_DIR_HELP, downloadFolderFor, failedFileLine, fileJson, fileSummary, isFallbackBody, receiveAttachment, receivedFileLine, type DownloadOptions } from './file-transfer.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { PROGRESS_MIN_BYTES, terminalLine } from './progress-bar.js';
import { unreadableReason } from './reasons.js';
import { printable } from './terminal-text.js';

/** The longest --timeout: setTimeout's own limit (2^31 - 1 ms, about 24.8 days); longer waits would fire at once. */
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

interface ReceiveOptions extends DownloadOptions {
  timeout?: number;
}

/** Commander parser for --timeout: seconds, more than 0 (fractions allowed), at most MAX_TIMEOUT_SECONDS. */
function parseTimeout(text: string): number {
  const s = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(s > 0) || s > MAX_TIMEOUT_SECONDS) {
    throw new InvalidArgumentError(`expected a number of seconds above 0, at most ${MAX_TIMEOUT_SECONDS}`);
  }
  return s;
}

/** A record of the local store shown to a person: incoming text on stdout, unreadable ones on stderr. */
function show(m: Pick<HistoryRecord, 'peer' | 'body' | 'status' | 'reason'> & { held?: boolean }): void {
  const peer = printable(m.peer);
  if (m.status === 'unreadable') process.stderr.write(`! a message from ${peer} could not be read: ${unreadableReason(m.reason, peer, m.held)}\n`);
  else process.stdout.write(`[${peer}] ${printable(m.body)}\n`);
}

/** The same record for a script (--json). */
function showJson(m: HistoryRecord, me: string): void {
  if (m.status === 'unreadable') {
    writeJson({
      type: 'unreadable',
      direction: 'in',
      id: null,
      serverId: m.serverId ?? null,
      from: m.peer,
      to: me,
      reason: m.reason ?? 'decryption_failed',
      held: m.reason === 'peer_key_changed',
      at: m.serverTime ?? m.sentAt,
    });
  } else {
    writeJson({ type: 'message', id: m.id, serverId: m.serverId ?? null, from: m.peer, to: me, sentAt: m.sentAt, receivedAt: m.serverTime ?? null, body: m.body });
  }
}

export function registerReceiveCommand(program: Command): void {
  addUserOptions(
    program
      .command('receive')
      .description('receive and print messages (stored ones first); makes keys and registers on first run')
      .option('--timeout <seconds>', 'exit (status 0) after this many seconds without a new message', parseTimeout)
      .option('--download-dir <dir>', DOWNLOAD_DIR_HELP)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nThe first run makes the keys and registers the name given by --user or E2EE_CHAT_USER; a name taken\n' +
          'from the home folder (the only user there) is never created.\n' +
          '\nThere is no --once: the server does not say when its backlog ends, so use --timeout to stop after\n' +
          'a quiet spell.\n' +
          '\nFiles are downloaded as they arrive, checked (a file that fails its check is not kept), and saved in\n' +
          'the download folder under the sender\'s name made safe, never over an existing file ("name (1).ext"):\n' +
          '  [HH:MM] <bob> sent file report.pdf (1.2 MiB) → /path/to/report.pdf\n' +
          '\nWith --json, one object per line:\n' +
          '  {"type":"message","id","serverId","from","to","sentAt","receivedAt","body"}\n' +
          '  {"type":"file","direction":"in","id","from","to","name","size","contentType","path","error"}\n' +
          '                                                           (after its message: path where it was saved,\n' +
          '                                                           or null and error {"code","message"})\n' +
          '  {"type":"unreadable","direction":"in","id":null,"serverId","from","to","reason","held","at"}\n' +
          '  {"type":"delivered","id","to","deliveredAt"}             (receipt for a message you sent)\n' +
          '  {"type":"unreadable","direction":"out","id","serverId":null,"from","to","reason","held":null,"at"}\n' +
          '  {"type":"error","code","message","line":null}            (the error it exits with)\n' +
          'Times are ms since the epoch (sentAt: the sender\'s clock; receivedAt, at: the server\'s). reason:\n' +
          'decryption_failed, peer_key_changed (held: kept sealed until "e2ee-chat trust <from>"), unsupported.',
      ),
  ).action(async (opts: ReceiveOptions) => {
    const json = jsonOutput();
    // Only a name the user gave is created; one taken from the home folder already has keys.
    const opened = await connectClient(opts, { createUser: !opts.userFromHome });
    const { client, messages } = opened;
    const me = opts.user;
    const downloads = downloadFolderFor(opts);
    // A bar only for people watching a terminal; scripts get the file line alone.
    const progress = !json && process.stderr.isTTY ? terminalLine(process.stderr) : undefined;
    // Shown in arrival order: one chain for the stored-but-unshown ones and the new ones.
    let shown: Promise<void> = Promise.resolve();
    // What is being shown is finished (and marked shown) before the store closes.
    const stop = () =>
      void shown
        .catch(() => undefined)
        .then(() => opened.close())
        .then(() => process.exit(0));
    // Handlers first, then the "Listening" line: a supervisor may signal as soon as it sees it.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let quiet: NodeJS.Timeout | undefined;
    /** Restarts the --timeout countdown: called at start and for each message shown. */
    const activity = () => {
      if (opts.timeout === undefined) return;
      clearTimeout(quiet);
      quiet = setTimeout(stop, opts.timeout * 1000);
    };
    /**
     * Shows one record; a message with a file then has the file downloaded, checked and reported (in the
     * display chain, so lines keep the order of the messages). `held` is false for an envelope refused
     * for a key change but not kept (the held limits were reached).
     */
    const display = async (m: HistoryRecord, held?: boolean) => {
      activity();
      const attachment = m.status === 'received' ? m.attachment : undefined;
      if (json) showJson(m, me);
      // The body that only names the file would say what the file line says.
      else if (!attachment || !isFallbackBody(m.body, attachment)) show(held === undefined ? m : { ...m, held });
      if (!attachment) return;
      if (!json && !progress && attachment.size >= PROGRESS_MIN_BYTES) process.stderr.write(`receiving ${fileSummary(attachment)} from ${printable(m.peer)}...\n`);
      const outcome = await receiveAttachment(client, attachment, downloads, progress);
      activity();
      if (json) writeJson(fileJson('in', { id: m.id, from: m.peer, to: me }, attachment, outcome));
      else if (outcome.path !== undefined) process.stdout.write(`${receivedFileLine(m.sentAt, m.peer, attachment, outcome.path)}\n`);
      else process.stderr.write(`${failedFileLine(m.peer, attachment, outcome.error)}\n`);
    };
    shown = (async () => {
      const unshown = await messages.undisplayed();
      for (const m of unshown) await display(m);
      await messages.markDisplayed(unshown.map((m) => m.id));
    })();
    client.on('message', (m) => {
      shown = shown.then(async () => {
        await display({
          id: m.id,
          direction: 'in',
          peer: m.from,
          body: m.body,
          sentAt: m.sentAt,
          serverId: m.serverId,
          serverTime: m.receivedAt,
          status: 'received',
          ...(m.attachment && { attachment: m.attachment }),
        });
        await messages.markDisplayed([m.id]);
      });
    });
    client.on('rejected', (r) => {
      shown = shown.then(async () => {
        await display({ id: r.recordId, direction: 'in', peer: r.from, body: '', sentAt: r.receivedAt, serverId: r.serverId, serverTime: r.receivedAt, status: 'unreadable', reason: r.reason }, r.held);
        await messages.markDisplayed([r.recordId]);
      });
    });
    client.on('delivered', (d) => {
      if (json) writeJson({ type: 'delivered', id: d.id, to: d.to, deliveredAt: d.deliveredAt });
      else process.stderr.write(`(delivered to ${printable(d.to)}'s device: ${printable(d.id)})\n`);
    });
    client.on('unreadable', (u) => {
      if (json) writeJson({ type: 'unreadable', direction: 'out', id: u.id, serverId: null, from: me, to: u.to, reason: u.reason, held: null, at: u.at });
      else process.stderr.write(`(could not be read by ${printable(u.to)}: ${printable(u.reason)}: ${printable(u.id)})\n`);
    });
    client.on('disconnected', ({ reason }) => process.stderr.write(`connection lost (${printable(reason)}); reconnecting...\n`));
    client.on('reconnected', () => process.stderr.write('reconnected\n'));
    activity();
    const until = opts.timeout === undefined ? 'Press Ctrl-C to stop' : `Stops after ${opts.timeout} s without a message`;
    process.stderr.write(`Listening as ${opts.user} on ${serverUrl(opts)}. ${until}.\n`);
  });
}
