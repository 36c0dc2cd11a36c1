/**
 * The files being sent and received in this tab, for the screen: each upload's progress (by recipient),
 * and per received message its download (progress, then the decrypted file offered to save, or why it
 * failed). Uploads run beside text messages rather than in their queue: a large file must not hold back
 * what is typed meanwhile. Object URLs of downloaded files live as long as the tab (or until the same
 * file is downloaded again), so a "Save" link keeps working after the conversation is left and reopened.
 */
import { ChatError, DecryptionFailedError, formatByteSize, safeFileName, type AttachmentPointer, type ChatClient } from '../../src/client/index.js';
import { describeError } from './describe-error.js';
import { BlobSink } from './file-sink.js';
import { browserFileSource } from './file-source.js';
import { ViewModel } from './view-model.js';

export interface UploadView {
  /** Unique in this tab. */
  id: number;
  to: string;
  name: string;
  done: number;
  total: number;
}

export type DownloadView =
  | { state: 'downloading'; done: number; total: number }
  | { state: 'ready'; url: string; fileName: string }
  | { state: 'failed'; problem: string };

export interface FileTransfersView {
  uploads: readonly UploadView[];
  /** By message key (MessageItem.key). */
  downloads: ReadonlyMap<string, DownloadView>;
}

/** A received file's name as shown and saved: the sender's choice, so made safe first (no bidi tricks, no paths). */
export const shownFileName = (attachment: Pick<AttachmentPointer, 'name'>): string => safeFileName(attachment.name);

/** `report.pdf (98 KiB)`. */
export const fileSummary = (attachment: Pick<AttachmentPointer, 'name' | 'size'>): string => `${shownFileName(attachment)} (${formatByteSize(attachment.size)})`;

/** Why a file could not be sent, in words; `limit`: the server's, as the client knows it. */
export function uploadProblem(file: Pick<File, 'name' | 'size'>, err: unknown, limit: number): string {
  if (err instanceof ChatError && err.code === 'attachment_too_large') {
    return `${file.name} is ${formatByteSize(file.size)}; this server takes files of at most ${formatByteSize(limit)}. Nothing was sent.`;
  }
  if (err instanceof ChatError && err.code === 'not_connected') return `${file.name} was not sent: sending a file needs a connection to the server. Try again once connected.`;
  return `${file.name} was not sent: ${describeError(err)}`;
}

/** Why a received file could not be downloaded, in words. */
export function downloadProblem(attachment: Pick<AttachmentPointer, 'name' | 'size'>, err: unknown): string {
  const file = fileSummary(attachment);
  if (err instanceof DecryptionFailedError) return `${file} failed its integrity check (changed on the way, or not what the sender sent): nothing was saved.`;
  if (err instanceof ChatError && err.code === 'blob_not_found') return `The server no longer has ${file}: it keeps a file until each of the recipient's devices fetched it, or until it expires.`;
  return `${file} could not be downloaded: ${describeError(err)}`;
}

export class FileTransfers extends ViewModel<FileTransfersView> {
  private client: ChatClient | undefined;
  private nextUpload = 1;

  constructor() {
    super({ uploads: [], downloads: new Map() });
  }

  /** The signed-in account's client, which sends and fetches. */
  use(client: ChatClient): void {
    this.client = client;
  }

  private setUpload(id: number, change: Partial<UploadView> | undefined): void {
    const uploads = change === undefined ? this.snapshot.uploads.filter((u) => u.id !== id) : this.snapshot.uploads.map((u) => (u.id === id ? { ...u, ...change } : u));
    this.set({ uploads });
  }

  private setDownload(key: string, view: DownloadView): void {
    const old = this.snapshot.downloads.get(key);
    if (old?.state === 'ready') URL.revokeObjectURL(old.url);
    this.set({ downloads: new Map(this.snapshot.downloads).set(key, view) });
  }

  /** Sends `file` to `to`, with its progress shown while it uploads; rejects as ChatClient.sendFile does. */
  async upload(to: string, file: File, caption: string | undefined): Promise<void> {
    const client = this.client;
    if (!client) throw new ChatError('not_connected', 'not signed in');
    const id = this.nextUpload++;
    this.set({ uploads: [...this.snapshot.uploads, { id, to, name: file.name, done: 0, total: file.size }] });
    try {
      await client.sendFile(to, browserFileSource(file), {
        ...(caption !== undefined && { caption }),
        onProgress: (done, total) => this.setUpload(id, { done, total }),
      });
    } finally {
      this.setUpload(id, undefined);
    }
  }

  /** Downloads, checks and decrypts the file of the message `key`, then offers it; a failure is kept in words. */
  async download(key: string, attachment: AttachmentPointer): Promise<void> {
    const client = this.client;
    if (!client || this.snapshot.downloads.get(key)?.state === 'downloading') return;
    this.setDownload(key, { state: 'downloading', done: 0, total: attachment.size });
    try {
      const url = await client.downloadAttachment(attachment, async () => new BlobSink(), {
        onProgress: (done, total) => this.setDownload(key, { state: 'downloading', done, total }),
      });
      this.setDownload(key, { state: 'ready', url, fileName: shownFileName(attachment) });
    } catch (err) {
      this.setDownload(key, { state: 'failed', problem: downloadProblem(attachment, err) });
    }
  }
}
