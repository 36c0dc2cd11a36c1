/**
 * Acknowledgements go to the server in batches: ids collected for `delayMs` (or until `maxBatch` are
 * waiting) travel in one `ack` event. An ack lost with a dropped connection costs only a redelivery,
 * which the message store recognises.
 */
import { MAX_ACK_IDS } from '../protocol/limits.js';

export class AckBatcher {
  private ids: string[] = [];
  private receipts: string[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly send: (batch: { ids?: string[]; receipts?: string[] }) => Promise<void>,
    private readonly delayMs: number,
  ) {}

  add(kind: 'ids' | 'receipts', id: string): void {
    this[kind].push(id);
    if (this.ids.length + this.receipts.length >= MAX_ACK_IDS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /** Sends what is waiting now; resolves when every batch sent so far has been answered. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.ids.length > 0 || this.receipts.length > 0) {
      const batch = { ids: this.ids.splice(0, MAX_ACK_IDS), receipts: this.receipts.splice(0, MAX_ACK_IDS) };
      const payload = {
        ...(batch.ids.length > 0 && { ids: batch.ids }),
        ...(batch.receipts.length > 0 && { receipts: batch.receipts }),
      };
      this.inflight = this.inflight.then(() => this.send(payload).catch(() => undefined));
    }
    return this.inflight;
  }

  /** Forgets what is waiting (the connection is gone; the server will redeliver). */
  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ids = [];
    this.receipts = [];
  }
}
