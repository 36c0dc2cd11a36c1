/**
 * How the web app words a stored message and its state (the CLI's words are in src/cli/reasons.ts; the
 * web app cannot import the CLI, and some of its advice names commands a browser does not have).
 * Text from the network is never parsed as markup here: Preact renders it as text nodes.
 */
import { attachmentFallbackBody, type AttachmentPointer, type HistoryRecord } from '../../src/client/index.js';

/** One message as the conversation view shows it. */
export interface MessageItem {
  /** Unique within the conversation (direction and id: an id is unique per direction only). */
  key: string;
  id: string;
  direction: 'in' | 'out';
  sender: string;
  body: string;
  /** The sender's clock (ms since the epoch), as signed. */
  at: number;
  /** The state of the user's own message, or why an incoming one could not be read. */
  state: string | undefined;
  /** An incoming envelope that could not be read: `body` says why instead of a text. */
  unreadable: boolean;
  /** The file the message carries, if any (web/src/file-transfers.ts fetches it). */
  attachment: AttachmentPointer | undefined;
}

/** Whether the body only names the message's file (the library's stand-in when no caption was given). */
export const isFileStandIn = (m: Pick<MessageItem, 'body' | 'attachment'>): boolean =>
  m.attachment !== undefined && m.body === attachmentFallbackBody(m.attachment.name, m.attachment.size);

type RejectReason = NonNullable<HistoryRecord['reason']>;

/** Why an incoming envelope could not be read, for its recipient. */
export function unreadableReason(reason: RejectReason | undefined, from: string, held?: false): string {
  switch (reason) {
    case 'peer_key_changed':
      if (held === false) return `${from}'s keys have changed, and too many messages are already kept sealed: this one cannot be opened later`;
      return `${from}'s keys have changed since you first talked; it is kept sealed (reviewing new keys is not in the web app yet)`;
    case 'unsupported':
      return 'it uses a format this client does not support';
    default:
      return 'decryption failed (tampered, replayed or not for us)';
  }
}

/** An outgoing message's state in words. */
export function outgoingState(r: Pick<HistoryRecord, 'peer' | 'status' | 'reason'>): string {
  switch (r.status) {
    case 'outbox':
      return 'not sent yet';
    case 'queued':
      return `queued: ${r.peer} is offline`;
    case 'unreadable':
      return r.reason === 'peer_key_changed' ? `${r.peer} could not read it: your keys differ from the ones they pinned` : `${r.peer} could not read it`;
    default:
      return r.status; // sent, delivered, read, failed
  }
}

export function messageItem(r: HistoryRecord, me: string): MessageItem {
  const base = { key: `${r.direction}:${r.id}`, id: r.id, direction: r.direction, at: r.sentAt, attachment: r.attachment };
  if (r.direction === 'out') return { ...base, sender: me, body: r.body, state: outgoingState(r), unreadable: false };
  if (r.status === 'unreadable') {
    return { ...base, sender: r.peer, body: `A message from ${r.peer} could not be read: ${unreadableReason(r.reason, r.peer, r.held)}`, state: undefined, unreadable: true, attachment: undefined };
  }
  return { ...base, sender: r.peer, body: r.body, state: undefined, unreadable: false };
}

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM` in the local time zone. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}`;
}
