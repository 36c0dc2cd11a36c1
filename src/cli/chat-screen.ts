/**
 * The interactive screen of `e2ee-chat chat`, on node:readline: an input line at the bottom and
 * everything else printed above it. Printing never clobbers what the user is typing: the prompt row is
 * cleared, the new line written, and readline redraws the prompt with the partial input and the cursor
 * where they were (prompt(true)). Without a terminal (stdin piped) there is no prompt to protect and lines
 * are printed as they come, so scripts and tests get the same text.
 *
 * Multi-line input: the lines that arrive in one chunk of input (a paste, or a script writing a block at
 * once) reach us as 'line' events in the same tick; they are gathered and submitted as ONE entry with real
 * newlines, not one message per line. A line typed and sent with Enter alone arrives alone.
 *
 * A newline typed on purpose: Alt-Enter (the terminal sends Esc then CR, which readline reports as
 * `return` with `meta` and otherwise ignores). readline edits one line only, so the line typed so far
 * becomes part of a draft: it is printed above, as typed, and the input line starts empty after a
 * continuation prompt; Enter then submits the draft and the last line as one entry. (Ctrl-J would be the
 * other candidate, but readline takes it as Enter: a terminal sends CR for Enter and LF for Ctrl-J, and
 * readline ends the line on either.)
 */
import { clearLine, createInterface, cursorTo, type Interface, type Key } from 'node:readline';
import { printable } from './terminal-text.js';

export interface ChatScreenOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A terminal the user types into: prompt and redraw. False for pipes (no prompt, plain lines). */
  terminal: boolean;
  prompt?: string;
}

/** The prompt while a message of several lines is being typed (after Alt-Enter). */
export const CONTINUATION_PROMPT = '... ';

export interface ChatScreenHandlers {
  /** One entry: a single line, or the lines of one pasted block joined with '\n'. */
  submit(text: string): void;
  /** Ctrl-C, Ctrl-D, or the end of piped input: the user is leaving. */
  quit(): void;
}

export class ChatScreen {
  private readonly rl: Interface;
  private readonly output: NodeJS.WritableStream;
  private readonly terminal: boolean;
  /** Lines received in the current tick, submitted together once the tick ends. */
  private batch: string[] = [];
  /** Lines ended with Alt-Enter, waiting for the Enter that sends them with the line being typed. */
  private draft: string[] = [];
  private readonly prompt: string;
  private closed = false;

  constructor(options: ChatScreenOptions, private readonly handlers: ChatScreenHandlers) {
    this.output = options.output;
    this.terminal = options.terminal;
    this.rl = createInterface({ input: options.input, output: options.output, terminal: options.terminal, crlfDelay: Infinity });
    this.prompt = options.prompt ?? '> ';
    this.rl.setPrompt(this.prompt);
    this.rl.on('line', (line) => this.gather(line));
    // readline makes the input emit 'keypress' (terminal mode only); it does nothing with Alt-Enter.
    if (this.terminal) options.input.on('keypress', (_text: string | undefined, key: Key | undefined) => key?.name === 'return' && key.meta && this.newLine());
    // Ctrl-C at the prompt: leave like Ctrl-D (readline would otherwise just pause the input).
    this.rl.on('SIGINT', () => this.rl.close());
    this.rl.on('close', () => {
      this.closed = true;
      // A block still being gathered when the input ended (piped input) is not lost.
      this.flush();
      this.handlers.quit();
    });
    if (this.terminal) this.rl.prompt();
  }

  private gather(line: string): void {
    this.batch.push(line);
    if (this.batch.length === 1) setImmediate(() => this.flush());
  }

  /** Alt-Enter: the line typed so far joins the draft, shown above; typing goes on on an empty line. */
  private newLine(): void {
    if (this.closed) return;
    const line = this.rl.line;
    const prompt = this.draft.length === 0 ? this.prompt : CONTINUATION_PROMPT;
    this.draft.push(line);
    // Empties readline's line as its own keys would: to the end (Ctrl-E), then all before the cursor (Ctrl-U).
    this.rl.write(null, { ctrl: true, name: 'e' });
    this.rl.write(null, { ctrl: true, name: 'u' });
    this.rl.setPrompt(CONTINUATION_PROMPT);
    this.print(`${prompt}${printable(line)}`);
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const lines = [...this.draft, ...this.batch];
    this.batch = [];
    if (this.draft.length > 0) {
      this.draft = [];
      this.rl.setPrompt(this.prompt);
    }
    // Blank lines around a pasted block are trailing noise; inside it they are kept.
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
    if (lines.length > 0) this.handlers.submit(lines.join('\n'));
    if (this.terminal && !this.closed) this.rl.prompt();
  }

  /** Prints lines above the input line; the prompt and what the user typed so far are redrawn below. */
  print(text: string): void {
    if (!this.terminal || this.closed) {
      this.output.write(`${text}\n`);
      return;
    }
    clearLine(this.output, 0);
    cursorTo(this.output, 0);
    this.output.write(`${text}\n`);
    this.rl.prompt(true);
  }

  /** Stops reading input; restores the terminal mode readline changed (raw mode off). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.rl.close();
  }
}
