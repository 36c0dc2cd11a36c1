/**
 * The relay: an HTTP server with `GET /health` and a Socket.IO endpoint. It authenticates users, keeps
 * the directory of public keys, tracks who is online and routes opaque envelopes. It cannot decrypt:
 * nothing here imports client or session code.
 */
import { createServer, type IncomingMessage as HttpRequest, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIOServer } from 'socket.io';
import type { Logger } from 'pino';
import { installNodeCrypto } from '../crypto/node/node-crypto.js';
import { ChatError } from '../protocol/errors.js';
import type { ServerLimits, SessionResult, UserKeys, UsersResult } from '../protocol/events.js';
import { RATE_LIMIT_MAX_DELAY_MS, transportFrameBytes } from '../protocol/limits.js';
import {
  ackPayloadSchema,
  emptyPayloadSchema,
  keysPayloadSchema,
  loginPayloadSchema,
  registerPayloadSchema,
  sendPayloadSchema,
} from '../protocol/schemas.js';
import { authenticateLogin, authenticateRegistration, newChallenge } from './auth.js';
import type { ServerConfig } from './config.js';
import { createConnection, dispatch, handler, pipelinedHandler, type ConnectionState, type Handler } from './connection.js';
import { preKeyHandlers } from './prekeys.js';
import { Presence } from './presence.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { Relay } from './relay.js';
import type { ServerStore } from './store/server-store.js';

export const SERVER_VERSION = '0.1.0';

/**
 * Room of the connections that asked for the online list (`users`): they get join/leave events from then
 * on. Broadcasting every login to every connection would cost O(n) per login, O(n²) for n logins.
 */
const PRESENCE_ROOM = 'presence-watchers';
const userRoom = (username: string) => `user:${username}`;

export interface ChatServer {
  readonly http: HttpServer;
  readonly io: SocketIOServer;
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export interface ChatServerDeps {
  config: ServerConfig;
  store: ServerStore;
  logger: Logger;
  /** Observability hook for tests: every raw event a client sent, as received. */
  onClientEvent?: (event: string, args: unknown[]) => void;
}

export function createChatServer({ config, store, logger, onClientEvent }: ChatServerDeps): ChatServer {
  // Signature checks (logins, prekey uploads) through OpenSSL: ~15× faster than pure JS.
  void installNodeCrypto({ mlkem: false }); // the server runs no ML-KEM: no liboqs module to load
  const startedAt = Date.now();
  const presence = new Presence<ConnectionState>();
  const relay = new Relay(config, store, presence, logger);
  const bundleFetchesBy = new KeyedRateLimiter(config.bundleFetchPerRequesterPerMinute / 60, config.bundleFetchPerRequesterBurst);
  const bundleFetchesOf = new KeyedRateLimiter(config.bundleFetchPerTargetPerMinute / 60, config.bundleFetchPerTargetBurst);
  const sweeper = setInterval(() => {
    relay.sweep().catch((err: unknown) => logger.error({ err }, 'sweep failed'));
    bundleFetchesBy.prune();
    bundleFetchesOf.prune();
  }, config.sweepIntervalMs);
  sweeper.unref();

  const http = createServer(
    {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      keepAliveTimeout: config.httpKeepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default): a quarter of the headers
      // timeout keeps a slow client's overstay under 25 %, at one cheap scan of open connections per tick.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 4))),
    },
    (req, res) => void handleHttp(req, res),
  );
  const io = new SocketIOServer(http, {
    maxHttpBufferSize: transportFrameBytes(config.maxEnvelopeBytes),
    serveClient: false,
    perMessageDeflate: false,
  });

  async function handleHttp(req: HttpRequest, res: ServerResponse): Promise<void> {
    // Engine.IO intercepts its own path (`/socket.io/`, with the slash) before this listener; everything
    // that reaches here is ours to answer, `/socket.io`, `/socket.iox` and `/socket.io.js` included: an
    // unanswered request would hold its descriptor until the client gives up.
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/health' || path === '/health/')) {
      let storeOk = true;
      try {
        await store.ping();
      } catch (err) {
        storeOk = false;
        logger.error({ err }, 'store health check failed');
      }
      const body = {
        status: storeOk ? 'ok' : 'degraded',
        version: SERVER_VERSION,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        connections: io.engine.clientsCount,
        onlineUsers: presence.userCount,
        store: storeOk ? 'ok' : 'unavailable',
      };
      res.writeHead(storeOk ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not_found' }));
  }

  /**
   * Engine.IO connections that joined the namespace: from then on the namespace socket's auth timer
   * guards them. One that never sends Socket.IO's CONNECT packet has no namespace socket (and so no
   * auth timer) but holds a descriptor and memory all the same: it is closed at the auth timeout here.
   */
  const joinedEngines = new WeakSet<object>();
  io.engine.on('connection', (engineSocket: { once(event: 'close', f: () => void): void; close(): void; id: string }) => {
    const timer = setTimeout(() => {
      if (joinedEngines.has(engineSocket)) return;
      logger.debug({ engineId: engineSocket.id }, 'dropping engine connection that never joined the namespace');
      engineSocket.close();
    }, config.authTimeoutMs);
    engineSocket.once('close', () => clearTimeout(timer));
  });

  function bindIdentity(conn: ConnectionState, username: string): void {
    conn.username = username;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    conn.authTimer = null;
    conn.socket.join(userRoom(username));
    if (presence.add(username, conn)) {
      conn.socket.to(PRESENCE_ROOM).emit('presence', { username, online: true });
    }
    relay.attach(conn);
    logger.info({ user: username, sid: conn.socket.id }, 'authenticated');
  }

  /** A challenge answers one attempt only: whatever the outcome, the next attempt needs a new one. */
  function takeChallenge(conn: ConnectionState): string {
    const challenge = conn.challenge;
    conn.challenge = newChallenge();
    return challenge;
  }

  function rejectIfAuthenticated(conn: ConnectionState): void {
    if (conn.username !== null) throw new ChatError('already_authenticated', `already logged in as "${conn.username}"`);
  }

  /** Told to every client at login, so it refuses an over-size message before it ever enters its outbox. */
  const serverLimits: ServerLimits = { maxEnvelopeBytes: config.maxEnvelopeBytes };

  const handlers = new Map<string, Handler>([
    ['challenge', handler({ schema: emptyPayloadSchema, run: async (conn) => ({ challenge: conn.challenge }) })],
    [
      'register',
      handler({
        schema: registerPayloadSchema,
        run: async (conn, p): Promise<SessionResult> => {
          rejectIfAuthenticated(conn);
          const { record, created } = await authenticateRegistration(store, takeChallenge(conn), p, Date.now());
          bindIdentity(conn, record.username);
          if (created) logger.info({ user: record.username }, 'registered');
          return { username: record.username, registered: created, limits: serverLimits };
        },
      }),
    ],
    [
      'login',
      handler({
        schema: loginPayloadSchema,
        run: async (conn, p): Promise<SessionResult> => {
          rejectIfAuthenticated(conn);
          const record = await authenticateLogin(store, takeChallenge(conn), p);
          bindIdentity(conn, record.username);
          return { username: record.username, registered: false, limits: serverLimits };
        },
      }),
    ],
    [
      'keys',
      handler({
        schema: keysPayloadSchema,
        run: async (_conn, p): Promise<UserKeys> => {
          const record = await store.getUser(p.username);
          if (!record) throw new ChatError('unknown_user', `no user named "${p.username}"`);
          return { username: record.username, signingKey: record.signingKey, encryptionKey: record.encryptionKey, registeredAt: record.registeredAt };
        },
      }),
    ],
    [
      'users',
      handler({
        schema: emptyPayloadSchema,
        run: async (conn): Promise<UsersResult> => {
          conn.socket.join(PRESENCE_ROOM);
          return { users: presence.users() };
        },
      }),
    ],
    [
      'send',
      pipelinedHandler({ schema: sendPayloadSchema, precheck: (raw) => relay.checkEnvelopeSize(raw), start: (conn, p) => relay.send(conn, p) }),
    ],
    ['ack', pipelinedHandler({ schema: ackPayloadSchema, start: (conn, p) => relay.ack(conn, p) })],
    ...preKeyHandlers({
      store,
      // Both buckets must have a token before either is spent: a fetch refused for the target's sake
      // must not cost the requester, nor the other way round.
      allowFetch: (requester, target) =>
        bundleFetchesBy.hasToken(requester) && bundleFetchesOf.hasToken(target) && bundleFetchesBy.take(requester) && bundleFetchesOf.take(target),
      notifyLow: (username, counts) => {
        for (const c of presence.socketsOf(username) ?? []) c.socket.emit('prekeys.low', counts);
      },
    }),
  ]);

  io.on('connection', (socket) => {
    joinedEngines.add(socket.conn);
    const conn = createConnection(socket, config.rateLimitPerSecond, config.rateLimitBurst, RATE_LIMIT_MAX_DELAY_MS);
    conn.authTimer = setTimeout(() => {
      logger.debug({ sid: socket.id }, 'dropping unauthenticated connection');
      socket.disconnect(true);
    }, config.authTimeoutMs);
    logger.debug({ sid: socket.id, address: socket.handshake.address }, 'connected');

    socket.onAny((event: string, ...args: unknown[]) => {
      onClientEvent?.(event, args);
      dispatch(conn, handlers, logger, event, args);
    });
    socket.on('disconnect', (reason) => {
      if (conn.authTimer) clearTimeout(conn.authTimer);
      // A client that leaves the (only) namespace has no use for its engine connection: without this it
      // could keep it open, past every timer, by never joining again.
      if (reason === 'client namespace disconnect') socket.conn.close();
      relay.detach(conn);
      if (conn.username !== null && presence.remove(conn.username, conn)) {
        io.to(PRESENCE_ROOM).emit('presence', { username: conn.username, online: false });
      }
      logger.debug({ sid: socket.id, user: conn.username, reason }, 'disconnected');
    });
  });

  return {
    http,
    io,
    listen: () =>
      new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      }),
    close: async () => {
      clearInterval(sweeper);
      // io.close() disconnects every socket and closes the HTTP server.
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await store.close();
    },
  };
}
