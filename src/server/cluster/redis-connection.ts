/**
 * One connection to the cluster's Redis (ioredis), configured for a relay that must never wait on it:
 * commands fail at once while the connection is down (no offline queue, which would hold them, and the
 * logins and sends awaiting them, for as long as Redis is away) and after REDIS_COMMAND_TIMEOUT_MS when
 * Redis stalls; reconnecting goes on for ever, backing off to REDIS_MAX_RECONNECT_DELAY_MS. A subscriber
 * connection keeps the offline queue for its SUBSCRIBE alone (it is sent once connected) and subscribes
 * again after every reconnect.
 *
 * The URL is never logged: it may carry a password. Logs name the connection's role and say "lost" once
 * per outage and "connected" when it is back.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_MAX_RECONNECT_DELAY_MS } from './cluster-limits.js';

/** The URL as it may be logged: without user name and password. */
export function redactedRedisUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

export interface RedisConnectionOptions {
  url: string;
  /** What this connection is for, in logs and in Redis's CLIENT LIST. */
  role: string;
  logger: Logger;
  /** True for a connection that only subscribes. */
  subscriber?: boolean;
  /** Called each time the connection is ready again after having been lost (not on the first connect). */
  onReconnected?: () => void;
}

export function openRedisConnection({ url, role, logger, subscriber = false, onReconnected }: RedisConnectionOptions): Redis {
  const redis = new Redis(url, {
    connectionName: `e2ee-chat-${role}`,
    enableOfflineQueue: subscriber,
    // A subscriber's only commands are its (re)subscriptions: they wait for the connection.
    maxRetriesPerRequest: subscriber ? null : 0,
    ...(!subscriber && { commandTimeout: REDIS_COMMAND_TIMEOUT_MS }),
    retryStrategy: (times) => Math.min(times * 100, REDIS_MAX_RECONNECT_DELAY_MS),
    autoResubscribe: true,
  });
  let everReady = false;
  let lost = false;
  redis.on('ready', () => {
    if (everReady) logger.info({ redis: role }, 'redis connected again');
    const again = everReady;
    everReady = true;
    lost = false;
    if (again) onReconnected?.();
  });
  const noteLost = (err?: unknown) => {
    // 'end': closed on purpose (quit or disconnect), when the server stops and its log may be closed already.
    if (lost || redis.status === 'end') return;
    lost = true;
    logger.warn({ redis: role, ...(err !== undefined && { err }) }, 'redis connection lost; reconnecting (deliveries fall back to polling the store)');
  };
  // Without a listener ioredis prints every failed reconnect attempt to the console.
  redis.on('error', (err: unknown) => (everReady ? noteLost(err) : logger.debug({ err, redis: role }, 'redis not reachable yet')));
  redis.on('close', () => {
    if (everReady) noteLost();
  });
  return redis;
}
