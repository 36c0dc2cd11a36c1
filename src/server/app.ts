/**
 * The relay: an HTTP server with `GET /health` and a Socket.IO endpoint. It authenticates users, keeps
 * the directory of public keys, tracks who is online and routes opaque envelopes. It cannot decrypt:
 * nothing here imports client or session code. It speaks protocols 1 and 2 (docs/design/devices-v2.md):
 * one handler table per protocol, the events both share written once. This module only wires the parts
 * together; each job is in its own module (auth-handlers, directory, presence-handling, relay, send-v2,
 * prekeys, prekey-bundles-v2, device-handlers, link-handlers, blobs/, http-routes).
 */
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIOServer } from 'socket.io';
import type { Logger } from 'pino';
import { maxBlobBytesFor } from '../protocol/blob-schemas.js';
import {
  BLOB_CREATE_PER_USER_BURST,
  BLOB_CREATE_PER_USER_PER_MINUTE,
  MAX_DEVICES_PER_USER,
  MAX_ENVELOPES_PER_SEND,
  RATE_LIMIT_MAX_DELAY_MS,
  transportFrameBytes,
} from '../protocol/limits.js';
import { authHandlers } from './auth-handlers.js';
import { blobHandlers } from './blobs/blob-handlers.js';
import { blobHttpHandler } from './blobs/blob-http.js';
import { openBlobStore } from './blobs/open-blob-store.js';
import type { ServerConfig } from './config.js';
import { createConnection, dispatch, type ChatIO, type HandlerTable, type HandlerTables, type HandlerTableV2 } from './connection.js';
import { deviceHandlers } from './device-handlers.js';
import { ServerDrain } from './drain.js';
import { directoryHandlers } from './directory.js';
import { closeEnginesThatNeverJoin } from './engine-guard.js';
import { createHttpServer } from './http-routes.js';
import { groupHandlers } from './group-handlers.js';
import { keyPackageHandlers } from './mls-keypackages.js';
import { linkHandlers, linkParty } from './link-handlers.js';
import { ServerMetrics } from './metrics.js';
import { LinkRelay } from './link-relay.js';
import type { LinkSlots } from './link-slots.js';
import { preKeyBundleHandlerV2 } from './prekey-bundles-v2.js';
import { preKeyHandlers, type PreKeyServiceDeps } from './prekeys.js';
import { InProcessDeliveryNotifier, RoomPumps, type DeliveryNotifier } from './delivery-notifier.js';
import { InProcessPresence, type PresenceRegistry } from './presence.js';
import { PresenceHandling } from './presence-handling.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { Relay } from './relay.js';
import { addressRoom } from './rooms.js';
import { SendV2 } from './send-v2.js';
import { takeAllLocally, type RateTake } from './shared-rate-limits.js';
import type { ClusterLink } from './cluster/cluster-link.js';
import { DEFAULT_WEB_DIR, isWebBuilt, loadWebFiles } from './web/web-files.js';
import { webRoute } from './web/web-route.js';
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
  /** Stops at once: every connection dropped, the store closed. */
  close(): Promise<void>;
  /**
   * Stops gracefully (drain.ts): health turns 503, clients are moved once their requests are answered,
   * then the store is closed. No bound of its own: the caller decides how long to wait.
   */
  drain(): Promise<void>;
}

export interface ChatServerDeps {
  config: ServerConfig;
  store: ServerStore;
  logger: Logger;
  /** Observability hook for tests: every raw event a client sent, as received. */
  onClientEvent?: (event: string, args: unknown[]) => void;
  /**
   * What a cluster replaces (docs/ARCHITECTURE.md, scaling): who is online, and the wake-up of a
   * recipient's connections when an envelope for them is stored. In-process by default.
   */
  presence?: PresenceRegistry;
  deliveryNotifier?: (pumps: RoomPumps) => DeliveryNotifier;
  /** Several nodes on one Redis (cluster/redis-cluster.ts): adapter, presence, wake-ups and rate limits, which take precedence over the two above. */
  cluster?: ClusterLink;
}

export function createChatServer({ config, store, logger, onClientEvent, cluster, ...seams }: ChatServerDeps): ChatServer {
  const registry = cluster?.presence ?? seams.presence ?? new InProcessPresence();
  const bundleFetchesBy = new KeyedRateLimiter(config.bundleFetchPerRequesterPerMinute / 60, config.bundleFetchPerRequesterBurst);
  const bundleFetchesOf = new KeyedRateLimiter(config.bundleFetchPerTargetPerMinute / 60, config.bundleFetchPerTargetBurst);
  const keyPackageClaimsBy = new KeyedRateLimiter(config.keyPackageClaimsPerRequesterPerMinute / 60, config.keyPackageClaimsPerRequesterBurst);
  // Files (docs/PROTOCOL.md §20): on the node's disk, or in PostgreSQL with the PostgreSQL store
  // (blobs/open-blob-store.ts); opened (what expired swept) before the server listens.
  const maxBlobBytes = maxBlobBytesFor(config.maxAttachmentBytes);
  const blobStore = openBlobStore(config, store, maxBlobBytes, logger);
  blobStore.catch((err: unknown) => logger.error({ err }, 'the blob store could not be opened'));
  const blobCreates = new KeyedRateLimiter(BLOB_CREATE_PER_USER_PER_MINUTE / 60, BLOB_CREATE_PER_USER_BURST);
  const blobRequests = new KeyedRateLimiter(config.blobHttpRatePerSecond, config.blobHttpRateBurst);
  let blobRoute: ReturnType<typeof blobHttpHandler> | undefined;
  const drain = new ServerDrain({
    logger,
    boundMs: config.drainMs,
    noticeMs: config.drainNoticeMs,
    // io.close() disconnects what is left (nothing, by then) and closes the HTTP server.
    closeServer: () => new Promise<void>((resolve) => io.close(() => resolve())),
    closeRest: () => closeRest(),
  });
  const metrics = new ServerMetrics({
    connections: () => io.engine.clientsCount,
    queuedBytes: () => store.serverQueueBytes(),
    // A logged-in connection is the one with a delivery pump (relay.attach, relay.detach).
    loggedInDevices: () => {
      let devices = 0;
      for (const socket of io.of('/').sockets.values()) if (socket.data.pump) devices++;
      return devices;
    },
  });
  const webDir = config.webDir ?? DEFAULT_WEB_DIR;
  if (!isWebBuilt(webDir)) logger.warn({ webDir }, 'the web app is not built (npm run build): / says so instead of serving it');
  const http = createHttpServer(
    config,
    {
      store,
      logger,
      startedAt: Date.now(),
      connections: () => io.engine.clientsCount,
      onlineUsers: () => registry.userCount(),
      draining: () => drain.draining,
      metrics,
      ...(cluster && { redis: () => cluster.healthy() }),
    },
    async (req, res, path) => {
      const blobs = await blobStore.catch(() => undefined);
      if (!blobs) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal', message: 'the blob store is unavailable' }));
        return;
      }
      blobRoute ??= blobHttpHandler({ store: blobs, limiter: blobRequests, logger, idleTimeoutMs: config.httpRequestTimeoutMs });
      return blobRoute(req, res, path);
    },
    webRoute(() => loadWebFiles(webDir)),
  );
  const io: ChatIO = new SocketIOServer(http, {
    maxHttpBufferSize: transportFrameBytes(config.maxEnvelopeBytes),
    serveClient: false,
    perMessageDeflate: false,
    // A draining node takes no new clients (they try again, elsewhere); its own keep their sessions.
    allowRequest: (_req, answer) => answer(drain.draining ? 'this node is draining' : null, !drain.draining),
    ...(cluster && { adapter: cluster.adapter }),
  });
  const joined = closeEnginesThatNeverJoin(io, config.authTimeoutMs, logger);
  const presence = new PresenceHandling(io, registry, logger);
  const pumps = new RoomPumps(io);
  const notifier = cluster?.deliveryNotifier(pumps) ?? seams.deliveryNotifier?.(pumps) ?? new InProcessDeliveryNotifier(pumps);
  const relay = new Relay({ config, store, io, presence: registry, notifier, pumps, logger, metrics });
  cluster?.start(io, pumps, metrics);
  const takeAll = (takes: readonly RateTake[]) => (cluster ? cluster.takeAll(takes) : takeAllLocally(takes));
  const onLinkPushError = (err: unknown, event: string) => logger.error({ err, event }, 'link push failed');
  // On a cluster, slots are joinable from every node (cluster/cross-node-links.ts); alone, they are this node's.
  const links: LinkSlots = cluster?.linkSlots({ onPushError: onLinkPushError }) ?? new LinkRelay({ onPushError: onLinkPushError });
  const sweeper = setInterval(() => {
    relay.sweep().catch((err: unknown) => logger.error({ err }, 'sweep failed'));
    blobStore.then((blobs) => blobs.sweep()).catch((err: unknown) => logger.error({ err }, 'blob sweep failed'));
    bundleFetchesBy.prune();
    bundleFetchesOf.prune();
    keyPackageClaimsBy.prune();
    blobCreates.prune();
    blobRequests.prune();
  }, config.sweepIntervalMs);
  sweeper.unref();

  const auth = authHandlers({
    store,
    logger,
    limits: {
      maxEnvelopeBytes: config.maxEnvelopeBytes,
      maxAttachmentBytes: config.maxAttachmentBytes,
      maxDevicesPerUser: MAX_DEVICES_PER_USER,
      maxEnvelopesPerSend: MAX_ENVELOPES_PER_SEND,
    },
    authenticated: async (conn) => {
      // Delivery first, in the same tick as the room join: a connection that closes while presence
      // is being recorded has its pump stopped by the disconnect handler like any other.
      relay.attach(conn);
      await presence.online(conn);
    },
  });
  const preKeyDeps: PreKeyServiceDeps = {
    store,
    // Every bucket must have its tokens before any is spent: a fetch refused for one target's sake must
    // not cost the requester or the other targets, nor the other way round. One token per device bundle.
    allowFetch: (requester, targets) =>
      takeAll([
        { name: 'bundle-fetches-by', limiter: bundleFetchesBy, key: requester, n: targets.length },
        ...targets.map((target) => ({ name: 'bundle-fetches-of', limiter: bundleFetchesOf, key: target, n: 1 })),
      ]),
    notifyLow: (username, device, counts) => io.to(addressRoom(username, device)).emit('prekeys.low', counts),
  };
  const shared = {
    ...directoryHandlers(store, presence),
    ack: { start: relay.ack.bind(relay) },
    ...preKeyHandlers(preKeyDeps),
    ...blobHandlers({ store: blobStore, maxBlobBytes, allowCreate: (user) => takeAll([{ name: 'blob-creates', limiter: blobCreates, key: user, n: 1 }]) }),
  } satisfies Partial<HandlerTable>;
  const v1: HandlerTable = {
    ...shared,
    ...auth.v1,
    send: { precheck: (raw) => relay.checkEnvelopeSize(raw), start: (conn, p) => relay.send(conn, p) },
  };
  const v2: HandlerTableV2 = {
    ...shared,
    ...auth.v2,
    send: new SendV2({ config, store, io, presence: registry, notifier, metrics }).handler,
    ...preKeyBundleHandlerV2(preKeyDeps),
    ...deviceHandlers({ config, store, io, logger }),
    ...linkHandlers({ store, relay: links, logger }),
    ...keyPackageHandlers({
      store,
      // A group's members are claimed together: a bucket of its own, sized for the largest group; each
      // target's stock keeps the bundle fetches' per-target bucket.
      allowClaim: (requester, targets) =>
        takeAll([
          { name: 'key-package-claims-by', limiter: keyPackageClaimsBy, key: requester, n: targets.length },
          ...targets.map((target) => ({ name: 'bundle-fetches-of', limiter: bundleFetchesOf, key: target, n: 1 })),
        ]),
      notifyLow: (username, device, event) => io.to(addressRoom(username, device)).emit('mls.keypackages.low', event),
    }),
    ...groupHandlers({ config, store, notifier }),
  };
  const handlers: HandlerTables = { 1: v1, 2: v2 };

  io.on('connection', (socket) => {
    joined(socket.conn);
    const conn = createConnection(socket, config.rateLimitPerSecond, config.rateLimitBurst, RATE_LIMIT_MAX_DELAY_MS);
    drain.opened(conn);
    conn.authTimer = setTimeout(() => {
      logger.debug({ sid: socket.id }, 'dropping unauthenticated connection');
      socket.disconnect(true);
    }, config.authTimeoutMs);
    logger.debug({ sid: socket.id, address: socket.handshake.address }, 'connected');

    socket.onAny((event: string, ...args: unknown[]) => {
      onClientEvent?.(event, args);
      // A connection being moved takes nothing new: left unanswered, it is failed on the client when the
      // transport closes, and resent from the outbox on its next connection.
      if (!drain.admits(conn)) return;
      dispatch(conn, handlers, logger, event, args, (name, protocol, body) => metrics.answered(name, protocol, body));
    });
    socket.on('disconnect', (reason) => {
      if (conn.authTimer) clearTimeout(conn.authTimer);
      // A client that leaves the (only) namespace has no use for its engine connection: without this it
      // could keep it open, past every timer, by never joining again.
      if (reason === 'client namespace disconnect') socket.conn.close();
      relay.detach(conn);
      links.disconnected(linkParty(conn));
      void presence.offline(conn);
      drain.closed(conn);
      logger.debug({ sid: socket.id, user: conn.username, reason }, 'disconnected');
    });
  });

  return {
    http,
    io: io as unknown as SocketIOServer,
    listen: async () => {
      await blobStore;
      return new Promise((resolve, reject) => {
        http.once('error', reject);
        http.listen(config.port, config.host, () => {
          http.off('error', reject);
          resolve(http.address() as AddressInfo);
        });
      });
    },
    close: async () => {
      // io.close() disconnects every socket and closes the HTTP server.
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await closeRest();
    },
    drain: () => drain.run(),
  };

  async function closeRest(): Promise<void> {
    clearInterval(sweeper);
    links.dispose();
    // Redis after the connections left (their presence removals go out first), before the store.
    await cluster?.close();
    await store.close();
  }
}
