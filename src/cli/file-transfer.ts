/**
 * What `send`, `receive` and `chat` share for files: the download folder (`--download-dir`,
 * E2EE_CHAT_DOWNLOAD_DIR, or the user's own `downloads`), fetching a received file with a progress bar,
 * and the lines that report one, for people and for scripts. Names and reasons that came from the
 * network go through printable().
 */
import type { ChatClient } from '../client/chat-client.js';
import { DownloadFolder } from '../client/node/attachment-files.js';
import { attachmentFallbackBody, formatByteSize, type AttachmentPointer } from '../e2ee/attachment-pointer.js';
import { ChatError } from '../protocol/errors.js';
import { clockTime } from './chat-lines.js';
import { folderFor, type UserOptions } from './common.js';
import type { FileLine } from './output.js';
import { PROGRESS_MIN_BYTES, ProgressBar, type ProgressSink } from './progress-bar.js';
import { printable } from './terminal-text.js';

export const DOWNLOAD_DIR_HELP = 'where received files are saved (env E2EE_CHAT_DOWNLOAD_DIR; default: the user\'s folder in the home, "downloads")';

export interface DownloadOptions extends UserOptions {
  downloadDir?: string;
}

/** The folder received files go into. */
export function downloadFolderFor(opts: DownloadOptions): DownloadFolder {
  return new DownloadFolder(opts.downloadDir || process.env.E2EE_CHAT_DOWNLOAD_DIR || folderFor(opts).downloadsDir);
}

/** Whether a message's body is only the stand-in that names its file (so showing it would repeat the file line). */
export function isFallbackBody(body: string, attachment: AttachmentPointer): boolean {
  return body === attachmentFallbackBody(attachment.name, attachment.size);
}

/** `report.pdf (1.2 MiB)`, printable. */
export function fileSummary(attachment: Pick<AttachmentPointer, 'name' | 'size'>): string {
  return `${printable(attachment.name)} (${formatByteSize(attachment.size)})`;
}

/** `[HH:MM] <bob> sent file report.pdf (1.2 MiB) → /path`. */
export function receivedFileLine(at: number, from: string, attachment: AttachmentPointer, path: string): string {
  return `[${clockTime(at)}] <${printable(from)}> sent file ${fileSummary(attachment)} → ${printable(path)}`;
}

/** Why a received file was not kept, in words. */
export function fileFailure(err: ChatError): string {
  switch (err.code) {
    case 'decryption_failed':
      return 'it failed its integrity check (changed on the way, or not what the sender sent); nothing was saved';
    case 'blob_not_found':
      return 'the server no longer has it (it expired, or every recipient device already fetched it)';
    default:
      return `[${printable(err.code)}] ${printable(err.message)}`;
  }
}

/** `! a file from bob could not be received: report.pdf (1.2 MiB): why`. */
export function failedFileLine(from: string, attachment: AttachmentPointer, err: ChatError): string {
  return `! a file from ${printable(from)} could not be received: ${fileSummary(attachment)}: ${fileFailure(err)}`;
}

function asChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  return new ChatError('internal', err instanceof Error ? err.message : String(err), { cause: err });
}

/** A progress bar for a transfer of `size` bytes, if there is somewhere to draw it and the file is large. */
export function progressFor(label: string, size: number, sink: ProgressSink | undefined): ProgressBar | undefined {
  return sink && size >= PROGRESS_MIN_BYTES ? new ProgressBar(label, size, sink) : undefined;
}

/** Downloads and checks a received file into `folder`; never throws: the outcome says where it is or why not. */
export async function receiveAttachment(
  client: ChatClient,
  attachment: AttachmentPointer,
  folder: DownloadFolder,
  progress: ProgressSink | undefined,
): Promise<{ path: string; error?: undefined } | { path?: undefined; error: ChatError }> {
  const bar = progressFor(`receiving ${printable(attachment.name)}`, attachment.size, progress);
  try {
    const path = await client.downloadAttachment(attachment, () => folder.open(attachment.name), { ...(bar && { onProgress: (done: number) => bar.update(done) }) });
    return { path };
  } catch (err) {
    return { error: asChatError(err) };
  } finally {
    bar?.finish();
  }
}

/** The `file` line of --json. */
export function fileJson(
  direction: 'in' | 'out',
  message: { id: string; from: string; to: string },
  attachment: AttachmentPointer,
  outcome: { path?: string | undefined; error?: ChatError | undefined },
): FileLine {
  return {
    type: 'file',
    direction,
    id: message.id,
    from: message.from,
    to: message.to,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType ?? null,
    path: outcome.path ?? null,
    error: outcome.error ? { code: outcome.error.code, message: outcome.error.message } : null,
  };
}
