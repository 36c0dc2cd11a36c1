/**
 * Per-user rate limits counted across the nodes: the same token buckets as KeyedRateLimiter's, kept in
 * Redis hashes (`ratelimit:<limit>:<key>`: tokens and when they were counted) and checked and taken by one
 * script, all buckets of a request together (shared-rate-limits.ts). A bucket that refilled expires.
 *
 * When Redis does not answer, each node falls back to its own in-memory buckets: the limit then holds per
 * node, so a user may get up to N times the rate across N nodes for as long as Redis is away. Refusing
 * everything would turn a Redis outage into an outage of the service; letting everything through would
 * drop the protection exactly when it cannot be seen. The clock is the node's: nodes of one deployment
 * agree on time closely enough for buckets that refill over seconds.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { takeAllLocally, type RateTake } from '../shared-rate-limits.js';
import { REDIS_KEY_PREFIX } from './cluster-limits.js';

// KEYS: the buckets. ARGV: now (ms), then rate per second, burst and tokens wanted for each bucket.
const TAKE_ALL = `
local now = tonumber(ARGV[1])
local left = {}
for i, key in ipairs(KEYS) do
  local rate, burst, n = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local v = redis.call('HMGET', key, 't', 'at')
  local tokens = burst
  if v[1] then tokens = math.min(burst, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) / 1000 * rate) end
  if tokens < n then return 0 end
  left[i] = tokens - n
end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  redis.call('HSET', key, 't', tostring(left[i]), 'at', ARGV[1])
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return 1`;

export class RedisRateLimits {
  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async takeAll(takes: readonly RateTake[]): Promise<boolean> {
    if (takes.length === 0) return true;
    const keys = takes.map((t) => `${REDIS_KEY_PREFIX}ratelimit:${t.name}:${t.key}`);
    const args = takes.flatMap((t) => [t.limiter.ratePerSecond, t.limiter.burst, t.n]);
    try {
      return (await this.redis.eval(TAKE_ALL, keys.length, ...keys, this.now(), ...args)) === 1;
    } catch (err) {
      this.logger.debug({ err }, 'rate limits: redis unavailable, counted on this node only');
      return takeAllLocally(takes);
    }
  }
}
