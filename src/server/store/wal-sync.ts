/**
 * Durability without blocking the event loop. SQLite runs with `synchronous = NORMAL` in WAL mode: a
 * commit appends to the WAL file but does not fsync it. Before a write is acknowledged we fsync the WAL
 * ourselves, on libuv's thread pool, so the event loop keeps serving while the disk works. That is the
 * durability of `synchronous = FULL` (the committed frames are on disk before anyone is told "stored"),
 * and concurrent commits share one fsync: whoever arrives while one runs waits for the next.
 */
import { open, type FileHandle } from 'node:fs/promises';

export class WalSync {
  private handle: FileHandle | null = null;
  /** The fsync in progress, settled either way (its outcome goes to its own callers). */
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything committed before this call is on disk. */
  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    // A sync already running may have started before the caller's commit: the caller needs the next.
    if (this.running) {
      this.next ??= this.running.then(() => {
        this.next = null;
        return this.start();
      });
      return this.next;
    }
    return this.start();
  }

  private start(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    const run = (async () => {
      this.handle ??= await open(this.walPath, 'r');
      await this.handle.sync();
    })();
    const settled: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    );
    this.running = settled;
    void settled.then(() => {
      if (this.running === settled) this.running = null;
    });
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.next?.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
  }
}
