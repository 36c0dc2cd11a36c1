/**
 * WAL checkpoints off the event loop. By default SQLite checkpoints inside the commit that takes the WAL
 * past 1,000 pages: it copies those pages into the database file and, at `synchronous = NORMAL`, fsyncs
 * both files, all on the thread that committed, which here is the event loop; every send waiting behind
 * that commit waits for two fsyncs. So the store turns automatic checkpoints off and a worker thread,
 * with its own connection to the file, runs a PASSIVE checkpoint every CHECKPOINT_INTERVAL_MS: it copies
 * what no reader still needs without taking any lock a writer waits for, and SQLite then starts the WAL
 * over from its beginning at a later commit, so the file stops growing once checkpoints keep up.
 *
 * Durability does not depend on it: a commit is durable once its WAL frames are fsynced (WalSync), and
 * a checkpoint only moves durable pages to their place.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * How often the worker checkpoints. At 1,000 messages/s the WAL grows by a few MiB a second; a
 * checkpoint a second keeps it near that size, and costs nothing when nothing was written.
 */
export const CHECKPOINT_INTERVAL_MS = 1000;

// The worker is a script of its own (eval), so it runs the same way from the sources (tests) and from
// dist/; it loads better-sqlite3 from the path this module resolves.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(dbPath: string, onError: (message: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS) {
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sqlite, path: dbPath, intervalMs } });
    this.worker.on('message', (m: { error?: string }) => m.error && onError(m.error));
    this.worker.on('error', (err) => onError(err.message));
    // A stopping server must not wait for the next checkpoint.
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  /** Stops checkpointing and closes the worker's connection (the store's close then checkpoints the rest). */
  async close(): Promise<void> {
    this.worker.postMessage('close');
    await this.exited;
  }
}
