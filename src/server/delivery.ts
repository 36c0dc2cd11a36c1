/**
 * Delivery to one connection of a recipient address (one device of a user), with flow control. Envelopes go out oldest first: first the
 * stored backlog, read from the store in batches, then live ones as they are stored. At most
 * DELIVERY_WINDOW envelopes are unacknowledged on the connection at once; acknowledgements open the
 * window again. A backlog of any size therefore streams at the pace the client acknowledges.
 *
 * Once per connection, the first time the store has nothing beyond what was pushed, the pump says so
 * (`backlog.end`, docs/PROTOCOL.md §7.11): everything queued for the user when they logged in has then
 * been pushed on this connection, so a client can tell "the backlog is over" from "the next push is late".
 */
import type { IncomingMessageV2 } from '../protocol/events-v2.js';
import { DELIVERY_BATCH, DELIVERY_WINDOW } from '../protocol/limits.js';
import type { QueuedEnvelope, ServerStore } from './store/server-store.js';

export type EmitMessage = (message: IncomingMessageV2) => void;
/** The backlog is pushed: `count` envelopes went out on this connection before this call. */
export type EmitBacklogEnd = (count: number) => void;

/**
 * A queued copy as protocol 2's `message` event carries it; a protocol-1 connection gets it without the
 * device members (relay.ts), exactly as before devices.
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
  /** Envelopes pushed on this connection so far. */
  private pushed = 0;
  /** Whether the end of the backlog was announced: once per connection. */
  private backlogEnded = false;

  constructor(
    private readonly store: Pick<ServerStore, 'pending'>,
    private readonly recipient: string,
    private readonly device: number,
    private readonly emit: EmitMessage,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
    private readonly emitBacklogEnd: EmitBacklogEnd = () => undefined,
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
    this.pushed++;
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
        // Caught up for the first time: every envelope stored before the login (and any stored since)
        // has been pushed. Only pushed: the window may still hold unacknowledged ones, which is the
        // client's to settle, and it is never made to wait for them here.
        if (!this.backlogEnded && !this.stopped) {
          this.backlogEnded = true;
          this.emitBacklogEnd(this.pushed);
        }
        return;
      }
    }
  }
}
