/**
 * The link bus (link-bus.ts) on the cluster's Redis:
 *
 * - `link:slot:<number>` holds `<home node>:<expiresAt>` for the slot's lifetime (set only if absent, so
 *   two nodes never hold one number) and `link:slots` scores each open number by its expiry: its size,
 *   once the expired are dropped, is how many slots the cluster has open, which picks the range of the
 *   next number and bounds them all. Claiming and freeing are scripts, so the two never disagree.
 * - `link:node:<node>` is a node's lease, set for the presence lease and refreshed every third of it, and
 *   deleted when the node stops: the other nodes check it to learn that a node holding their links died.
 * - `link:<node>` is a node's channel. PUBLISH answers how many subscribers got the message: none means
 *   the node is gone (or cut off from Redis), which the relay takes as such at once.
 *
 * The scripts name keys they compute, like the presence reaper's: fine on one Redis, not on a Redis Cluster.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REDIS_KEY_PREFIX } from './cluster-limits.js';
import type { LinkBus, SlotClaim, SlotHome } from './link-bus.js';
import { SHORT_RANGE_BELOW } from '../link-slot-numbers.js';

const SLOTS_KEY = `${REDIS_KEY_PREFIX}link:slots`;
const SLOT_KEY_PREFIX = `${REDIS_KEY_PREFIX}link:slot:`;
const LEASE_KEY_PREFIX = `${REDIS_KEY_PREFIX}link:node:`;
export const linkChannel = (node: string): string => `${REDIS_KEY_PREFIX}link:${node}`;

// KEYS: open-slots set. ARGV: now, expiresAt, ttl ms, value, slot key prefix, max open, short-range bound,
// number of short candidates, then the short candidates, then the wide ones.
// Returns the number claimed, 0 when every candidate of the range in use is taken, -1 at the cap.
const CLAIM = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[6]) then return -1 end
local nShort = tonumber(ARGV[8])
local first, last = 9, 8 + nShort
if open >= tonumber(ARGV[7]) then first, last = 9 + nShort, #ARGV end
for i = first, last do
  if redis.call('SET', ARGV[5] .. ARGV[i], ARGV[4], 'NX', 'PX', ARGV[3]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
    return ARGV[i]
  end
end
return 0`;

// KEYS: slot key, open-slots set. ARGV: this node's value prefix ("<node>:"), number. Frees the number if it is still ours.
const RELEASE = `
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0`;

const HOME_VALUE = /^([0-9a-f]{16}):(\d{1,16})$/;

export class RedisLinkBus implements LinkBus {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly node: string,
    private readonly commands: Redis,
    private readonly subscriber: Redis,
    private readonly leaseMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes this node's lease and keeps it. */
  start(): void {
    void this.renewLease();
    this.timer = setInterval(() => void this.renewLease(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  /** Gives the lease up, so the other nodes learn at their next check that this node's links are gone. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.commands.del(LEASE_KEY_PREFIX + this.node).catch(() => undefined);
  }

  async claim(short: readonly string[], wide: readonly string[], expiresAt: number, ttlMs: number, maxOpen: number): Promise<SlotClaim> {
    const value = `${this.node}:${expiresAt}`;
    const args = [this.now(), expiresAt, ttlMs, value, SLOT_KEY_PREFIX, maxOpen, SHORT_RANGE_BELOW, short.length, ...short, ...wide];
    const outcome = await this.commands.eval(CLAIM, 1, SLOTS_KEY, ...args);
    if (outcome === -1) return 'full';
    if (outcome === 0) return 'taken';
    if (typeof outcome === 'string' && (short.includes(outcome) || wide.includes(outcome))) return { slot: outcome };
    throw new Error(`unexpected answer of the link slot claim: ${String(outcome)}`);
  }

  async lookup(slot: string): Promise<SlotHome | undefined> {
    const value = await this.commands.get(SLOT_KEY_PREFIX + slot);
    const m = value === null ? null : HOME_VALUE.exec(value);
    if (!m) return undefined;
    return { node: m[1]!, expiresAt: Number(m[2]) };
  }

  async release(slot: string): Promise<void> {
    await this.commands.eval(RELEASE, 2, SLOT_KEY_PREFIX + slot, SLOTS_KEY, `${this.node}:`, slot);
  }

  async publish(node: string, text: string): Promise<boolean> {
    return (await this.commands.publish(linkChannel(node), text)) > 0;
  }

  listen(received: (text: string) => void): void {
    const channel = linkChannel(this.node);
    this.subscriber.on('message', (from: string, text: string) => {
      if (from === channel) received(text);
    });
    this.subscriber.subscribe(channel).catch((err: unknown) => this.logger.error({ err }, 'could not subscribe to the link channel'));
  }

  async alive(node: string): Promise<boolean> {
    return (await this.commands.exists(LEASE_KEY_PREFIX + node)) === 1;
  }

  /**
   * Sets this node's lease again. Also called when the command connection is back: a Redis that restarted
   * empty lost every lease, and the first claim after the restart must not find its home's lease missing.
   */
  async renewLease(): Promise<void> {
    try {
      await this.commands.set(LEASE_KEY_PREFIX + this.node, '1', 'PX', this.leaseMs);
    } catch (err) {
      this.logger.debug({ err }, 'link lease not renewed (redis unavailable)');
    }
  }
}
