/**
 * Delivery on a node of a cluster: the stored envelope is offered to this node's pumps of its address,
 * exactly as on a single node, and its address is published on the wake-up channel, so that the
 * address's connections on the other nodes read it from the shared store (wake-channel.ts).
 */
import type { Envelope } from '../../protocol/schemas.js';
import { InProcessDeliveryNotifier, type DeliveryNotifier, type RoomPumps } from '../delivery-notifier.js';
import type { QueuedEnvelope } from '../store/server-store.js';
import type { WakeChannel } from './wake-channel.js';

export class RedisDeliveryNotifier implements DeliveryNotifier {
  private readonly local: InProcessDeliveryNotifier;

  constructor(
    pumps: RoomPumps,
    private readonly wakes: WakeChannel,
  ) {
    this.local = new InProcessDeliveryNotifier(pumps);
  }

  /**
   * True when a connection on this node took it at once. A device connected only elsewhere makes this
   * false ('queued' in the send's answer), though it will have it a moment later: the node cannot know.
   */
  stored(message: QueuedEnvelope, envelope: Envelope): boolean {
    const pushed = this.local.stored(message, envelope);
    this.wakes.publish(message.recipient, message.recipientDevice);
    return pushed;
  }
}
