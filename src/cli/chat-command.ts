/**
 * `e2ee-chat chat [--to bob]`: one interactive screen. Incoming messages print above the input line as
 * `[HH:MM] <bob> text` without disturbing what the user is typing; the user's own messages echo the same
 * way, their later states as short `↳` lines. Slash commands switch peers and show history, presence,
 * safety numbers and key reviews (chat-session.ts). With stdin not a terminal it reads line by line and
 * prints the same lines, so scripts and tests can drive it through pipes.
 */
import type { Command } from 'commander';
import { ChatError } from '../protocol/errors.js';
import { USERNAME_PATTERN } from '../protocol/limits.js';
import { ChatScreen } from './chat-screen.js';
import { CHAT_HELP, ChatSession } from './chat-session.js';
import { NO_READ_RECEIPTS_HELP, addUserOptions, connectClient, readReceiptsWanted, serverUrl } from './common.js';
import { DOWNLOAD_DIR_HELP, downloadFolderFor, type DownloadOptions } from './file-transfer.js';
import { GROUP_CHAT_HELP, GroupChatSession } from './group-chat-session.js';
import { groupLabel } from './group-lines.js';
import { groupBacklogHandled, resolveGroup } from './group-resolve.js';
import { printable } from './terminal-text.js';

interface ChatOptions extends DownloadOptions {
  to?: string;
  group?: string;
  /** False with --no-read-receipts. */
  readReceipts?: boolean;
}

export function registerChatCommand(program: Command): void {
  addUserOptions(
    program
      .command('chat')
      .description('interactive chat screen: read and write in one terminal; makes keys and registers on first run')
      .option('-t, --to <name>', 'the peer to talk to first (switch with /to NAME)')
      .option('-g, --group <group>', 'talk in a group instead: its name, or the start of its id when names collide')
      .option('--no-read-receipts', NO_READ_RECEIPTS_HELP)
      .option('--download-dir <dir>', DOWNLOAD_DIR_HELP)
      .addHelpText(
        'after',
        '\n' +
          CHAT_HELP +
          '\n\nMulti-line messages: Alt-Enter (or Esc then Enter) ends a line without sending: the line moves up\n' +
          'and you go on typing the next one (the prompt shows "... "); Enter sends all the lines as ONE\n' +
          'message with line breaks. Lines that arrive together (pasted as one block, or written to a piped\n' +
          'stdin in one write) are one message too. A slash command is a line of its own. A message of several\n' +
          'lines is shown on several lines, each after the first indented under the text.\n' +
          '\nYour messages show their state below them: queued (the peer is offline), delivered (their device\n' +
          'stored it), read (their client showed it to them), could not be read (why), failed. Messages from\n' +
          'others than the current peer show as an unread count until you switch to them. Text from others is\n' +
          'shown with control characters escaped (\\u{1b}).\n' +
          '\nRead receipts: the messages shown on your screen tell their senders they were read (end-to-end\n' +
          'encrypted; an unread count does not). Off with --no-read-receipts, or "e2ee-chat settings\n' +
          'read-receipts off".\n' +
          '\nFiles: /file PATH sends one (a progress bar shows in front of the prompt for large ones); files sent to\n' +
          'you are downloaded as they arrive, checked, and saved in the download folder (never over an existing\n' +
          'file): [HH:MM] <bob> sent file report.pdf (1.2 MiB) → /path/to/report.pdf\n' +
          '\n' +
          GROUP_CHAT_HELP +
          '\nThe group screen shows [alice @ team] text for every group\'s messages and "*" notices for who joined\n' +
          'or left.\n' +
          '\nLike receive, the first run makes the keys and registers the name given by --user or E2EE_CHAT_USER.',
      ),
  ).action(async (opts: ChatOptions) => {
    if (opts.to !== undefined && !USERNAME_PATTERN.test(opts.to)) {
      throw new ChatError('invalid_username', `"${printable(opts.to)}" is not a valid username (^[a-z][a-z0-9_-]{0,31}$)`);
    }
    if (opts.to !== undefined && opts.group !== undefined) throw new ChatError('bad_request', 'chat with a peer (--to) or in a group (--group), not both');
    // Only a name the user gave is created; one taken from the home folder already has keys.
    const opened = await connectClient(opts, { createUser: !opts.userFromHome, readReceipts: await readReceiptsWanted(opts) });
    const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
    let screen: ChatScreen | undefined;
    const group =
      opts.group === undefined
        ? undefined
        : await groupBacklogHandled(opened.client)
            .then(() => resolveGroup(opened.client, opts.group!))
            .catch(async (err: unknown) => {
            await opened.close();
            throw err;
          });
    let leaving: Promise<void> | undefined;
    // Raw mode is readline's to undo; if the process dies some other way, undo it here too.
    const restoreTerminal = () => {
      if (terminal && process.stdin.isTTY) process.stdin.setRawMode(false);
    };
    process.once('exit', restoreTerminal);
    const output = {
      print: (text: string) => (screen ? screen.print(text) : process.stdout.write(`${text}\n`)),
      ...(terminal && { status: (line: string | undefined) => screen?.status(line) }),
    };
    const session = group === undefined ? new ChatSession(opened, output, Date.now, opts.to, downloadFolderFor(opts)) : new GroupChatSession(opened, group, output);
    const leave = (): Promise<void> =>
      (leaving ??= (async () => {
        session.cancelQuestion();
        screen?.close();
        // Messages being shown are marked shown and sends handed to the outbox before the store closes.
        await session.settled();
        await opened.close();
      })());
    session.onQuit = () => void leave().then(() => process.exit(0));
    const quitOnSignal = () => void leave().then(() => process.exit(0));
    process.on('SIGINT', quitOnSignal);
    process.on('SIGTERM', quitOnSignal);
    try {
      const where = group === undefined ? '' : ` in ${groupLabel(group.name, group.groupId)}`;
      process.stderr.write(`Chatting as ${printable(opts.user)}${where} on ${serverUrl(opts)}. /help for commands, Ctrl-C or Ctrl-D to leave.\n`);
      await session.open();
      screen = new ChatScreen(
        { input: process.stdin, output: process.stdout, terminal },
        { submit: (text) => session.submit(text), quit: () => void leave().then(() => process.exit(0)) },
      );
    } catch (err) {
      await leave();
      throw err;
    }
    // The client stopped for good while chatting (this device removed, or the name now other keys'): leave, saying why.
    const removed = await opened.stopped;
    await leave();
    throw removed;
  });
}
