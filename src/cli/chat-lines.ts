/**
 * How the chat screen words a message and the state of the user's own, and what it writes to: shared by
 * the session (chat-session.ts) and its file transfers (chat-files.ts, file-transfer.ts), which the
 * session itself uses.
 */
import { copiesOf } from '../client/delivery-copies.js';
import type { HistoryRecord } from '../client/stores.js';
import { deliveryCounts, recordDeliverySummary } from './delivery-summary.js';
import { outgoingState } from './reasons.js';
import { printable } from './terminal-text.js';
import type { ProgressSink } from './progress-bar.js';

const two = (n: number) => String(n).padStart(2, '0');

/** `HH:MM` in the local time zone. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}`;
}

/**
 * One message as the screen shows it: `[HH:MM] <name> text`, name and text made printable. A message of
 * several lines shows them on several lines, each after the first indented to where the text starts:
 * every line the screen prints itself starts at the left edge or two columns in with a marker (`↳`), so
 * no line of someone's message can pass for another sender's line or for a state line.
 */
export function messageLine(at: number, from: string, body: string): string {
  const head = `[${clockTime(at)}] <${printable(from)}> `;
  const indent = ' '.repeat(head.length);
  return head + body.split('\n').map(printable).join(`\n${indent}`);
}

/**
 * The state line of one of the user's own stored messages, or undefined where the screen stays quiet: sent,
 * or delivered to every device it went to. A message some of whose devices do not have it (yet, or could
 * not read it) says how many do.
 */
export function storedState(r: HistoryRecord, me: string): string | undefined {
  const summary = recordDeliverySummary(r, me);
  if (r.status === 'sent' || r.status === 'delivered') {
    const { delivered, of } = deliveryCounts(r.peer, copiesOf(r));
    return summary !== undefined && delivered < of ? summary : undefined;
  }
  return summary ?? outgoingState(r, me, 'failed (see "e2ee-chat outbox")');
}

export interface ChatOutput {
  print(text: string): void;
  /** A transient line for a file's progress (undefined clears it); absent where nothing can be redrawn. */
  status?: ProgressSink;
}
