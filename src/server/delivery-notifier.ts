/**
 * How a stored envelope reaches its recipient's connections. Each connection has its own DeliveryPump
 * (flow control is per connection: its window is freed by its own acks), and a pump reads everything it
 * delivers from the store, so the only thing delivery ever needs from outside a node is a wake-up: "an
 * envelope for X was stored". DeliveryNotifier is that wake-up. Pumps are found through the membership
 * of the user's room (`user:<name>`), never through a list of sockets kept beside Socket.IO.
 *
 * Scaling out is one new DeliveryNotifier: it offers the envelope to this node's pumps as the in-process
 * one does, and publishes the recipient's name (Redis pub/sub); every other node then calls `wake` on its
 * RoomPumps for that user, and the woken pumps read the envelope from the shared store.
 */
import type { Envelope } from '../protocol/schemas.js';
import type { ChatIO } from './connection.js';
import type { DeliveryPump } from './delivery.js';
import { userRoom } from './rooms.js';
import type { QueuedEnvelope } from './store/server-store.js';

export interface DeliveryNotifier {
  /**
   * `message` was committed to the store for `message.recipient`. Returns true when a connection of the
   * recipient took it at once (the `send` answer then says delivered), false when it waits in the store.
   */
  stored(message: QueuedEnvelope, envelope: Envelope): boolean;
}

/** The delivery pumps of a user's connections on this node: the local members of the user's room. */
export class RoomPumps {
  constructor(private readonly io: ChatIO) {}

  *of(username: string): Iterable<DeliveryPump> {
    // The adapter's own record of local room members (a cluster adapter keeps it too, for its node).
    const ids = this.io.sockets.adapter.rooms.get(userRoom(username));
    if (!ids) return;
    for (const id of ids) {
      const pump = this.io.sockets.sockets.get(id)?.data.pump;
      if (pump) yield pump;
    }
  }

  /** Envelopes for `username` were stored elsewhere: each of their pumps here reads the store again. */
  wake(username: string): void {
    for (const pump of this.of(username)) pump.wake();
  }

  /** The user's device acknowledged `ids`: any of their connections here may hold them in flight. */
  acknowledged(username: string, ids: readonly string[]): void {
    for (const pump of this.of(username)) pump.acknowledged(ids);
  }
}

/** The notifier of one node that is the whole server: the envelope is offered to the pumps here. */
export class InProcessDeliveryNotifier implements DeliveryNotifier {
  constructor(private readonly pumps: RoomPumps) {}

  stored(message: QueuedEnvelope, envelope: Envelope): boolean {
    let pushed = false;
    for (const pump of this.pumps.of(message.recipient)) pushed = pump.offer(message, envelope) || pushed;
    return pushed;
  }
}
