/**
 * The HTTP side of the relay: the server's timeouts against slow clients, `GET /health`, `GET /metrics`
 * (metrics.ts; no login, and nothing in it names a user), the blob
 * store's requests under `/blobs/` (blobs/blob-http.ts), the web app's files (web/web-route.ts), and a
 * 404 for everything else that reaches it (Socket.IO answers its own path before this listener runs).
 */
import { createServer, type IncomingMessage as HttpRequest, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BLOB_PATH_PREFIX } from '../protocol/blob-schemas.js';
import type { ServerConfig } from './config.js';
import type { ServerMetrics } from './metrics.js';
import type { ServerStore } from './store/server-store.js';
import { SECURITY_HEADERS } from './web/security-headers.js';
import type { WebRoute } from './web/web-route.js';

export const SERVER_VERSION = '0.1.0';

/** What the health report reads from the server around it. */
export interface HealthSource {
  store: ServerStore;
  logger: Logger;
  startedAt: number;
  /** Open Socket.IO connections on this node. */
  connections(): number;
  /** Users online (as the presence registry counts them). */
  onlineUsers(): Promise<number>;
  /** Whether this node is draining (drain.ts): health then answers 503 so a balancer takes it out. */
  draining(): boolean;
  /** This node's Prometheus registry, scraped at `GET /metrics`. */
  metrics: ServerMetrics;
  /** With a cluster: whether its Redis answers now. */
  redis?: () => Promise<boolean>;
}

/** Answers a request under BLOB_PATH_PREFIX (`path` is the URL's path). */
export type BlobRoute = (req: HttpRequest, res: ServerResponse, path: string) => Promise<void>;

export function createHttpServer(config: ServerConfig, health: HealthSource, blobs?: BlobRoute, web?: WebRoute): HttpServer {
  return createServer(
    {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      keepAliveTimeout: config.httpKeepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default): a quarter of the headers
      // timeout keeps a slow client's overstay under 25 %, at one cheap scan of open connections per tick.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 4))),
    },
    (req, res) => void handleHttp(health, blobs, web, req, res),
  );
}

async function handleHttp(health: HealthSource, blobs: BlobRoute | undefined, web: WebRoute | undefined, req: HttpRequest, res: ServerResponse): Promise<void> {
  // Engine.IO intercepts its own path (`/socket.io/`, with the slash) before this listener; everything
  // that reaches here is ours to answer, `/socket.io`, `/socket.iox` and `/socket.io.js` included: an
  // unanswered request would hold its descriptor until the client gives up.
  const path = (req.url ?? '/').split('?')[0]!;
  if (blobs && path.startsWith(BLOB_PATH_PREFIX)) return blobs(req, res, path);
  if (req.method === 'GET' && (path === '/health' || path === '/health/')) {
    let storeOk = true;
    try {
      await health.store.ping();
    } catch (err) {
      storeOk = false;
      health.logger.error({ err }, 'store health check failed');
    }
    // Presence is advisory (a cluster's registry lives elsewhere): unknown rather than no answer.
    const onlineUsers = await health.onlineUsers().catch((err: unknown) => {
      health.logger.error({ err }, 'presence count failed');
      return null;
    });
    const draining = health.draining();
    // Without Redis a node still serves its own connections, and its deliveries poll the store: degraded,
    // but still worth sending clients to (200). Without the store it can do nothing (503); draining, it
    // takes no one new (503).
    const redisOk = health.redis ? await health.redis() : undefined;
    const body = {
      status: draining ? 'draining' : storeOk && redisOk !== false ? 'ok' : 'degraded',
      version: SERVER_VERSION,
      uptimeSeconds: Math.round((Date.now() - health.startedAt) / 1000),
      connections: health.connections(),
      onlineUsers,
      store: storeOk ? 'ok' : 'unavailable',
      ...(redisOk !== undefined && { redis: redisOk ? 'ok' : 'unavailable' }),
    };
    res.writeHead(storeOk && !draining ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    return;
  }
  if (req.method === 'GET' && path === '/metrics') {
    const text = await health.metrics.scrape();
    res.writeHead(200, { 'content-type': health.metrics.contentType }).end(text);
    return;
  }
  if (web?.(req, res, path)) return;
  // The same headers as the app's files: a 404 is a document too, which a browser may be shown.
  res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found' }));
}
