/** Why a message could not be read, in words for each side: shared by receive, send and history. */
import type { HistoryRecord } from '../client/stores.js';
import type { RejectReason } from '../protocol/events.js';
import { printable } from './terminal-text.js';

/** Why an incoming envelope could not be read, for its recipient. */
export function unreadableReason(reason: RejectReason | undefined, from: string, held?: boolean): string {
  switch (reason) {
    case 'peer_key_changed':
      if (held === false) return `${from}'s keys have changed, and too many messages are already kept sealed: this one was not kept and cannot be opened later`;
      return `${from}'s keys have changed; it is kept sealed until you accept them with "e2ee-chat trust ${from}" (compare fingerprints first)`;
    case 'unsupported':
      return 'it uses a format this client does not support';
    default:
      return 'decryption failed (tampered, replayed or not for us)';
  }
}

/** Why the recipient's device could not read a message, for its sender. */
export function unreadableBySender(reason: RejectReason | undefined, to: string, me: string): string {
  switch (reason) {
    case 'peer_key_changed':
      return `your keys differ from the ones ${to} pinned; it is kept until they accept them ("e2ee-chat trust ${me}")`;
    case 'unsupported':
      return 'their client does not support this message format';
    default:
      return 'decryption failed';
  }
}

/** An outgoing message's state in words, for `history` and `chat`; `failed` is what to say of a failed one. */
export function outgoingState(r: Pick<HistoryRecord, 'peer' | 'status' | 'reason'>, me: string, failed: string): string {
  const peer = printable(r.peer);
  switch (r.status) {
    case 'outbox':
      return 'not sent yet (in the outbox)';
    case 'unreadable':
      return `could not be read by ${peer}: ${unreadableBySender(r.reason, peer, printable(me))}`;
    case 'failed':
      return failed;
    default:
      return printable(r.status); // sent, queued, delivered: the word itself
  }
}
