/**
 * Group commit: writes requested in the same turn of the event loop run in one transaction, so a burst
 * of sends costs one fsync instead of one each. Each caller gets its own result, and only after the
 * transaction has committed.
 */
export class GroupCommit {
  private pending: Array<{ work: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  constructor(private readonly transaction: (run: () => void) => void) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const results: unknown[] = new Array(batch.length);
    try {
      this.transaction(() => {
        for (let i = 0; i < batch.length; i++) results[i] = batch[i]!.work();
      });
    } catch (err) {
      // One failing write must not fail the others: retry each alone so every caller learns its own fate.
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const item of batch) this.runAlone(item);
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]);
  }

  private runAlone(item: (typeof this.pending)[number]): void {
    let result: unknown;
    try {
      this.transaction(() => {
        result = item.work();
      });
    } catch (err) {
      return item.reject(err);
    }
    item.resolve(result);
  }
}
