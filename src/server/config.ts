/** Server configuration from the environment (a `.env` file is loaded into it by the CLI first). */
import {
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_BLOB_HTTP_RATE_BURST,
  DEFAULT_BLOB_HTTP_RATE_PER_SECOND,
  DEFAULT_BLOB_SERVER_MAX_BYTES,
  DEFAULT_BLOB_UPLOAD_IDLE_MS,
  DEFAULT_BLOB_USER_MAX_BYTES,
  DEFAULT_BLOB_USER_MAX_COUNT,
  DEFAULT_BUNDLE_FETCH_PER_REQUESTER_BURST,
  DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_BURST,
  DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_PER_MINUTE,
  DEFAULT_BUNDLE_FETCH_PER_REQUESTER_PER_MINUTE,
  DEFAULT_BUNDLE_FETCH_PER_TARGET_BURST,
  DEFAULT_BUNDLE_FETCH_PER_TARGET_PER_MINUTE,
  DEFAULT_DRAIN_NOTICE_SECONDS,
  DEFAULT_DRAIN_SECONDS,
  DEFAULT_HTTP_HEADERS_TIMEOUT_MS,
  DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
  DEFAULT_MAX_ATTACHMENT_BYTES,
  DEFAULT_QUEUE_MAX_BYTES,
  DEFAULT_QUEUE_MAX_COUNT,
  DEFAULT_QUEUE_TTL_MS,
  DEFAULT_SENDER_QUEUE_MAX_BYTES,
  DEFAULT_SENDER_QUEUE_MAX_COUNT,
  DEFAULT_SERVER_QUEUE_MAX_BYTES,
  DEFAULT_SWEEP_INTERVAL_MS,
  DEFAULT_USER_QUEUE_MAX_BYTES,
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_RATE_LIMIT_BURST,
  DEFAULT_RATE_LIMIT_PER_SECOND,
} from '../protocol/limits.js';
import { DEFAULT_DELIVERY_POLL_MS, DEFAULT_PRESENCE_LEASE_MS } from './cluster/cluster-limits.js';

export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  /**
   * sqlite (durable, the default), memory (nothing survives a restart; for tests and benchmarks) or
   * postgres (durable and shared by several nodes; chosen by E2EE_CHAT_DATABASE_URL).
   */
  store: 'sqlite' | 'memory' | 'postgres';
  /** The PostgreSQL connection string, with store postgres only. Holds a password: never log it. */
  databaseUrl?: string;
  /**
   * E2EE_CHAT_REDIS_URL: the Redis that connects the nodes of a cluster (cluster/redis-cluster.ts);
   * undefined for one node that is the whole server. May hold a password: never log it.
   */
  redisUrl?: string;
  /** With Redis only: how often each connected device's delivery reads the store again anyway (a lost wake-up waits no longer). */
  deliveryPollMs: number;
  /** With Redis only: how long a node's presence records outlive it when it stops refreshing them (a crash). */
  presenceLeaseMs: number;
  maxEnvelopeBytes: number;
  authTimeoutMs: number;
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Per-recipient-device caps on the store-and-forward queue. */
  queueMaxCount: number;
  queueMaxBytes: number;
  /** Bytes queued for all devices of one recipient user together. */
  userQueueMaxBytes: number;
  /** Per-(sender, recipient device) caps: one sender cannot fill a recipient's queue. */
  senderQueueMaxCount: number;
  senderQueueMaxBytes: number;
  /** Bytes of queued envelopes on the whole server. */
  serverQueueMaxBytes: number;
  /** How long an undelivered envelope (and its idempotency record and receipt) is kept. */
  queueTtlMs: number;
  sweepIntervalMs: number;
  /** `prekeys.bundle` token buckets, per requesting user and per target user. */
  bundleFetchPerRequesterPerMinute: number;
  bundleFetchPerRequesterBurst: number;
  bundleFetchPerTargetPerMinute: number;
  bundleFetchPerTargetBurst: number;
  keyPackageClaimsPerRequesterPerMinute: number;
  keyPackageClaimsPerRequesterBurst: number;
  /** HTTP: all headers within this long, the whole request within requestTimeoutMs, idle keep-alive closed after keepAliveTimeoutMs. */
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  logLevel: string;
  /** Files (docs/PROTOCOL.md §20): the largest file, before padding; announced at login. */
  maxAttachmentBytes: number;
  /** Where blobs are kept; undefined: `<dataDir>/blobs`. */
  blobDir?: string;
  /** Blob bytes and blobs one user may hold at once; blob bytes on the whole server. */
  blobUserMaxBytes: number;
  blobUserMaxCount: number;
  blobServerMaxBytes: number;
  /** An upload that received nothing for this long is deleted. */
  blobUploadIdleMs: number;
  /** Requests under /blobs/ per client address: token bucket. */
  blobHttpRatePerSecond: number;
  blobHttpRateBurst: number;
  /** The built web app served at `/`; undefined: the package's dist/web (web/web-files.ts). */
  webDir?: string;
  /** SIGTERM: the longest the drain may take before the process exits anyway (drain.ts). */
  drainMs: number;
  /** SIGTERM: how long /health answers 503 before clients are moved (a balancer's time to notice). */
  drainNoticeMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function storeKind(raw: string | undefined, databaseUrl: string | undefined): ServerConfig['store'] {
  if (raw === undefined || raw === '') return databaseUrl ? 'postgres' : 'sqlite';
  if (raw !== 'sqlite' && raw !== 'memory' && raw !== 'postgres') {
    throw new ConfigError(`E2EE_CHAT_STORE must be "sqlite", "memory" or "postgres", got "${raw}"`);
  }
  // Either setting alone is clear; together they must agree, or the operator meant something else.
  if (raw === 'postgres' && !databaseUrl) throw new ConfigError('E2EE_CHAT_STORE=postgres needs E2EE_CHAT_DATABASE_URL (postgres://user:password@host:port/database)');
  if (raw !== 'postgres' && databaseUrl) throw new ConfigError(`E2EE_CHAT_DATABASE_URL selects the PostgreSQL store, but E2EE_CHAT_STORE is "${raw}": unset one of them`);
  return raw;
}

/**
 * E2EE_CHAT_DATABASE_URL, checked before anything connects. The messages never repeat the value: it
 * carries the database password.
 */
function databaseUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const expected = 'postgres://user:password@host:port/database';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`E2EE_CHAT_DATABASE_URL is not a URL; expected ${expected}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(`E2EE_CHAT_DATABASE_URL must start with postgres:// or postgresql://, got "${url.protocol}//"; expected ${expected}`);
  }
  if (url.hostname === '') throw new ConfigError(`E2EE_CHAT_DATABASE_URL names no host; expected ${expected}`);
  if (url.pathname === '' || url.pathname === '/') throw new ConfigError(`E2EE_CHAT_DATABASE_URL names no database; expected ${expected}`);
  return raw;
}

/**
 * E2EE_CHAT_REDIS_URL, checked before anything connects; like the database URL, never repeated in a
 * message (it may carry a password).
 */
function redisUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  const expected = 'redis://[:password@]host:port[/db]';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`E2EE_CHAT_REDIS_URL is not a URL; expected ${expected}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`E2EE_CHAT_REDIS_URL must start with redis:// or rediss://, got "${url.protocol}//"; expected ${expected}`);
  }
  if (url.hostname === '') throw new ConfigError(`E2EE_CHAT_REDIS_URL names no host; expected ${expected}`);
  if (!/^\/?(\d+)?$/.test(url.pathname)) throw new ConfigError(`E2EE_CHAT_REDIS_URL: the path must be a database number; expected ${expected}`);
  return raw;
}

export function loadServerConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const httpHeadersTimeoutMs = integer(env, 'E2EE_CHAT_HTTP_HEADERS_TIMEOUT_MS', DEFAULT_HTTP_HEADERS_TIMEOUT_MS, 100, 600_000);
  const httpRequestTimeoutMs = integer(env, 'E2EE_CHAT_HTTP_REQUEST_TIMEOUT_MS', DEFAULT_HTTP_REQUEST_TIMEOUT_MS, 100, 3_600_000);
  // Node refuses a headers timeout above the request timeout: the headers are part of the request.
  if (httpHeadersTimeoutMs > httpRequestTimeoutMs) {
    throw new ConfigError('E2EE_CHAT_HTTP_HEADERS_TIMEOUT_MS must not exceed E2EE_CHAT_HTTP_REQUEST_TIMEOUT_MS');
  }
  const dbUrl = databaseUrl(env.E2EE_CHAT_DATABASE_URL);
  const drainSeconds = integer(env, 'E2EE_CHAT_DRAIN_SECONDS', DEFAULT_DRAIN_SECONDS, 1, 3600);
  const drainNoticeSeconds = integer(env, 'E2EE_CHAT_DRAIN_NOTICE_SECONDS', DEFAULT_DRAIN_NOTICE_SECONDS, 0, 3600);
  // The notice is spent inside the bound: one as long would leave no time to move anyone.
  if (drainNoticeSeconds >= drainSeconds) throw new ConfigError('E2EE_CHAT_DRAIN_NOTICE_SECONDS must be less than E2EE_CHAT_DRAIN_SECONDS');
  const redis = redisUrl(env.E2EE_CHAT_REDIS_URL);
  return {
    port: integer(env, 'PORT', 5001, 0, 65535),
    host: env.HOST || '0.0.0.0',
    dataDir: env.E2EE_CHAT_DATA || './data',
    store: storeKind(env.E2EE_CHAT_STORE, dbUrl),
    ...(dbUrl && { databaseUrl: dbUrl }),
    ...(redis && { redisUrl: redis }),
    deliveryPollMs: integer(env, 'E2EE_CHAT_DELIVERY_POLL_MS', DEFAULT_DELIVERY_POLL_MS, 100, 600_000),
    presenceLeaseMs: integer(env, 'E2EE_CHAT_PRESENCE_LEASE_MS', DEFAULT_PRESENCE_LEASE_MS, 1_000, 3_600_000),
    maxEnvelopeBytes: integer(env, 'E2EE_CHAT_MAX_ENVELOPE_BYTES', DEFAULT_MAX_ENVELOPE_BYTES, 1024, 16 * 1024 * 1024),
    authTimeoutMs: integer(env, 'E2EE_CHAT_AUTH_TIMEOUT_MS', DEFAULT_AUTH_TIMEOUT_MS, 100, 600_000),
    rateLimitPerSecond: integer(env, 'E2EE_CHAT_RATE_LIMIT', DEFAULT_RATE_LIMIT_PER_SECOND, 1, 1_000_000),
    rateLimitBurst: integer(env, 'E2EE_CHAT_RATE_BURST', DEFAULT_RATE_LIMIT_BURST, 1, 1_000_000),
    queueMaxCount: integer(env, 'E2EE_CHAT_QUEUE_MAX_COUNT', DEFAULT_QUEUE_MAX_COUNT, 1, 100_000_000),
    queueMaxBytes: integer(env, 'E2EE_CHAT_QUEUE_MAX_BYTES', DEFAULT_QUEUE_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    userQueueMaxBytes: integer(env, 'E2EE_CHAT_USER_QUEUE_MAX_BYTES', DEFAULT_USER_QUEUE_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    senderQueueMaxCount: integer(env, 'E2EE_CHAT_SENDER_QUEUE_MAX_COUNT', DEFAULT_SENDER_QUEUE_MAX_COUNT, 1, 100_000_000),
    senderQueueMaxBytes: integer(env, 'E2EE_CHAT_SENDER_QUEUE_MAX_BYTES', DEFAULT_SENDER_QUEUE_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    serverQueueMaxBytes: integer(env, 'E2EE_CHAT_SERVER_QUEUE_MAX_BYTES', DEFAULT_SERVER_QUEUE_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    queueTtlMs: integer(env, 'E2EE_CHAT_QUEUE_TTL_DAYS', DEFAULT_QUEUE_TTL_MS / 86_400_000, 1, 3650) * 86_400_000,
    sweepIntervalMs: integer(env, 'E2EE_CHAT_SWEEP_INTERVAL_MS', DEFAULT_SWEEP_INTERVAL_MS, 100, 86_400_000),
    bundleFetchPerRequesterPerMinute: integer(env, 'E2EE_CHAT_BUNDLE_FETCH_PER_REQUESTER_PER_MINUTE', DEFAULT_BUNDLE_FETCH_PER_REQUESTER_PER_MINUTE, 1, 1_000_000),
    bundleFetchPerRequesterBurst: integer(env, 'E2EE_CHAT_BUNDLE_FETCH_PER_REQUESTER_BURST', DEFAULT_BUNDLE_FETCH_PER_REQUESTER_BURST, 1, 1_000_000),
    bundleFetchPerTargetPerMinute: integer(env, 'E2EE_CHAT_BUNDLE_FETCH_PER_TARGET_PER_MINUTE', DEFAULT_BUNDLE_FETCH_PER_TARGET_PER_MINUTE, 1, 1_000_000),
    bundleFetchPerTargetBurst: integer(env, 'E2EE_CHAT_BUNDLE_FETCH_PER_TARGET_BURST', DEFAULT_BUNDLE_FETCH_PER_TARGET_BURST, 1, 1_000_000),
    keyPackageClaimsPerRequesterPerMinute: integer(env, 'E2EE_CHAT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_PER_MINUTE', DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_PER_MINUTE, 1, 1_000_000),
    keyPackageClaimsPerRequesterBurst: integer(env, 'E2EE_CHAT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_BURST', DEFAULT_KEY_PACKAGE_CLAIMS_PER_REQUESTER_BURST, 1, 1_000_000),
    httpHeadersTimeoutMs,
    httpRequestTimeoutMs,
    httpKeepAliveTimeoutMs: integer(env, 'E2EE_CHAT_HTTP_KEEP_ALIVE_TIMEOUT_MS', DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS, 100, 600_000),
    logLevel: env.LOG_LEVEL || 'info',
    maxAttachmentBytes: integer(env, 'E2EE_CHAT_MAX_ATTACHMENT_BYTES', DEFAULT_MAX_ATTACHMENT_BYTES, 0, 64 * 1024 * 1024 * 1024),
    ...(env.E2EE_CHAT_BLOB_DIR && { blobDir: env.E2EE_CHAT_BLOB_DIR }),
    blobUserMaxBytes: integer(env, 'E2EE_CHAT_BLOB_USER_MAX_BYTES', DEFAULT_BLOB_USER_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    blobUserMaxCount: integer(env, 'E2EE_CHAT_BLOB_USER_MAX_COUNT', DEFAULT_BLOB_USER_MAX_COUNT, 1, 100_000_000),
    blobServerMaxBytes: integer(env, 'E2EE_CHAT_BLOB_SERVER_MAX_BYTES', DEFAULT_BLOB_SERVER_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
    blobUploadIdleMs: integer(env, 'E2EE_CHAT_BLOB_UPLOAD_IDLE_MS', DEFAULT_BLOB_UPLOAD_IDLE_MS, 1000, 30 * 86_400_000),
    blobHttpRatePerSecond: integer(env, 'E2EE_CHAT_BLOB_HTTP_RATE_LIMIT', DEFAULT_BLOB_HTTP_RATE_PER_SECOND, 1, 1_000_000),
    blobHttpRateBurst: integer(env, 'E2EE_CHAT_BLOB_HTTP_RATE_BURST', DEFAULT_BLOB_HTTP_RATE_BURST, 1, 1_000_000),
    drainMs: drainSeconds * 1000,
    drainNoticeMs: drainNoticeSeconds * 1000,
  };
}
