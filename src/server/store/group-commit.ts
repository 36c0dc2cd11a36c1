/**
 * Group commit: writes requested in one turn of the event loop run together in one transaction, which
 * commits on the next turn; commits do not wait for the disk. Making them durable (an fsync of the WAL)
 * runs beside them: every batch committed while one fsync is running shares the next one. So a write's
 * effects (a push to the recipient) never wait behind another batch's fsync, and under load the fsyncs
 * still cover many batches each. Each caller gets its own result only once its transaction is committed
 * and durable, and callers are answered in commit order.
 */
import { ChatError } from '../../protocol/errors.js';

type Item = {
  work: () => unknown;
  committed?: (v: unknown) => void;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
};

export class GroupCommit {
  private pending: Item[] = [];
  private scheduled = false;
  /** Settles once every batch committed so far is durable (or failed to be): answers keep commit order. */
  private lastDurable: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly transaction: (run: () => void) => void,
    /** Makes committed transactions durable (e.g. fsync of the WAL); resolves when they are. */
    private readonly durable: () => Promise<void> = async () => undefined,
  ) {}

  /**
   * `committed` runs as soon as the transaction has committed, before it is durable: for effects that
   * are safe to repeat if the process dies now (the caller learns of durability from the promise).
   */
  run<T>(work: () => T, committed?: (result: T) => void): Promise<T> {
    // A typed refusal, not a fault: events still queued on connections when the server shuts down land here.
    if (this.closed) return Promise.reject(new ChatError('internal', 'the server is shutting down; nothing was changed'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, committed: committed as ((v: unknown) => void) | undefined, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Refuses new writes and resolves once every write already requested is committed and durable. */
  async close(): Promise<void> {
    const last = this.run(() => undefined);
    this.closed = true;
    await last;
  }

  private schedule(): void {
    if (this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const results: unknown[] = new Array(batch.length);
    const failed: Item[] = [];
    try {
      this.transaction(() => {
        for (let i = 0; i < batch.length; i++) results[i] = batch[i]!.work();
      });
    } catch {
      // One failing write must not fail the others: retry each alone so every caller learns its own fate.
      const committed: Array<[Item, unknown]> = [];
      for (const item of batch) {
        try {
          let result: unknown;
          this.transaction(() => {
            result = item.work();
          });
          committed.push([item, result]);
        } catch (err) {
          failed.push(item);
          item.reject(err);
        }
      }
      batch.length = 0;
      for (const [item, result] of committed) {
        batch.push(item);
        results[batch.length - 1] = result;
      }
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.committed?.(results[i]);
    // `durable` covers everything committed before the call (WalSync starts a new fsync if one is
    // running already); waiting for the previous batch too keeps the answers in commit order.
    const durable = Promise.all([this.durable(), this.lastDurable]);
    this.lastDurable = durable.catch(() => undefined);
    durable.then(
      () => {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]);
      },
      (err: unknown) => {
        for (const item of batch) item.reject(err);
      },
    );
  }
}
