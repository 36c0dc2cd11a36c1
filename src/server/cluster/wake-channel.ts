/**
 * Wake-ups between nodes: one Redis pub/sub channel on which a node that stored an envelope publishes its
 * recipient's address, and on which every node wakes its own pumps of that address (RoomPumps.wake).
 * Nothing of the envelope travels: the woken pumps read it from the shared store, which is the source of
 * truth. A wake-up is lost when a subscriber is away; nothing waits longer than the next poll for it
 * (delivery-poller.ts), and a reconnect wakes every pump of the node at once.
 *
 * Each wake-up carries its publisher's node id (a node ignores its own: its pumps were offered the
 * envelope directly) and the publisher's clock, from which the receiving node measures the fan-out lag
 * (same machine: exact; across machines: skewed by their clock difference).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Histogram } from 'prom-client';
import type { RoomPumps } from '../delivery-notifier.js';
import type { ServerMetrics } from '../metrics.js';
import { REDIS_KEY_PREFIX } from './cluster-limits.js';

export const WAKE_CHANNEL = `${REDIS_KEY_PREFIX}wake`;

interface WakeUp {
  /** Publishing node. */
  n: string;
  /** Its clock at publication, ms. */
  t: number;
  u: string;
  d: number;
}

/** A wake-up as read from Redis, or undefined for anything that is not one (Redis is shared; trust nothing). */
function parseWakeUp(text: string): WakeUp | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const w = v as Record<string, unknown>;
  if (typeof w.n !== 'string' || typeof w.u !== 'string' || typeof w.t !== 'number' || !Number.isSafeInteger(w.d) || (w.d as number) < 1) return undefined;
  return { n: w.n, t: w.t, u: w.u, d: w.d as number };
}

// Seconds from publication on one node to the wake on another: sub-millisecond on loopback, more across a network.
const LAG_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class WakeChannel {
  private pumps: RoomPumps | undefined;
  private lag: Histogram | undefined;

  constructor(
    private readonly nodeId: string,
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {}

  /** Starts waking this node's pumps for what other nodes store. */
  listen(pumps: RoomPumps, metrics: ServerMetrics): void {
    this.pumps = pumps;
    this.lag = new Histogram({
      name: 'e2ee_chat_fanout_lag_seconds',
      help: 'Time from a node publishing a wake-up to this node waking the recipient\'s delivery (clocks of two machines: skewed by their difference)',
      buckets: LAG_BUCKETS,
      registers: [metrics.registry],
    });
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel === WAKE_CHANNEL) this.received(text);
    });
    this.subscriber.subscribe(WAKE_CHANNEL).catch((err: unknown) => this.logger.error({ err }, 'could not subscribe to wake-ups'));
  }

  /** Tells the other nodes that an envelope for the address was stored. Never throws, never waits. */
  publish(username: string, device: number): void {
    // Down: the other nodes' polls find it. Publishing into a closed connection would only fail.
    if (this.publisher.status !== 'ready') return;
    const wake: WakeUp = { n: this.nodeId, t: Date.now(), u: username, d: device };
    this.publisher.publish(WAKE_CHANNEL, JSON.stringify(wake)).catch((err: unknown) => this.logger.debug({ err }, 'wake-up not published'));
  }

  private received(text: string): void {
    const wake = parseWakeUp(text);
    if (!wake) {
      this.logger.warn('ignored a message on the wake-up channel that is not a wake-up');
      return;
    }
    if (wake.n === this.nodeId) return;
    this.pumps?.wake(wake.u, wake.d);
    this.lag?.observe(Math.max(0, Date.now() - wake.t) / 1000);
  }
}
