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
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything committed before this call is on disk. */
  sync(): Promise<void> {
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
    const run = (async () => {
      this.handle ??= await open(this.walPath, 'r');
      await this.handle.sync();
    })();
    this.running = run.finally(() => {
      if (this.running === tracked) this.running = null;
    });
    const tracked = this.running;
    return run;
  }

  async close(): Promise<void> {
    await this.running?.catch(() => undefined);
    await this.next?.catch(() => undefined);
    await this.handle?.close();
    this.handle = null;
  }
}
