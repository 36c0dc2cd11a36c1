/**
 * Delivery on a node of a cluster: the stored envelope's address is published on the wake-up channel, so
 * that its connections on the other nodes read it from the shared store (wake-channel.ts), and this
 * node's own pumps of the address are woken the same way.
 *
 * Woken, not offered: the single node's fast path (push the envelope just committed, without reading it
 * back) is safe only while one process commits all of an address's envelopes. Here another node may
 * have committed a lower seq a moment before, whose wake-up has not arrived yet; a pump that took this
 * envelope directly would move its cursor past that one and skip it until the connection logs in again.
 * Reading from the cursor costs one indexed store read per stored envelope and local connection.
 */
import type { DeliveryNotifier, RoomPumps } from '../delivery-notifier.js';
import type { QueuedEnvelope } from '../store/server-store.js';

/** Where the other nodes hear of it (WakeChannel). */
export interface WakePublisher {
  publish(username: string, device: number): void;
}

export class RedisDeliveryNotifier implements DeliveryNotifier {
  constructor(
    private readonly pumps: RoomPumps,
    private readonly wakes: WakePublisher,
  ) {}

  /**
   * Always false: nothing was pushed yet when this returns (the `send` answer says 'queued'; the receipt
   * follows as soon as the device acknowledges).
   */
  stored(message: QueuedEnvelope): boolean {
    this.pumps.wake(message.recipient, message.recipientDevice);
    this.wakes.publish(message.recipient, message.recipientDevice);
    return false;
  }
}
