/**
 * Group commit: one write in flight at a time; what arrives meanwhile waits, and the next write takes
 * all that waited (up to a bound), in arrival order. Alone, an item is written at once, by itself: no
 * timer holds it back to fill a batch, so batches form only under load, exactly as large as the load
 * makes them. The PostgreSQL store writes sends this way (postgres-send-batch.ts): one transaction, one
 * WAL flush, a dozen round trips for many sends instead of for each.
 */

/** An item's own outcome inside a batch that was written. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface BatchBounds {
  /** Items per write. */
  maxItems: number;
  /** Summed weight per write (bytes, say); a single item heavier than this is written alone. */
  maxWeight: number;
}

/** What the batches were, for tests and metrics. */
export interface BatchStats {
  batches: number;
  items: number;
  largest: number;
}

interface Waiting<I, R> {
  item: I;
  weight: number;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class WriteBatcher<I, R> {
  private readonly waiting: Array<Waiting<I, R>> = [];
  private writing = false;
  private readonly counts: BatchStats = { batches: 0, items: 0, largest: 0 };

  /**
   * `write` settles each item of a batch on its own (one answer per item, in order); if it throws, the
   * whole batch failed and every item in it is rejected with that error.
   */
  constructor(
    private readonly write: (items: readonly I[]) => Promise<Array<Settled<R>>>,
    private readonly bounds: BatchBounds,
    private readonly weigh: (item: I) => number,
  ) {}

  /** Resolves with the item's outcome once the batch that carried it was written. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, weight: this.weigh(item), resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  get stats(): BatchStats {
    return { ...this.counts };
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.take();
        this.counts.batches++;
        this.counts.items += batch.length;
        this.counts.largest = Math.max(this.counts.largest, batch.length);
        let settled: Array<Settled<R>>;
        try {
          settled = await this.write(batch.map((w) => w.item));
        } catch (error) {
          for (const w of batch) w.reject(error);
          continue;
        }
        batch.forEach((w, k) => {
          const s = settled[k];
          if (!s) w.reject(new Error('the batch write gave no answer for this item'));
          else if (s.ok) w.resolve(s.value);
          else w.reject(s.error);
        });
      }
    } finally {
      this.writing = false;
    }
  }

  /** The oldest waiting items within the bounds; always at least one. */
  private take(): Array<Waiting<I, R>> {
    let count = 1;
    let weight = this.waiting[0]!.weight;
    while (count < this.waiting.length && count < this.bounds.maxItems && weight + this.waiting[count]!.weight <= this.bounds.maxWeight) {
      weight += this.waiting[count]!.weight;
      count++;
    }
    return this.waiting.splice(0, count);
  }
}
