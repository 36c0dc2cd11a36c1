/**
 * Acknowledgements go to the server in batches: ids collected for `delayMs` (or until `maxBatch` are
 * waiting) travel in one `ack` event. An ack lost with a dropped connection costs only a redelivery,
 * which the message store recognises.
 */
import type { RejectReason } from '../protocol/events.js';
import { MAX_ACK_IDS } from '../protocol/limits.js';

export interface AckBatch {
  ids?: string[];
  receipts?: string[];
  /** Envelopes this device is done with but could not read (the sender's receipt says why). */
  rejected?: Array<{ id: string; reason: RejectReason }>;
}

export class AckBatcher {
  private ids: string[] = [];
  private receipts: string[] = [];
  private rejected: Array<{ id: string; reason: RejectReason }> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inflight: Promise<void> = Promise.resolve();

  constructor(
    private readonly send: (batch: AckBatch) => Promise<void>,
    private readonly delayMs: number,
  ) {}

  add(kind: 'ids' | 'receipts', id: string): void {
    this[kind].push(id);
    this.schedule();
  }

  reject(id: string, reason: RejectReason): void {
    this.rejected.push({ id, reason });
    this.schedule();
  }

  private get waiting(): number {
    return this.ids.length + this.receipts.length + this.rejected.length;
  }

  private schedule(): void {
    if (this.waiting >= MAX_ACK_IDS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Sends what is waiting now; resolves when every batch sent so far has been answered. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.waiting > 0) {
      // MAX_ACK_IDS bounds each list of one ack event; the three share one budget per event to keep it small.
      let budget = MAX_ACK_IDS;
      const ids = this.ids.splice(0, budget);
      budget -= ids.length;
      const receipts = this.receipts.splice(0, budget);
      budget -= receipts.length;
      const rejected = this.rejected.splice(0, budget);
      const payload: AckBatch = {
        ...(ids.length > 0 && { ids }),
        ...(receipts.length > 0 && { receipts }),
        ...(rejected.length > 0 && { rejected }),
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
    this.rejected = [];
  }
}
