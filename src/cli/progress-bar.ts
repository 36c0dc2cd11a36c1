/**
 * A progress bar for a file on its way, drawn on one terminal line that it rewrites
 * (`report.pdf  [#########-----------]  45%  45/100 MiB  120 MiB/s`), at most ten times a second.
 * Only for people: shown on a terminal, for files large enough to take a while, never with --json.
 */
import { formatByteSize } from '../e2ee/attachment-pointer.js';

/** Files smaller than this go by too fast for a bar to be worth drawing. */
export const PROGRESS_MIN_BYTES = 1024 * 1024;
const REDRAW_MS = 100;
const WIDTH = 20;

/** Where a bar is drawn: a line rewritten in place (a terminal's stderr), or the chat screen's status. */
export type ProgressSink = (line: string | undefined) => void;

export class ProgressBar {
  private readonly started: number;
  private drawn = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly sink: ProgressSink,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** `done` bytes of the total so far; redraws if the last drawing is old enough, or at the end. */
  update(done: number): void {
    const t = this.now();
    if (done < this.total && t - this.drawn < REDRAW_MS) return;
    this.drawn = t;
    this.sink(this.line(done, t));
  }

  /** Takes the bar off the screen. */
  finish(): void {
    this.sink(undefined);
  }

  line(done: number, at: number): string {
    const share = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const filled = Math.round(share * WIDTH);
    const seconds = (at - this.started) / 1000;
    const rate = seconds > 0 ? `  ${formatByteSize(Math.round(done / seconds))}/s` : '';
    return `${this.label}  [${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}]  ${Math.floor(share * 100)}%  ${formatByteSize(done)}/${formatByteSize(this.total)}${rate}`;
  }
}

/** A sink that rewrites one line of a terminal stream (stderr), and clears it at the end. */
export function terminalLine(stream: NodeJS.WriteStream): ProgressSink {
  return (line) => {
    stream.write(line === undefined ? '\r\u001b[2K' : `\r\u001b[2K${line}`);
  };
}
