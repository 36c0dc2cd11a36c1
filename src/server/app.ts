/**
 * The relay: an HTTP server with `GET /health` and a Socket.IO endpoint. It authenticates users, keeps
 * the directory of public keys, tracks who is online and routes opaque envelopes. It cannot decrypt:
 * nothing here imports client or session code. This module only wires the parts together; each job is
 * in its own module (auth-handlers, directory, presence-handling, relay, prekeys, http-routes).
 */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIOServer } from 'socket.io';
import type { Logger } from 'pino';
import { installNodeCrypto } from '../crypto/node/node-crypto.js';
import { RATE_LIMIT_MAX_DELAY_MS, transportFrameBytes } from '../protocol/limits.js';
import { authHandlers } from './auth-handlers.js';
import type { ServerConfig } from './config.js';
import { createConnection, dispatch, type ChatIO, type ConnectionState, type HandlerTable } from './connection.js';
import { directoryHandlers } from './directory.js';
import { closeEnginesThatNeverJoin } from './engine-guard.js';
import { createHttpServer } from './http-routes.js';
import { preKeyHandlers } from './prekeys.js';
import { Presence } from './presence.js';
import { PresenceHandling } from './presence-handling.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { Relay } from './relay.js';
import type { ServerStore } from './store/server-store.js';

export { SERVER_VERSION } from './http-routes.js';

export interface ChatServer {
  readonly http: HttpServer;
  /**
   * Untyped on purpose: tests impersonate a lying server through it and push frames the contract
   * forbids. The server itself emits only through its typed view.
   */
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
  installNodeCrypto();
  const registry = new Presence<ConnectionState>();
  const relay = new Relay(config, store, registry, logger);
  const bundleFetchesBy = new KeyedRateLimiter(config.bundleFetchPerRequesterPerMinute / 60, config.bundleFetchPerRequesterBurst);
  const bundleFetchesOf = new KeyedRateLimiter(config.bundleFetchPerTargetPerMinute / 60, config.bundleFetchPerTargetBurst);
  const sweeper = setInterval(() => {
    relay.sweep().catch((err: unknown) => logger.error({ err }, 'sweep failed'));
    bundleFetchesBy.prune();
    bundleFetchesOf.prune();
  }, config.sweepIntervalMs);
  sweeper.unref();

  const http = createHttpServer(config, {
    store,
    logger,
    startedAt: Date.now(),
    connections: () => io.engine.clientsCount,
    onlineUsers: () => registry.userCount,
  });
  const io: ChatIO = new SocketIOServer(http, {
    maxHttpBufferSize: transportFrameBytes(config.maxEnvelopeBytes),
    serveClient: false,
    perMessageDeflate: false,
  });
  const joined = closeEnginesThatNeverJoin(io, config.authTimeoutMs, logger);
  const presence = new PresenceHandling(io, registry);

  const handlers: HandlerTable = {
    ...authHandlers({
      store,
      logger,
      limits: { maxEnvelopeBytes: config.maxEnvelopeBytes },
      authenticated: (conn) => {
        presence.online(conn);
        relay.attach(conn);
      },
    }),
    ...directoryHandlers(store, presence),
    send: { precheck: (raw) => relay.checkEnvelopeSize(raw), start: (conn, p) => relay.send(conn, p) },
    ack: { start: (conn, p) => relay.ack(conn, p) },
    ...preKeyHandlers({
      store,
      // Both buckets must have a token before either is spent: a fetch refused for the target's sake
      // must not cost the requester, nor the other way round.
      allowFetch: (requester, target) =>
        bundleFetchesBy.hasToken(requester) && bundleFetchesOf.hasToken(target) && bundleFetchesBy.take(requester) && bundleFetchesOf.take(target),
      notifyLow: (username, counts) => {
        for (const c of registry.socketsOf(username) ?? []) c.socket.emit('prekeys.low', counts);
      },
    }),
  };

  io.on('connection', (socket) => {
    joined(socket.conn);
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
      presence.offline(conn);
      logger.debug({ sid: socket.id, user: conn.username, reason }, 'disconnected');
    });
  });

  return {
    http,
    io: io as unknown as SocketIOServer,
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
