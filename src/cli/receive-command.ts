/**
 * `e2ee-chat receive`: the seed's receiver.py. Prints each message as `[sender] text`: first what was
 * stored but never shown (e.g. the process died just after storing it, or another command of this user
 * received it), then the server's backlog, then live messages. Every message is shown once, and so is
 * every envelope that could not be read ("! a message from X could not be read: why").
 *
 * For scripts: `--timeout S` ends it after S seconds without a new message; `--once` ends it after the
 * backlog: once the server has said that everything queued at login was pushed (`backlog.end`,
 * docs/PROTOCOL.md §7.11) and every message of it has been shown, marked shown and acknowledged. That is
 * the server's word: a server that says it early ends the run early (the rest waits, queued, for the next
 * run), and one that never says it (an older server, or a lying one) would keep it running, so `--once`
 * always has a quiet-time bound too: --timeout if given, else ONCE_QUIET_SECONDS.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { ChatClient } from '../client/chat-client.js';
import type { HistoryRecord } from '../client/stores.js';
import { receivedRecord } from '../client/inbound.js';
import { deliveredJson, deliveredText } from './delivery-summary.js';
import { NO_READ_RECEIPTS_HELP, addUserOptions, connectClient, readReceiptsWanted, serverUrl } from './common.js';
import { DOWNLOAD_DIR_HELP, downloadFolderFor, failedFileLine, fileJson, fileSummary, isFallbackBody, receiveAttachment, receivedFileLine, type DownloadOptions } from './file-transfer.js';
import { entryJson, entryText, groupLabel } from './group-lines.js';
import { groupChangeEntry, groupTextEntry, type GroupHistoryEntry } from '../client/groups/group-history.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { PROGRESS_MIN_BYTES, terminalLine } from './progress-bar.js';
import { unreadableReason } from './reasons.js';
import { printable } from './terminal-text.js';

/** The longest --timeout: setTimeout's own limit (2^31 - 1 ms, about 24.8 days); longer waits would fire at once. */
const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/**
 * --once without --timeout: the run still ends this long after the last message if the server never says
 * where its backlog ends. An honest server says it right after the backlog, so this only bounds a server
 * that does not (older than the marker, or lying), while leaving a slow backlog time to trickle in.
 */
export const ONCE_QUIET_SECONDS = 10;

interface ReceiveOptions extends DownloadOptions {
  timeout?: number;
  once?: boolean;
  /** False with --no-read-receipts. */
  readReceipts?: boolean;
}

/** Commander parser for --timeout: seconds, more than 0 (fractions allowed), at most MAX_TIMEOUT_SECONDS. */
function parseTimeout(text: string): number {
  const s = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(s > 0) || s > MAX_TIMEOUT_SECONDS) {
    throw new InvalidArgumentError(`expected a number of seconds above 0, at most ${MAX_TIMEOUT_SECONDS}`);
  }
  return s;
}

/**
 * A record of the local store shown to a person: incoming text on stdout, unreadable ones on stderr. A
 * message the user sent from another of their devices (its copy for this one) reads `[alice → bob]`.
 */
function show(m: Pick<HistoryRecord, 'peer' | 'body' | 'status' | 'reason' | 'direction'> & { held?: boolean }, me: string): void {
  const peer = printable(m.peer);
  if (m.status === 'unreadable') process.stderr.write(`! a message from ${peer} could not be read: ${unreadableReason(m.reason, peer, m.held)}\n`);
  else if (m.direction === 'out') process.stdout.write(`[${printable(me)} → ${peer}] ${printable(m.body)}\n`);
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
    // A copy of the user's own message from another of their devices: from the user, to its peer.
    const [from, to] = m.direction === 'out' ? [me, m.peer] : [m.peer, me];
    writeJson({ type: 'message', id: m.id, serverId: m.serverId ?? null, from, to, sentAt: m.sentAt, receivedAt: m.serverTime ?? null, body: m.body });
  }
}

export function registerReceiveCommand(program: Command): void {
  addUserOptions(
    program
      .command('receive')
      .description('receive and print messages (stored ones first); makes keys and registers on first run')
      .option('--timeout <seconds>', 'exit (status 0) after this many seconds without a new message', parseTimeout)
      .option('--once', `exit (status 0) after the backlog: the messages waiting for you now are shown, then it stops (see below)`)
      .option('--no-read-receipts', NO_READ_RECEIPTS_HELP)
      .option('--download-dir <dir>', DOWNLOAD_DIR_HELP)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nThe first run makes the keys and registers the name given by --user or E2EE_CHAT_USER; a name taken\n' +
          'from the home folder (the only user there) is never created.\n' +
          '\n--once stops when the server says the messages queued for you at login have all been sent, and each\n' +
          'has been shown and acknowledged. That is the server\'s word, which the client cannot check: a server\n' +
          'that says it early ends the run early (what it kept back waits for the next run). If the server\n' +
          `never says it (an older server), --once still stops after --timeout seconds without a message, or\n` +
          `${ONCE_QUIET_SECONDS} s without --timeout, saying so on stderr; the exit status is 0 either way.\n` +
          '\nGroup messages show as [alice @ team] text, membership changes as notices: "* bob (devices 1, 2)\n' +
          'joined team", "* carol (device 1) left team", "* you joined team", "* you are no longer in team".\n' +
          '\nFiles are downloaded as they arrive, checked (a file that fails its check is not kept), and saved in\n' +
          'the download folder under the sender\'s name made safe, never over an existing file ("name (1).ext"):\n' +
          '  [HH:MM] <bob> sent file report.pdf (1.2 MiB) → /path/to/report.pdf\n' +
          '\nWith --json, one object per line:\n' +
          '  {"type":"message","id","serverId","from","to","sentAt","receivedAt","body"}\n' +
          '  {"type":"file","direction":"in","id","from","to","name","size","contentType","path","error"}\n' +
          '                                                           (after its message: path where it was saved,\n' +
          '                                                           or null and error {"code","message"})\n' +
          '  {"type":"unreadable","direction":"in","id":null,"serverId","from","to","reason","held","at"}\n' +
          '  {"type":"delivered","id","to","deliveredAt"}             (receipt for a message you sent; with\n' +
          '                                                           "device","delivered","of" when it names the device)\n' +
          '  {"type":"read","id","to","readAt"}                       (its recipient was shown it)\n' +
          '  {"type":"unreadable","direction":"out","id","serverId":null,"from","to","reason","held":null,"at"}\n' +
          '  {"type":"error","code","message","line":null}            (the error it exits with)\n' +
          '  {"type":"group-message","id","groupId","group","direction","from","device","seq","sentAt","body"}\n' +
          '  {"type":"group-membership","id","groupId","group","epoch","added","removed","joined","left","at"}\n' +
          '  {"type":"group-refused","groupId","seq","from","device","code","message"}\n' +
          'Times are ms since the epoch (sentAt: the sender\'s clock; readAt: the reader\'s; receivedAt, at: the\n' +
          'server\'s). reason: decryption_failed, peer_key_changed (held: kept sealed until\n' +
          '"e2ee-chat trust <from>"), unsupported.\n' +
          '\nRead receipts: each message shown here tells its sender it was read, in an end-to-end encrypted\n' +
          'message the server cannot read (unreadable ones are not). Off with --no-read-receipts (this run)\n' +
          'or "e2ee-chat settings read-receipts off" (from now on).',
      ),
  ).action(async (opts: ReceiveOptions) => {
    const json = jsonOutput();
    // Only a name the user gave is created; one taken from the home folder already has keys.
    const me = opts.user;
    // Receipts are news only when they come: listening from before the login, none of the backlog's is missed.
    const listen = (client: ChatClient) => {
      client.on('delivered', (d) => {
        if (json) writeJson(deliveredJson(d));
        else process.stderr.write(`(${deliveredText(d, me)}: ${printable(d.id)})\n`);
      });
      client.on('read', (r) => {
        for (const id of r.ids) {
          if (json) writeJson({ type: 'read', id, to: r.by, readAt: r.readAt });
          else process.stderr.write(`(read by ${printable(r.by)}: ${printable(id)})\n`);
        }
      });
      client.on('unreadable', (u) => {
        if (json) writeJson({ type: 'unreadable', direction: 'out', id: u.id, serverId: null, from: me, to: u.to, reason: u.reason, held: null, at: u.at });
        else process.stderr.write(`(could not be read by ${printable(u.to)}: ${printable(u.reason)}: ${printable(u.id)})\n`);
      });
    };
    const opened = await connectClient(opts, { createUser: !opts.userFromHome, readReceipts: await readReceiptsWanted(opts), listen });
    const { client, messages } = opened;
    const downloads = downloadFolderFor(opts);
    // A bar only for people watching a terminal; scripts get the file line alone.
    const progress = !json && process.stderr.isTTY ? terminalLine(process.stderr) : undefined;
    // Shown in arrival order: one chain for the stored-but-unshown ones and the new ones.
    let shown: Promise<void> = Promise.resolve();
    let stopping = false;
    // What is being shown is finished (and marked shown) before the store closes.
    const stop = () => {
      if (stopping) return;
      stopping = true;
      void shown
        .catch(() => undefined)
        .then(() => opened.close())
        .then(() => process.exit(0));
    };
    // Handlers first, then the "Listening" line: a supervisor may signal as soon as it sees it.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    let caughtUp = false;
    const quietSeconds = opts.timeout ?? (opts.once ? ONCE_QUIET_SECONDS : undefined);
    let quiet: NodeJS.Timeout | undefined;
    /** Restarts the quiet countdown (--timeout, or --once's bound): called at start and for each message shown. */
    const activity = () => {
      if (quietSeconds === undefined) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        if (opts.once && !caughtUp) process.stderr.write(`The server did not say where its backlog ends; stopped after ${quietSeconds} s without a message.\n`);
        stop();
      }, quietSeconds * 1000);
    };
    /**
     * Records shown by this run. A message the client announces while the stored-but-unshown ones are
     * being read may be among them (it was recorded before the read and announced after): shown once.
     */
    const shownHere = new Set<string>();
    /** `held` is false for an envelope refused for a key change but not kept (the held limits were reached). */
    const display = (m: HistoryRecord, held?: boolean): boolean => {
      if (shownHere.has(m.id)) return false;
      shownHere.add(m.id);
      activity();
      if (json) showJson(m, me);
      // The body that only names a file would say what its file line says.
      else if (!(m.status === 'received' && m.attachment && isFallbackBody(m.body, m.attachment))) show(held === undefined ? m : { ...m, held }, me);
      return true;
    };
    /**
     * A shown message's file: downloaded, checked and reported, in the display chain (lines keep the order
     * of the messages; --once and a signal wait for it).
     */
    const receiveFile = async (m: HistoryRecord) => {
      const attachment = m.status === 'received' ? m.attachment : undefined;
      if (!attachment) return;
      if (!json && !progress && attachment.size >= PROGRESS_MIN_BYTES) process.stderr.write(`receiving ${fileSummary(attachment)} from ${printable(m.peer)}...\n`);
      const outcome = await receiveAttachment(client, attachment, downloads, progress);
      activity();
      if (json) writeJson(fileJson('in', { id: m.id, from: m.peer, to: me }, attachment, outcome));
      else if (outcome.path !== undefined) process.stdout.write(`${receivedFileLine(m.sentAt, m.peer, attachment, outcome.path)}\n`);
      else process.stderr.write(`${failedFileLine(m.peer, attachment, outcome.error)}\n`);
    };
    /** Shown and marked shown: its sender gets a read receipt (if they are on; unreadable ones are not read). */
    const read = (m: HistoryRecord) => {
      if (m.status === 'received') client.markRead(m.peer, [m.id]);
    };
    shown = (async () => {
      const unshown: HistoryRecord[] = [];
      for (const m of await messages.undisplayed()) {
        if (!display(m)) continue;
        unshown.push(m);
        await receiveFile(m);
      }
      await messages.markDisplayed(unshown.map((m) => m.id));
      unshown.forEach(read);
    })();
    client.on('message', (m) => {
      shown = shown.then(async () => {
        const record = receivedRecord(m);
        if (!display(record)) return;
        await receiveFile(record);
        await messages.markDisplayed([m.id]);
        read(record);
      });
    });
    /** A group's message or membership change: shown once, then marked shown (groups/group-history.ts). */
    const displayGroup = async (e: GroupHistoryEntry) => {
      if (shownHere.has(e.id)) return;
      shownHere.add(e.id);
      activity();
      if (json) writeJson(entryJson(e));
      else for (const line of entryText(e)) process.stdout.write(`${line}\n`);
      await opened.groupHistory.markDisplayed([e.id]);
    };
    // Read in the chain, so after the listeners below are added (in this tick): the client records an
    // entry before it tells of it, so each one is either read here or heard after (shownHere: once).
    shown = shown.then(async () => {
      for (const e of await opened.groupHistory.undisplayed()) await displayGroup(e);
    });
    client.on('groupMessage', (m) => {
      const entry = groupTextEntry(m, 'in');
      shown = shown.then(() => displayGroup(entry));
    });
    client.on('groupMembership', (c) => {
      const entry = groupChangeEntry(c, Date.now());
      shown = shown.then(() => displayGroup(entry));
    });
    client.on('groupRefused', (r) => {
      shown = shown.then(() => {
        activity();
        if (json) writeJson({ type: 'group-refused', groupId: r.groupId, seq: r.seq, from: r.from.user, device: r.from.device, code: r.error.code, message: r.error.message });
        else process.stderr.write(`! a message in group ${groupLabel(undefined, r.groupId)} from ${printable(r.from.user)}/${r.from.device} was refused: ${printable(r.error.message)}\n`);
      });
    });
    client.on('rejected', (r) => {
      shown = shown.then(async () => {
        if (!display({ id: r.recordId, direction: 'in', peer: r.from, body: '', sentAt: r.receivedAt, serverId: r.serverId, serverTime: r.receivedAt, status: 'unreadable', reason: r.reason }, r.held)) return;
        await messages.markDisplayed([r.recordId]);
      });
    });
    // The client tells caughtUp after every message before it was announced, so `shown` already holds
    // their display; stop() finishes it, then close() sends the acks.
    if (opts.once) {
      void client.caughtUp().then(() => {
        caughtUp = true;
        stop();
      });
    }
    client.on('disconnected', ({ reason }) => process.stderr.write(`connection lost (${printable(reason)}); reconnecting...\n`));
    client.on('reconnected', () => process.stderr.write('reconnected\n'));
    activity();
    const until = opts.once
      ? `Stops after the messages waiting now (or ${quietSeconds} s without a message)`
      : opts.timeout === undefined
        ? 'Press Ctrl-C to stop'
        : `Stops after ${opts.timeout} s without a message`;
    process.stderr.write(`Listening as ${opts.user} on ${serverUrl(opts)}. ${until}.\n`);
    // The client stopped for good while listening (this device removed, or the name now other keys'). What
    // is being shown is finished and the store closed, then the command fails saying why (a stop under way
    // exits 0 itself).
    const removed = await opened.stopped;
    if (stopping) return;
    stopping = true;
    clearTimeout(quiet);
    await shown.catch(() => undefined);
    await opened.close();
    throw removed;
  });
}
