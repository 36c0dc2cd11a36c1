/**
 * Token bucket: `ratePerSecond` tokens refill continuously up to `burst`; each event takes one. An event
 * that finds the bucket empty may borrow against future tokens for up to `maxDelayMs`: it is then run
 * that much later instead of being refused. Refusing one of a client's pipelined sends while accepting
 * the next would reorder its messages; waiting keeps the order. Beyond the delay cap the event is
 * refused, so a flood costs the server bounded memory.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly maxDelayMs = 0,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Milliseconds to wait before the event may run (0: at once), or -1: refused. */
  reserve(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    const after = this.tokens - 1;
    const delayMs = after >= 0 ? 0 : (-after / this.ratePerSecond) * 1000;
    if (delayMs > this.maxDelayMs) return -1;
    this.tokens = after;
    return delayMs;
  }
}
