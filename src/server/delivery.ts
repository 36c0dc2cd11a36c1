/**
 * Delivery to one connection of a recipient address (one device of a user), with flow control. Envelopes go out oldest first: first the
 * stored backlog, read from the store in batches, then live ones as they are stored. At most
 * DELIVERY_WINDOW envelopes are unacknowledged on the connection at once; acknowledgements open the
 * window again. A backlog of any size therefore streams at the pace the client acknowledges.
 */
import type { IncomingMessageV2 } from '../protocol/events-v2.js';
import { DELIVERY_BATCH, DELIVERY_WINDOW } from '../protocol/limits.js';
import type { QueuedEnvelope, ServerStore } from './store/server-store.js';

export type EmitMessage = (message: IncomingMessageV2) => void;

/**
 * A queued copy as the `message` event carries it. One shape for both protocols (design §5.8): a
 * protocol-1 client ignores `fromDevice` and `toDevice`.
 */
export function toWire(q: QueuedEnvelope, parsedEnvelope?: IncomingMessageV2['envelope']): IncomingMessageV2 {
  return {
    id: q.id,
    from: q.sender,
    fromDevice: q.senderDevice,
    to: q.recipient,
    toDevice: q.recipientDevice,
    sentAt: q.sentAt,
    envelope: parsedEnvelope ?? (JSON.parse(q.envelope) as IncomingMessageV2['envelope']),
  };
}

export class DeliveryPump {
  /** Highest store seq emitted on this connection: nothing at or below it is emitted again. */
  private cursor = 0;
  private readonly inflight = new Set<string>();
  /** True once the store had nothing beyond the cursor: live envelopes may then go straight out. */
  private caughtUp = false;
  private draining = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly store: ServerStore,
    private readonly recipient: string,
    private readonly device: number,
    private readonly emit: EmitMessage,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.pump();
  }

  stop(): void {
    this.stopped = true;
  }

  /**
   * A new envelope for this recipient was stored. Returns true when it was pushed at once; false when it
   * waits in the store (this connection is behind or its window is full) for the pump to read it in order.
   */
  offer(q: QueuedEnvelope, parsedEnvelope: IncomingMessageV2['envelope']): boolean {
    if (this.stopped || q.seq <= this.cursor) return false;
    if (this.caughtUp && !this.draining && this.inflight.size < DELIVERY_WINDOW) {
      this.send(q, parsedEnvelope);
      return true;
    }
    this.caughtUp = false;
    this.pump();
    return false;
  }

  /**
   * Envelopes for this recipient were stored without passing through `offer` (by another node): read the
   * store from the cursor on, as for a backlog.
   */
  wake(): void {
    if (this.stopped) return;
    this.caughtUp = false;
    this.pump();
  }

  acknowledged(ids: readonly string[]): void {
    let freed = false;
    for (const id of ids) freed = this.inflight.delete(id) || freed;
    if (freed && !this.caughtUp) this.pump();
  }

  get unacknowledged(): number {
    return this.inflight.size;
  }

  private send(q: QueuedEnvelope, parsedEnvelope?: IncomingMessageV2['envelope']): void {
    this.cursor = q.seq;
    this.inflight.add(q.id);
    this.emit(toWire(q, parsedEnvelope));
  }

  private pump(): void {
    if (this.stopped) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = true;
    void this.drain()
      .catch(this.onError)
      .finally(() => {
        this.draining = false;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      const room = DELIVERY_WINDOW - this.inflight.size;
      if (room <= 0) return;
      const limit = Math.min(room, DELIVERY_BATCH);
      const batch = await this.store.pending(this.recipient, this.device, this.cursor, limit, this.now());
      for (const q of batch) {
        if (this.stopped) return;
        if (q.seq > this.cursor) this.send(q);
      }
      if (batch.length < limit) {
        this.caughtUp = true;
        return;
      }
    }
  }
}
