/**
 * A node of a cluster on one Redis (E2EE_CHAT_REDIS_URL): the ClusterLink the server command hands to
 * createChatServer. Redis carries signals only; the store (PostgreSQL) stays the source of truth.
 *
 * - Room broadcasts (receipts, presence events, `devices.changed`, `device.removed` and the closing of
 *   a removed device's connections, `prekeys.low`) cross nodes through Socket.IO's Redis adapter (pub/sub).
 * - Wake-ups: this node publishes the address of every envelope it stores (wake-channel.ts); the others
 *   wake their pumps of it, which read it from the store. Each pump also reads the store every
 *   deliveryPollMs (delivery-poller.ts), so a lost wake-up costs at most that delay.
 * - Presence with per-node leases (redis-presence.ts); per-user rate limits in Redis (redis-rate-limits.ts).
 * - Link slots joinable from any node: each lives on the node that opened it, found through Redis and
 *   reached over pub/sub (cross-node-links.ts, redis-link-bus.ts).
 *
 * Three connections: commands and publishing, the adapter's subscriber, the subscriber of wake-ups and of
 * this node's link channel. When Redis comes back after being lost, every pump of the node reads the
 * store, every logged-in connection is handed its owed receipts again (a receipt broadcast while Redis
 * was away is lost; a client takes a receipt it already has as the duplicate it is), and every link
 * across nodes this node is in is closed (a frame may have been lost; the user runs `link` again).
 */
import { randomBytes } from 'node:crypto';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { ServerOptions } from 'socket.io';
import type { ServerConfig } from '../config.js';
import type { ChatIO } from '../connection.js';
import type { DeliveryNotifier, RoomPumps } from '../delivery-notifier.js';
import type { LinkRelayOptions } from '../link-relay.js';
import type { LinkSlots } from '../link-slots.js';
import type { ServerMetrics } from '../metrics.js';
import { PRESENCE_ROOM } from '../rooms.js';
import type { RateTake } from '../shared-rate-limits.js';
import { REDIS_KEY_PREFIX } from './cluster-limits.js';
import type { ClusterLink } from './cluster-link.js';
import { CrossNodeLinks } from './cross-node-links.js';
import { DeliveryPoller } from './delivery-poller.js';
import { RedisDeliveryNotifier } from './redis-delivery-notifier.js';
import { RedisLinkBus } from './redis-link-bus.js';
import { openRedisConnection, redactedRedisUrl } from './redis-connection.js';
import { RedisPresence } from './redis-presence.js';
import { RedisRateLimits } from './redis-rate-limits.js';
import { WakeChannel } from './wake-channel.js';

export class RedisCluster implements ClusterLink {
  /** This process, among the nodes: random, so a restarted node is a new one (its old leases just expire). */
  readonly nodeId = randomBytes(8).toString('hex');
  /** Where Redis is, as it may be logged (no password). */
  readonly location: string;
  readonly adapter: ServerOptions['adapter'];
  readonly presence: RedisPresence;
  private readonly commands: Redis;
  private readonly adapterSubscriber: Redis;
  private readonly wakeSubscriber: Redis;
  private readonly wakes: WakeChannel;
  private readonly limits: RedisRateLimits;
  private poller: DeliveryPoller | undefined;
  private readonly linkBus: RedisLinkBus;
  private links: CrossNodeLinks | undefined;
  private linkChecks: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ServerConfig & { redisUrl: string },
    private readonly logger: Logger,
  ) {
    const url = config.redisUrl;
    this.location = redactedRedisUrl(url);
    const caughtUp = () => this.catchUp();
    // The link channel shares the wake-up subscriber: what was published to it while away is lost too.
    const linksCaughtUp = () => {
      this.links?.subscriberReset();
      caughtUp();
    };
    this.commands = openRedisConnection({
      url,
      role: 'commands',
      logger,
      onReconnected: () => {
        void this.linkBus.renewLease();
        void this.presence.maintain();
      },
    });
    this.adapterSubscriber = openRedisConnection({ url, role: 'adapter-subscriber', logger, subscriber: true, onReconnected: caughtUp });
    this.wakeSubscriber = openRedisConnection({ url, role: 'wake-subscriber', logger, subscriber: true, onReconnected: linksCaughtUp });
    this.adapter = createAdapter(adapterPublisher(this.commands, logger), this.adapterSubscriber, { key: `${REDIS_KEY_PREFIX}socket.io` });
    this.wakes = new WakeChannel(this.nodeId, this.commands, this.wakeSubscriber, logger);
    this.presence = new RedisPresence(this.commands, this.nodeId, config.presenceLeaseMs, logger);
    this.limits = new RedisRateLimits(this.commands, logger);
    this.linkBus = new RedisLinkBus(this.nodeId, this.commands, this.wakeSubscriber, config.presenceLeaseMs, logger);
  }

  private io: ChatIO | undefined;

  deliveryNotifier(pumps: RoomPumps): DeliveryNotifier {
    return new RedisDeliveryNotifier(pumps, this.wakes);
  }

  linkSlots(options: Pick<LinkRelayOptions, 'onPushError'>): LinkSlots {
    if (this.links) throw new Error('RedisCluster.linkSlots: called once per server');
    this.links = new CrossNodeLinks({ bus: this.linkBus, logger: this.logger, relay: options });
    return this.links;
  }

  takeAll(takes: readonly RateTake[]): Promise<boolean> {
    return this.limits.takeAll(takes);
  }

  start(io: ChatIO, pumps: RoomPumps, metrics: ServerMetrics): void {
    this.io = io;
    const commands = this.commands;
    new Gauge({
      name: 'e2ee_chat_redis_connected',
      help: '1 while this node\'s command connection to the cluster\'s Redis is ready, else 0',
      registers: [metrics.registry],
      collect() {
        this.set(commands.status === 'ready' ? 1 : 0);
      },
    });
    this.wakes.listen(pumps, metrics);
    this.poller = new DeliveryPoller(io, this.config.deliveryPollMs);
    this.poller.start();
    this.presence.start((usernames) => {
      for (const username of usernames) io.to(PRESENCE_ROOM).emit('presence', { username, online: false });
    });
    this.linkBus.start();
    // A node holding links of this one's that died is found within a lease and a third.
    this.linkChecks = setInterval(() => void this.links?.checkNodes(), Math.max(100, Math.floor(this.config.presenceLeaseMs / 3)));
    this.linkChecks.unref();
  }

  async healthy(): Promise<boolean> {
    if (this.commands.status !== 'ready') return false;
    try {
      return (await this.commands.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * After the server closed its connections: their presence removals were sent on the command
   * connection, so it ends with QUIT, which Redis answers after them (1 s at most; what is left then
   * expires with this node's leases). The subscribers just go.
   */
  async close(): Promise<void> {
    this.poller?.stop();
    this.presence.stop();
    clearInterval(this.linkChecks);
    await this.linkBus.stop();
    this.wakeSubscriber.disconnect();
    this.adapterSubscriber.disconnect();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)));
    await Promise.race([this.commands.quit().catch(() => undefined), late]);
    clearTimeout(timer);
    this.commands.disconnect();
  }

  /** Redis is back: what was broadcast or published meanwhile is lost, so read it from the store. */
  private catchUp(): void {
    this.poller?.wakeAll();
    if (!this.io) return;
    for (const socket of this.io.of('/').sockets.values()) socket.data.owedReceipts?.();
  }
}

/**
 * The adapter publishes without handling a failure; a rejected publish (Redis away) would be an unhandled
 * rejection, which ends a Node process. This view of the command connection catches it: the broadcast
 * has already reached this node's sockets, and catchUp resends what the others missed.
 */
function adapterPublisher(redis: Redis, logger: Logger): Redis {
  return new Proxy(redis, {
    get(target, prop) {
      if (prop === 'publish') {
        return (channel: string, message: string | Buffer) =>
          target.publish(channel, message).catch((err: unknown) => {
            logger.debug({ err }, 'broadcast not published to the other nodes');
            return 0;
          });
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
