/**
 * The requests a node has sent to other nodes about link slots (`join`, `send`; link-messages.ts) and is
 * waiting to hear answered: each has an id, unique among those waiting, and a deadline, past which its
 * answer is `'late'` and one that still comes is dropped. The timers are injected, so tests drive them.
 */
import type { LinkTimer, StartTimer } from '../link-relay.js';
import type { LinkAnswer } from './link-messages.js';

interface Waiting {
  readonly timer: LinkTimer;
  readonly answered: (answer: LinkAnswer | 'late') => void;
}

export class LinkRequests {
  private readonly waiting = new Map<string, Waiting>();
  private next = 0;

  constructor(
    private readonly startTimer: StartTimer,
    private readonly timeoutMs: number,
  ) {}

  /** Requests waiting now. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * A new request: its id, and its answer, `'late'` after the timeout. `onAnswer` runs as the answer is
   * handled, before any later message of the same channel (a promise's continuation would run after).
   */
  open(onAnswer: (answer: LinkAnswer) => void = () => undefined): { id: string; answer: Promise<LinkAnswer | 'late'> } {
    const id = (this.next++).toString(36);
    const answer = new Promise<LinkAnswer | 'late'>((resolve) => {
      const timer = this.startTimer(() => {
        this.waiting.delete(id);
        resolve('late');
      }, this.timeoutMs);
      this.waiting.set(id, {
        timer,
        answered: (a) => {
          if (a !== 'late') onAnswer(a);
          resolve(a);
        },
      });
    });
    return { id, answer };
  }

  /** An answer from another node; ignored when nobody waits for it (it came late). */
  answered(answer: LinkAnswer): void {
    const waiting = this.waiting.get(answer.id);
    if (!waiting) return;
    this.waiting.delete(answer.id);
    waiting.timer.cancel();
    waiting.answered(answer);
  }

  /** Gives a request up before its answer (it could not be sent): its answer is `'late'`. */
  cancel(id: string): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    waiting.timer.cancel();
    waiting.answered('late');
  }

  /** Gives every request up: each answer is `'late'`. */
  dispose(): void {
    for (const id of [...this.waiting.keys()]) this.cancel(id);
  }
}
