/**
 * How the chat screen words a message and what it writes to: shared by the session (chat-session.ts)
 * and its file transfers (chat-files.ts, file-transfer.ts), which the session itself uses.
 */
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

export interface ChatOutput {
  print(text: string): void;
  /** A transient line for a file's progress (undefined clears it); absent where nothing can be redrawn. */
  status?: ProgressSink;
}
