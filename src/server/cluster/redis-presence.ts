/**
 * Who is online across the nodes of a cluster, in Redis, with per-node leases. Each node counts its own
 * connections per user in memory (InProcessPresence) and keeps, per user it has online, one entry in
 * Redis: `presence:user:<name>`, a sorted set of node ids scored by when the entry expires. Beside it,
 * `presence:users` lists the online users scored by the latest expiry of any of their entries. A node
 * refreshes its entries every third of the lease; a node that dies stops refreshing, and once its
 * entries expire, whichever node's reaper removes a user from `presence:users` first (a script, so one
 * node does) announces them offline.
 *
 * The user's first entry anywhere makes them come online, their last one leaving makes them go offline:
 * both decided inside one script each, so two nodes never both announce the same change.
 *
 * When Redis does not answer, each node answers from what it knows itself (its own users), so a login
 * or a send never fails for presence's sake; what changed meanwhile is written when Redis is back.
 * These scripts name keys they compute (the reaper deletes `presence:user:<name>`): fine on one Redis,
 * not on a Redis Cluster, which this does not support.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { InProcessPresence, type PresenceRegistry } from '../presence.js';
import { REDIS_KEY_PREFIX } from './cluster-limits.js';

const USERS_KEY = `${REDIS_KEY_PREFIX}presence:users`;
const USER_KEY_PREFIX = `${REDIS_KEY_PREFIX}presence:user:`;
const userKey = (username: string): string => USER_KEY_PREFIX + username;

/** Refresh writes are sent in pipelines of this many users. */
const REFRESH_BATCH = 500;

// KEYS: user key, users key. ARGV: node, now, expiry, lease ms, username. Returns 1 when no node had the user online.
const ADD = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[5])
if before == 0 then return 1 end
return 0`;

// KEYS: user key, users key. ARGV: node, now, username. Returns 1 when this removal took the user offline.
const REMOVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('ZREM', KEYS[2], ARGV[3])
end
return 0`;

// KEYS: users key. ARGV: now, user key prefix. Removes (and returns) users whose every lease expired.
const REAP = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for _, u in ipairs(gone) do
  redis.call('ZREM', KEYS[1], u)
  redis.call('DEL', ARGV[2] .. u)
end
return gone`;

export class RedisPresence implements PresenceRegistry {
  private readonly local = new InProcessPresence();
  /** Users whose last connection here closed while Redis was away: their entry is removed when it is back. */
  private readonly pendingRemovals = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private offline: (usernames: readonly string[]) => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Refreshes this node's leases and reaps expired ones every third of the lease; `offline` announces users that went. */
  start(offline: (usernames: readonly string[]) => void): void {
    this.offline = offline;
    this.timer = setInterval(() => void this.maintain(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async add(username: string, connectionId: string): Promise<boolean> {
    const firstHere = await this.local.add(username, connectionId);
    this.pendingRemovals.delete(username);
    if (!firstHere) return false;
    try {
      const t = this.now();
      return (await this.redis.eval(ADD, 2, userKey(username), USERS_KEY, this.nodeId, t, t + this.leaseMs, this.leaseMs, username)) === 1;
    } catch (err) {
      this.logger.debug({ err }, 'presence: redis unavailable, recorded on this node only');
      return true;
    }
  }

  async remove(username: string, connectionId: string): Promise<boolean> {
    const lastHere = await this.local.remove(username, connectionId);
    if (!lastHere) return false;
    try {
      return (await this.redis.eval(REMOVE, 2, userKey(username), USERS_KEY, this.nodeId, this.now(), username)) === 1;
    } catch (err) {
      this.logger.debug({ err }, 'presence: redis unavailable, removal kept for later');
      this.pendingRemovals.add(username);
      return false;
    }
  }

  async isOnline(username: string): Promise<boolean> {
    if (await this.local.isOnline(username)) return true;
    try {
      const score = await this.redis.zscore(USERS_KEY, username);
      return score !== null && Number(score) > this.now();
    } catch {
      return false;
    }
  }

  async users(): Promise<string[]> {
    const here = await this.local.users();
    try {
      const there = await this.redis.zrangebyscore(USERS_KEY, `(${this.now()}`, '+inf');
      return [...new Set([...here, ...there])].sort();
    } catch {
      return here;
    }
  }

  async userCount(): Promise<number> {
    try {
      return await this.redis.zcount(USERS_KEY, `(${this.now()}`, '+inf');
    } catch {
      return this.local.userCount();
    }
  }

  /** Writes this node's entries anew (they may be gone: Redis restarted empty), settles removals, reaps. */
  async maintain(): Promise<void> {
    try {
      await this.refresh();
      for (const username of [...this.pendingRemovals]) {
        if (await this.local.isOnline(username)) {
          this.pendingRemovals.delete(username);
          continue;
        }
        const wentOffline = (await this.redis.eval(REMOVE, 2, userKey(username), USERS_KEY, this.nodeId, this.now(), username)) === 1;
        this.pendingRemovals.delete(username);
        if (wentOffline) this.offline([username]);
      }
      const gone = (await this.redis.eval(REAP, 1, USERS_KEY, this.now(), USER_KEY_PREFIX)) as string[];
      if (gone.length > 0) this.offline(gone);
    } catch (err) {
      this.logger.debug({ err }, 'presence: lease refresh failed (redis unavailable)');
    }
  }

  private async refresh(): Promise<void> {
    const users = await this.local.users();
    const expiry = this.now() + this.leaseMs;
    for (let i = 0; i < users.length; i += REFRESH_BATCH) {
      const batch = this.redis.pipeline();
      for (const username of users.slice(i, i + REFRESH_BATCH)) {
        batch.zadd(userKey(username), expiry, this.nodeId).pexpire(userKey(username), this.leaseMs).zadd(USERS_KEY, 'GT', expiry, username);
      }
      const results = await batch.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
    }
  }
}
