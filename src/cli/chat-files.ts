/**
 * Files in `e2ee-chat chat`: `/file PATH` sends one to the current peer, and a message that carries a
 * file is downloaded as it arrives, whoever sent it. Transfers run one at a time on their own chain,
 * beside the screen's work, so a long one never holds up the lines of the conversation; progress shows in
 * front of the prompt (ChatOutput.status) on a terminal.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ChatClient, SentMessage } from '../client/chat-client.js';
import { fileSource, type DownloadFolder } from '../client/node/attachment-files.js';
import { PeerKeyChangedError } from '../client/peer-keys.js';
import type { HistoryRecord } from '../client/stores.js';
import { ChatError } from '../protocol/errors.js';
import { clockTime, messageLine, type ChatOutput } from './chat-lines.js';
import { failedFileLine, fileSummary, isFallbackBody, progressFor, receiveAttachment, receivedFileLine } from './file-transfer.js';
import { printable } from './terminal-text.js';

export interface ChatFilesDeps {
  client: ChatClient;
  /** The record's file line is out: it counts as shown (and, where read receipts are on, as read). */
  shown(record: HistoryRecord): Promise<void>;
  out: ChatOutput;
  /** Where received files go. */
  downloads: () => DownloadFolder;
  me: string;
  now: () => number;
}

/** A failure in words (a changed key of `to` gets the advice that goes with it). */
function failureText(err: unknown, to?: string): string {
  if (err instanceof PeerKeyChangedError) return `${printable(to ?? err.message)}'s keys have changed since you pinned them. /trust reviews them (compare fingerprints first).`;
  if (err instanceof ChatError) return `[${printable(err.code)}] ${printable(err.message)}`;
  return printable(err instanceof Error ? err.message : String(err));
}

export class ChatFiles {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ChatFilesDeps) {}

  /** Runs a transfer after the ones before it; a failure is printed, never thrown out of the screen. */
  private queue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => this.deps.out.print(`! ${failureText(err)}`));
  }

  /** Every transfer started so far, finished. */
  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * A message with a file: its caption now (unless the body only names the file), then the file
   * downloaded and its line, saved or not. It counts as shown once its file line is printed.
   */
  receive(r: HistoryRecord & { attachment: NonNullable<HistoryRecord['attachment']> }): void {
    const { out } = this.deps;
    const attachment = r.attachment;
    if (!isFallbackBody(r.body, attachment)) out.print(messageLine(r.sentAt, r.peer, r.body));
    this.queue(async () => {
      const outcome = await receiveAttachment(this.deps.client, attachment, this.deps.downloads(), out.status);
      out.print(outcome.path !== undefined ? receivedFileLine(r.sentAt, r.peer, attachment, outcome.path) : failedFileLine(r.peer, attachment, outcome.error));
      await this.deps.shown(r);
    });
  }

  /** `/file PATH` to `to`: `sent` is told when the server took the message, to follow its states like any other's. */
  send(to: string, pathText: string, sent: (message: SentMessage, label: string) => void): void {
    const { out } = this.deps;
    if (pathText === '') {
      out.print('! /file PATH: the file to send');
      return;
    }
    const path = pathText === '~' || pathText.startsWith('~/') ? join(homedir(), pathText.slice(1)) : pathText;
    this.queue(async () => {
      let bar: ReturnType<typeof progressFor>;
      try {
        const source = await fileSource(path);
        bar = progressFor(`sending ${printable(source.name)}`, source.size, out.status);
        const message = await this.deps.client.sendFile(to, source, { ...(bar && { onProgress: (done: number) => bar!.update(done) }) });
        bar?.finish();
        out.print(`[${clockTime(this.deps.now())}] <${printable(this.deps.me)}> sent file ${fileSummary(source)}`);
        sent(message, `file ${source.name}`);
      } catch (err) {
        bar?.finish();
        out.print(`! file not sent: ${failureText(err, to)}`);
      }
    });
  }
}
