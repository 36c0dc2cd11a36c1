/**
 * What `e2ee-chat chat` does with the screen: the conversation with the current peer, unread counts for
 * the others, the state of the user's own messages, and the slash commands. Every text that came from
 * the network or a file (names, bodies, reasons, server error texts) goes through printable().
 */
import type { SentMessage } from '../client/chat-client.js';
import type { OpenedClient } from './common.js';
import { safetyNumberWith } from './common.js';
import { DownloadFolder } from '../client/node/attachment-files.js';
import type { HistoryRecord } from '../client/stores.js';
import { receivedRecord } from '../client/inbound.js';
import { PeerKeyChangedError, samePeerKeys, toPinned } from '../client/peer-keys.js';
import { formatSafetyNumber } from '../e2ee/safety-number.js';
import { ChatError } from '../protocol/errors.js';
import { USERNAME_PATTERN } from '../protocol/limits.js';
import { ChatFiles } from './chat-files.js';
import { deliveredSummary } from './delivery-summary.js';
import { unreadableBySender, unreadableReason } from './reasons.js';
import { printable } from './terminal-text.js';
import { type ChatOutput, messageLine, storedState } from './chat-lines.js';
import { keyReviewLines } from './trust-command.js';

/** Messages shown on open and by a bare /history: enough to pick the conversation up again. */
export const OPEN_HISTORY = 10;
/** The longest /history: what fits in a terminal's scrollback without flooding it. */
const MAX_HISTORY = 1000;
/** Characters of one's own message quoted in its state line, to say which message it is about. */
const PREVIEW_CHARS = 24;
/** Early states kept for sends not answered yet: more than the sends one person has in flight. */
const MAX_EARLY_STATES = 256;

export const CHAT_HELP = [
  'Commands: /to NAME (talk to NAME), /users (who is online), /history [n] (last n messages, default 10),',
  '/verify (safety number of the current peer), /trust (review and accept their new keys), /file PATH (send',
  'a file to the current peer), /help, /quit.',
  'Alt-Enter (or Esc then Enter) starts a new line in the same message; Enter sends it. Lines pasted at',
  'once are sent as one message too. Ctrl-C or Ctrl-D leaves. Files others send are saved in the download',
  'folder as they arrive.',
].join('\n');

function preview(body: string): string {
  const text = printable(body);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

export class ChatSession {
  private peer: string | undefined;
  /** Messages from peers other than the current one, not shown yet, per peer (oldest first). */
  private readonly unread = new Map<string, HistoryRecord[]>();
  /** This session's own messages, by id: for their state lines. */
  private readonly mine = new Map<string, { to: string; body: string; status: string }>();
  /**
   * States that arrived before their send's answer (a receipt can overtake it), shown once the answer
   * names the message; also receipts of other processes' messages, which no answer claims: bounded.
   */
  private readonly early = new Map<string, string[]>();
  /** The answer the next input line gives (a y/N question asked in the screen), if one is pending. */
  private question: ((answer: string) => void) | undefined;
  /** Screen work in order: each entry waits for the one before (history before live, sends in order). */
  private work: Promise<void> = Promise.resolve();
  /** Ids of incoming records this session has shown or counted (see firstSight). */
  private readonly met = new Set<string>();
  /** Files going out or coming in (chat-files.ts). */
  private readonly files: ChatFiles;

  constructor(
    private readonly opened: OpenedClient,
    private readonly out: ChatOutput,
    private readonly now: () => number,
    peer: string | undefined,
    downloads?: DownloadFolder,
  ) {
    this.peer = peer;
    this.files = new ChatFiles({
      client: opened.client,
      shown: (record) => this.shown([record]),
      out,
      // Made when the first file comes: the user's folder is only needed then.
      downloads: () => (downloads ??= new DownloadFolder(opened.folder.downloadsDir)),
      me: opened.identity.username,
      now,
    });
    this.listen();
  }

  private get me(): string {
    return this.opened.identity.username;
  }

  /** Runs `task` after the work before it; a failure is printed, never thrown out of the screen. */
  private queue(task: () => Promise<void>): Promise<void> {
    this.work = this.work.then(task).catch((err: unknown) => this.out.print(errorLine(err)));
    return this.work;
  }

  /** Finishes the queued work (shown messages are marked shown, sends handed to the outbox, files done). */
  async settled(): Promise<void> {
    await this.work;
    await this.files.settled();
  }

  /** On open: the last messages with the current peer, and unread counts for what others sent meanwhile. */
  open(): Promise<void> {
    return this.queue(async () => {
      const { messages } = this.opened;
      const pending = await messages.undisplayed();
      const inHistory = this.peer === undefined ? new Set<string>() : await this.showHistory(this.peer, OPEN_HISTORY);
      // What the history just printed counts as met too: announced after, it is not printed again.
      for (const id of inHistory) this.met.add(id);
      const shown: HistoryRecord[] = [];
      for (const r of pending) {
        const first = this.firstSight(r.id);
        if (!first && !inHistory.has(r.id)) continue;
        if (r.status === 'received' && r.attachment) {
          if (first) this.files.receive({ ...r, attachment: r.attachment });
          continue;
        }
        if (r.peer === this.peer) {
          // Unshown messages older than the last OPEN_HISTORY are still shown, once, after them.
          if (!inHistory.has(r.id)) this.out.print(r.status === 'unreadable' ? unreadableLine(r) : messageLine(r.sentAt, r.peer, r.body));
          shown.push(r);
        } else if (r.status === 'unreadable') {
          this.out.print(unreadableLine(r));
          shown.push(r);
        } else this.addUnread(r);
      }
      await this.shown(shown);
      this.out.print(this.peer === undefined ? 'No peer chosen: /to NAME to start. /help lists the commands.' : `Talking to ${printable(this.peer)}. /help lists the commands.`);
    });
  }

  private listen(): void {
    const { client, messages } = this.opened;
    client.on('message', (m) => {
      const record = receivedRecord(m);
      void this.queue(async () => {
        if (!this.firstSight(record.id)) return;
        // Sent by the user from another device: shown as their own line in the conversation it belongs to.
        if (m.outgoing) {
          if (m.to === this.peer) this.out.print(messageLine(m.sentAt, m.from, m.body));
          return;
        }
        if (record.attachment) {
          this.files.receive({ ...record, attachment: record.attachment });
          return;
        }
        if (m.from !== this.peer) {
          this.addUnread(record);
          return;
        }
        this.out.print(messageLine(m.sentAt, m.from, m.body));
        await this.shown([record]);
      });
    });
    client.on('rejected', (r) => {
      void this.queue(async () => {
        if (!this.firstSight(r.recordId)) return;
        this.out.print(unreadableLine({ peer: r.from, status: 'unreadable', reason: r.reason, ...(r.held ? {} : { held: false }) }));
        await messages.markDisplayed([r.recordId]);
      });
    });
    // Only for messages that waited in the outbox: for the others the send's own answer says it.
    client.on('sent', (s) => {
      const m = this.mine.get(s.id);
      if (m?.status !== 'outbox') return;
      m.status = s.status;
      this.state(s.id, s.status === 'queued' ? `queued: ${printable(s.to)} is offline; the server keeps it until they connect` : 'sent');
    });
    // A message to one device says "delivered", as before devices; to several, how many have it.
    client.on('delivered', (d) => this.state(d.id, deliveredSummary(d, this.me) ?? 'delivered'));
    client.on('read', (r) => {
      for (const id of r.ids) this.state(id, 'read');
    });
    client.on('unreadable', (u) => this.state(u.id, `could not be read by ${printable(u.to)}: ${unreadableBySender(u.reason, printable(u.to), printable(this.me))}`));
    client.on('failed', (f) => this.state(f.id, `failed [${printable(f.error.code)}]: ${printable(f.error.message)}`));
    client.on('disconnected', ({ reason }) => this.out.print(`! connection lost (${printable(reason)}); reconnecting...`));
    client.on('reconnected', () => this.out.print('! reconnected'));
    client.on('presence', (p) => {
      if (p.username === this.peer) this.out.print(`* ${printable(p.username)} is ${p.online ? 'online' : 'offline'}`);
    });
  }

  /** A state line for one of this session's own messages (receipts of other processes' messages are not ours to show). */
  private state(id: string, what: string): void {
    const m = this.mine.get(id);
    if (!m) {
      this.early.set(id, [...(this.early.get(id) ?? []), what]);
      if (this.early.size > MAX_EARLY_STATES) this.early.delete(this.early.keys().next().value!);
      return;
    }
    this.out.print(`  ↳ ${what} (${preview(m.body)})`);
  }

  /**
   * True the first time this session meets a record. A message recorded just before open() reads the
   * unshown ones, and announced just after, reaches both paths: it is shown (or counted unread) once.
   */
  private firstSight(id: string): boolean {
    if (this.met.has(id)) return false;
    this.met.add(id);
    return true;
  }

  private addUnread(r: HistoryRecord): void {
    const list = this.unread.get(r.peer) ?? [];
    list.push(r);
    this.unread.set(r.peer, list);
    const name = printable(r.peer);
    this.out.print(`(${list.length} unread from ${name}; /to ${name})`);
  }

  /** One entry from the input line: the answer to a pending question, a slash command, or a message. */
  submit(text: string): void {
    if (this.question) {
      const answer = this.question;
      this.question = undefined;
      // A slash command instead of an answer means "no", and then runs (so /quit still leaves).
      if (!text.startsWith('/')) {
        answer(text);
        return;
      }
      answer('');
    }
    if (text.startsWith('/') && !text.includes('\n')) {
      void this.queue(() => this.command(text.trim()));
      return;
    }
    if (text.trim() === '') return;
    void this.queue(() => this.send(text));
  }

  private async send(body: string): Promise<void> {
    const to = this.peer;
    if (to === undefined) {
      this.out.print('! no peer chosen: /to NAME first');
      return;
    }
    this.out.print(messageLine(this.now(), this.me, body));
    try {
      this.track(await this.opened.client.send(to, body), body);
    } catch (err) {
      if (err instanceof PeerKeyChangedError) {
        this.out.print(`! not sent: ${printable(to)}'s keys have changed since you pinned them. /trust reviews them (compare fingerprints first).`);
      } else this.out.print(`! not sent: ${errorText(err)}`);
    }
  }

  /** One of this session's own messages, accepted by the server (or kept in the outbox): its state lines from now on. */
  private track(sent: SentMessage, body: string): void {
    this.mine.set(sent.id, { to: sent.to, body, status: sent.status });
    const early = this.early.get(sent.id) ?? [];
    this.early.delete(sent.id);
    if (sent.status === 'queued') this.state(sent.id, `queued: ${printable(sent.to)} is offline; the server keeps it until they connect`);
    if (sent.status === 'outbox') this.state(sent.id, 'kept in the outbox: the server is unreachable; it goes out on reconnect');
    for (const what of early) this.state(sent.id, what);
  }

  private async command(line: string): Promise<void> {
    const [name, ...args] = line.split(/\s+/);
    switch (name) {
      case '/file':
        // The rest of the line is the path, spaces and all.
        if (this.needPeer()) this.files.send(this.peer!, line.slice('/file'.length).trim(), (sent, label) => this.track(sent, label));
        return;
      case '/to':
        return this.switchTo(args[0]);
      case '/users': {
        const users = await this.opened.client.onlineUsers();
        this.out.print(`Online: ${users.map(printable).join(', ') || '(nobody)'}`);
        return;
      }
      case '/history': {
        const n = args[0] === undefined ? OPEN_HISTORY : Number(args[0]);
        if (!Number.isSafeInteger(n) || n < 1 || n > MAX_HISTORY) {
          this.out.print(`! /history [n]: n is a whole number from 1 to ${MAX_HISTORY}`);
          return;
        }
        if (this.needPeer()) await this.showHistory(this.peer!, n);
        return;
      }
      case '/verify':
        if (this.needPeer()) await this.verify(this.peer!);
        return;
      case '/trust':
        if (this.needPeer()) await this.trust(this.peer!);
        return;
      case '/help':
        this.out.print(CHAT_HELP);
        return;
      case '/quit':
        this.onQuit?.();
        return;
      default:
        this.out.print(`! unknown command ${printable(name ?? '')}; /help lists the commands`);
    }
  }

  /** Set by the command: what /quit does. */
  onQuit: (() => void) | undefined;

  private needPeer(): boolean {
    if (this.peer !== undefined) return true;
    this.out.print('! no peer chosen: /to NAME first');
    return false;
  }

  private async switchTo(name: string | undefined): Promise<void> {
    if (name === undefined || !USERNAME_PATTERN.test(name)) {
      this.out.print('! /to NAME: a username (^[a-z][a-z0-9_-]{0,31}$)');
      return;
    }
    this.peer = name;
    this.out.print(`Talking to ${printable(name)}.`);
    const waiting = this.unread.get(name) ?? [];
    this.unread.delete(name);
    for (const r of waiting) this.out.print(messageLine(r.sentAt, r.peer, r.body));
    await this.shown(waiting);
  }

  /**
   * Records printed on the screen just now: marked shown, and their senders told they were read (if read
   * receipts are on). Only messages that were printed come here: an unread count is not reading, and an
   * envelope that could not be read has nothing to receipt.
   */
  private async shown(records: readonly HistoryRecord[]): Promise<void> {
    await this.opened.messages.markDisplayed(records.map((r) => r.id));
    for (const r of records) if (r.status === 'received') this.opened.client.markRead(r.peer, [r.id]);
  }

  /** The stored conversation with `peer`, newest `limit`, in the screen's format, with each own message's state. */
  private async showHistory(peer: string, limit: number): Promise<Set<string>> {
    const records = await this.opened.messages.history({ peer, limit });
    for (const r of records) {
      if (r.direction === 'in' && r.status === 'unreadable') {
        this.out.print(unreadableLine(r));
        continue;
      }
      this.out.print(messageLine(r.sentAt, r.direction === 'in' ? r.peer : this.me, r.body));
      const state = r.direction === 'out' ? storedState(r, this.me) : undefined;
      if (state !== undefined) this.out.print(`  ↳ ${state}`);
    }
    return new Set(records.map((r) => r.id));
  }

  private async verify(peer: string): Promise<void> {
    const { client, peers, identity } = this.opened;
    const fromServer = await toPinned(await client.fetchKeys(peer), Date.now());
    const pinned = await peers.get(peer);
    if (pinned && !samePeerKeys(pinned, fromServer)) {
      this.out.print(`! ${printable(peer)}'s keys have changed since you pinned them: /trust reviews them first`);
      return;
    }
    const keys = pinned ?? fromServer;
    const digits = safetyNumberWith(identity, peer, keys.signingKey);
    this.out.print(`Safety number for ${printable(identity.username)} and ${printable(peer)}:\n${formatSafetyNumber(digits)}`);
    if (keys.verified) {
      this.out.print(`${printable(peer)} is already verified.`);
      return;
    }
    if (await this.ask(`Does ${printable(peer)} see the same number (compare in person or on a call)? [y/N]`)) {
      await peers.put({ ...keys, verified: true });
      this.out.print(`${printable(peer)} is now verified.`);
    } else {
      if (!pinned) await peers.put(keys);
      this.out.print(`${printable(peer)} was not marked as verified.`);
    }
  }

  private async trust(peer: string): Promise<void> {
    const { client, peers, identity } = this.opened;
    // The one answer used: what is shown is what gets pinned (trustPeer refuses anything else).
    const shown = await client.fetchKeys(peer);
    const current = await toPinned(shown, Date.now());
    const pinned = await peers.get(peer);
    if (pinned && samePeerKeys(pinned, current)) {
      this.out.print(`${printable(peer)}'s keys have not changed; nothing to do.`);
      return;
    }
    this.out.print(keyReviewLines(printable(peer), pinned, current, safetyNumberWith(identity, peer, shown.signingKey)).join('\n'));
    if (!(await this.ask(`Accept these keys for ${printable(peer)}? [y/N]`))) {
      this.out.print(`Keys for ${printable(peer)} not accepted.`);
      return;
    }
    await client.trustPeer(peer, shown);
    this.out.print(`Now trusting ${printable(peer)}'s new keys.`);
  }

  /**
   * A yes/no question answered by the next input line. It is awaited inside the work queue, so nothing
   * else queued runs until answered; incoming messages still print (their events queue behind it, so they
   * wait too: the question stays the last line above the prompt).
   */
  private ask(question: string): Promise<boolean> {
    this.out.print(question);
    return new Promise((resolve) => {
      this.question = (answer) => resolve(/^y(es)?$/i.test(answer.trim()));
    });
  }

  /** Leaving: a pending question is answered "no" so the queued work can finish. */
  cancelQuestion(): void {
    const answer = this.question;
    this.question = undefined;
    answer?.('');
  }
}

function unreadableLine(r: Pick<HistoryRecord, 'peer' | 'status' | 'reason' | 'held'>): string {
  const peer = printable(r.peer);
  return `! a message from ${peer} could not be read: ${unreadableReason(r.reason, peer, r.held === false ? false : undefined)}`;
}

function errorText(err: unknown): string {
  if (err instanceof ChatError) return `[${printable(err.code)}] ${printable(err.message)}`;
  return printable(err instanceof Error ? err.message : String(err));
}

function errorLine(err: unknown): string {
  return `! ${errorText(err)}`;
}
