/**
 * Per-user limits that several takes must pass together (a bundle fetch costs the requester one token per
 * device and each target one): every bucket must have its tokens before any is spent, so a fetch refused
 * for one target's sake costs nobody anything. On one node the buckets are in memory (KeyedRateLimiter);
 * a cluster counts them in Redis (cluster/redis-rate-limits.ts), with these in-memory buckets as its
 * fallback while Redis is away.
 */
import type { KeyedRateLimiter } from './rate-limit.js';

export interface RateTake {
  /** The limit, which names the bucket family in Redis too. */
  readonly name: string;
  readonly limiter: KeyedRateLimiter;
  readonly key: string;
  readonly n: number;
}

export function takeAllLocally(takes: readonly RateTake[]): boolean {
  if (!takes.every((t) => t.limiter.hasToken(t.key, t.n))) return false;
  for (const t of takes) for (let i = 0; i < t.n; i++) t.limiter.take(t.key);
  return true;
}
