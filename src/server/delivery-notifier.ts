/**
 * How a stored envelope reaches its recipient's connections. Each connection has its own DeliveryPump
 * (flow control is per connection: its window is freed by its own acks), and a pump reads everything it
 * delivers from the store, so the only thing delivery ever needs from outside a node is a wake-up: "an
 * envelope for X was stored". DeliveryNotifier is that wake-up. Pumps are found through the membership
 * of the address's room (`device:<name>/<id>`, design §3.1), never through a list of sockets kept beside
 * Socket.IO: a copy for one device never reaches another device's connections.
 *
 * Scaling out is one new DeliveryNotifier: it offers the envelope to this node's pumps as the in-process
 * one does, and publishes the recipient address (Redis pub/sub); every other node then calls `wake` on
 * its RoomPumps for that address, and the woken pumps read the envelope from the shared store.
 */
import type { Envelope } from '../protocol/schemas.js';
import type { ChatIO } from './connection.js';
import type { DeliveryPump } from './delivery.js';
import { addressRoom, userRoom } from './rooms.js';
import type { QueuedEnvelope } from './store/server-store.js';

export interface DeliveryNotifier {
  /**
   * `message` was committed to the store for the address (`message.recipient`, `message.recipientDevice`).
   * Returns true when a connection of that address took it at once (the `send` answer then says
   * delivered), false when it waits in the store.
   */
  stored(message: QueuedEnvelope, envelope: Envelope): boolean;
}

/** The delivery pumps of connections on this node: the local members of an address's (or a user's) room. */
export class RoomPumps {
  constructor(private readonly io: ChatIO) {}

  /** The pumps of one address, or of every device of the user when `device` is left out. */
  *of(username: string, device?: number): Iterable<DeliveryPump> {
    // The adapter's own record of local room members (a cluster adapter keeps it too, for its node).
    const ids = this.io.sockets.adapter.rooms.get(device === undefined ? userRoom(username) : addressRoom(username, device));
    if (!ids) return;
    for (const id of ids) {
      const pump = this.io.sockets.sockets.get(id)?.data.pump;
      if (pump) yield pump;
    }
  }

  /**
   * Envelopes for the address were stored elsewhere: each of its pumps here reads the store again. Without
   * `device`, every device of the user (a pump reads only its own address, so waking more is harmless).
   */
  wake(username: string, device?: number): void {
    for (const pump of this.of(username, device)) pump.wake();
  }

  /** The address acknowledged `ids`: any of its connections here may hold them in flight. */
  acknowledged(username: string, device: number, ids: readonly string[]): void {
    for (const pump of this.of(username, device)) pump.acknowledged(ids);
  }
}

/** The notifier of one node that is the whole server: the envelope is offered to the pumps here. */
export class InProcessDeliveryNotifier implements DeliveryNotifier {
  constructor(private readonly pumps: RoomPumps) {}

  stored(message: QueuedEnvelope, envelope: Envelope): boolean {
    let pushed = false;
    for (const pump of this.pumps.of(message.recipient, message.recipientDevice)) pushed = pump.offer(message, envelope) || pushed;
    return pushed;
  }
}
