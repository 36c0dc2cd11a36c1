/**
 * `e2ee-chat chat --group NAME`: the chat screen for one group. It opens with the group's members and its
 * last lines of history, then shows what arrives: every group's messages as `[alice @ team] text` (the
 * group is in every line, so a message of another group cannot pass for this one's) and membership
 * changes as `*` notices; a line typed goes to the group and is echoed the same way once the server took
 * it. Messages from single users stay unshown (receive or chat --to shows them); the screen counts them.
 * Slash commands: /members, /update, /help, /quit.
 */
import { groupChangeEntry, groupTextEntry, type GroupHistoryEntry } from '../client/groups/group-history.js';
import { ChatError } from '../protocol/errors.js';
import type { ChatOutput } from './chat-lines.js';
import type { OpenedClient } from './common.js';
import { entryText, groupLabel, usersWithDevices } from './group-lines.js';
import type { ResolvedGroup } from './group-resolve.js';
import { sendGroupText } from './group-send.js';
import { printable } from './terminal-text.js';

/** History lines shown when the screen opens. */
export const GROUP_CHAT_BACKLOG = 20;

export const GROUP_CHAT_HELP =
  'In a group (chat --group NAME), lines go to every member; commands:\n' +
  '  /members   who is in the group (by user and device) and its epoch\n' +
  '  /update    fresh keys for this device in the group (post-compromise security)\n' +
  '  /help      this text\n' +
  '  /quit      leave the screen (Ctrl-C, Ctrl-D too); to leave the group: e2ee-chat group leave NAME';

export class GroupChatSession {
  /** Entries shown on this screen (a live one may also be among the stored-but-unshown read at open). */
  private readonly shown = new Set<string>();
  /** Work in order: shown lines and sends keep the order they were made in, and leaving waits for it. */
  private chain: Promise<void> = Promise.resolve();
  private directUnread = 0;
  onQuit: (() => void) | undefined;

  constructor(
    private readonly opened: OpenedClient,
    private readonly group: ResolvedGroup,
    private readonly out: ChatOutput,
  ) {}

  private get label(): string {
    return groupLabel(this.group.name, this.group.groupId);
  }

  /**
   * Shows the members and recent history, then what arrives. The stored entries are read first in the
   * chain, but only after the listeners below are added (in this tick): the client records an entry
   * before it tells of it, so each one is either read there or heard after, and `shown` keeps it to once.
   */
  async open(): Promise<void> {
    const { client, groupHistory } = this.opened;
    await this.printMembers();
    const backlog = this.chain.then(async () => {
      for (const e of await groupHistory.history(this.group.groupId, GROUP_CHAT_BACKLOG)) {
        this.shown.add(e.id);
        for (const line of entryText(e)) this.out.print(line);
      }
      const unshown = await groupHistory.undisplayed();
      await groupHistory.markDisplayed(unshown.filter((e) => this.shown.has(e.id)).map((e) => e.id));
      for (const e of unshown) await this.display(e);
    });
    this.chain = backlog;
    client.on('groupMessage', (m) => this.show(groupTextEntry(m, 'in')));
    client.on('groupMembership', (c) => this.show(groupChangeEntry(c, Date.now())));
    client.on('groupRefused', (r) => this.out.print(`! a message in ${groupLabel(undefined, r.groupId)} from ${printable(r.from.user)}/${r.from.device} was refused: ${printable(r.error.message)}`));
    client.on('message', () => {
      this.directUnread++;
      this.out.print(`(${this.directUnread} unread direct message(s): e2ee-chat chat --to NAME or receive shows them)`);
    });
    await backlog;
  }

  private show(e: GroupHistoryEntry): void {
    this.chain = this.chain.then(() => this.display(e));
  }

  /** Prints an entry not shown on this screen yet, and marks it shown. */
  private async display(e: GroupHistoryEntry): Promise<void> {
    if (this.shown.has(e.id)) return;
    this.shown.add(e.id);
    for (const line of entryText(e)) this.out.print(line);
    await this.opened.groupHistory.markDisplayed([e.id]);
  }

  private async printMembers(): Promise<void> {
    const info = await this.opened.client.groupInfo(this.group.groupId);
    if (!info.active) {
      this.out.print(`* you are no longer in ${this.label}`);
      return;
    }
    this.out.print(`* ${this.label}, epoch ${info.epoch}: ${usersWithDevices(info.members).join(', ')}`);
  }

  /** One entry typed by the user: a slash command, or a text for the group. */
  submit(text: string): void {
    this.chain = this.chain.then(() => this.handle(text)).catch((err: unknown) => {
      this.out.print(err instanceof ChatError ? `! not done [${err.code}]: ${printable(err.message)}` : `! ${printable(String(err))}`);
    });
  }

  private async handle(text: string): Promise<void> {
    const command = text.trim();
    if (command === '/quit') return this.onQuit?.();
    if (command === '/help') return GROUP_CHAT_HELP.split('\n').forEach((l) => this.out.print(l));
    if (command === '/members') return this.printMembers();
    if (command === '/update') {
      await this.opened.client.updateGroupKeys(this.group.groupId);
      return;
    }
    if (command.startsWith('/')) {
      this.out.print(`! unknown command ${printable(command.split(/\s/)[0]!)} (/help lists them)`);
      return;
    }
    const seq = await sendGroupText(this.opened, this.group, text);
    const echo = groupTextEntry({ groupId: this.group.groupId, name: this.group.name, from: { user: this.opened.client.username, device: this.opened.client.device }, text, sentAt: Date.now(), seq }, 'out');
    this.shown.add(echo.id);
    for (const line of entryText(echo)) this.out.print(line);
  }

  /** Nothing asks a question on this screen (the peer screen's key reviews do). */
  cancelQuestion(): void {}

  /** Resolves once what was typed has been sent and what arrived has been shown. */
  async settled(): Promise<void> {
    for (let last: Promise<void> | undefined; last !== this.chain; ) {
      last = this.chain;
      await last.catch(() => undefined);
    }
  }
}
