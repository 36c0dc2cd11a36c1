/**
 * The backstop of cross-node delivery: every so often, each delivery pump of this node reads the store
 * from its cursor as if woken. A wake-up that Redis lost (a subscriber reconnecting, Redis restarting,
 * Redis down) therefore delays an envelope by at most one interval, never for longer. One node alone
 * needs no poll: every envelope it stores is offered to its pumps directly.
 *
 * The pumps are visited in slices spread over the interval, so that a node with many connections makes
 * an even trickle of store reads rather than a burst per interval.
 */
import type { ChatIO } from '../connection.js';

/** Slices per interval: the interval's work arrives in this many steps. */
const SLICES = 10;

export class DeliveryPoller {
  private timer: NodeJS.Timeout | undefined;
  private slice = 0;

  constructor(
    private readonly io: ChatIO,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.intervalMs / SLICES)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Wakes every pump of the node now (after Redis came back: anything may have been missed). */
  wakeAll(): void {
    for (const socket of this.io.of('/').sockets.values()) socket.data.pump?.wake();
  }

  private tick(): void {
    const slice = this.slice;
    this.slice = (slice + 1) % SLICES;
    let i = 0;
    for (const socket of this.io.of('/').sockets.values()) {
      // Sockets keep their place in the map while they live, so each is visited once per interval.
      if (i++ % SLICES === slice) socket.data.pump?.wake();
    }
  }
}
