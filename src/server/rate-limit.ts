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

  /** True when the bucket has refilled completely: forgetting it changes nothing. */
  isFull(): boolean {
    return this.tokens + ((this.now() - this.last) / 1000) * this.ratePerSecond >= this.burst;
  }

  /** True when `n` tokens are there now (nothing is taken). */
  hasToken(n = 1): boolean {
    return Math.min(this.burst, this.tokens + ((this.now() - this.last) / 1000) * this.ratePerSecond) >= n;
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

/**
 * One token bucket per key (a username: the limit holds across all of that user's connections), with
 * no delay allowed: over the rate, `take` says no. Buckets that refilled completely are forgotten by
 * `prune`, so memory follows the number of recently active keys.
 */
export class KeyedRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True when `n` calls of `take(key)` would succeed now; takes nothing. */
  hasToken(key: string, n = 1): boolean {
    return this.buckets.get(key)?.hasToken(n) ?? n <= this.burst;
  }

  take(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) this.buckets.set(key, (bucket = new TokenBucket(this.ratePerSecond, this.burst, 0, this.now)));
    return bucket.reserve() === 0;
  }

  prune(): void {
    for (const [key, bucket] of this.buckets) if (bucket.isFull()) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }
}
