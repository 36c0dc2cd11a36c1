/**
 * What a cluster adds to one node (app.ts takes it as a whole; cluster/redis-cluster.ts is the one that
 * exists). Without it, the node is the whole server: in-memory adapter, in-process presence, wake-ups by
 * direct offer, rate limits in memory.
 */
import type { ServerOptions } from 'socket.io';
import type { ChatIO } from '../connection.js';
import type { DeliveryNotifier, RoomPumps } from '../delivery-notifier.js';
import type { LinkRelayOptions } from '../link-relay.js';
import type { LinkSlots } from '../link-slots.js';
import type { ServerMetrics } from '../metrics.js';
import type { PresenceRegistry } from '../presence.js';
import type { RateTake } from '../shared-rate-limits.js';

export interface ClusterLink {
  /** Carries room broadcasts (receipts, presence events, device changes, prekeys.low) to the other nodes. */
  readonly adapter: ServerOptions['adapter'];
  readonly presence: PresenceRegistry;
  deliveryNotifier(pumps: RoomPumps): DeliveryNotifier;
  /** The link relay (link-slots.ts) whose slots every node can join (cross-node-links.ts); called once. */
  linkSlots(options: Pick<LinkRelayOptions, 'onPushError'>): LinkSlots;
  /**
   * Per-user limits counted across the nodes: true when every take fits (then all are taken), false and
   * nothing taken otherwise.
   */
  takeAll(takes: readonly RateTake[]): Promise<boolean>;
  /** Starts what runs beside the server: wake-ups from other nodes, the delivery poll, presence leases. */
  start(io: ChatIO, pumps: RoomPumps, metrics: ServerMetrics): void;
  /** True when Redis answers now. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
