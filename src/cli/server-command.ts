/** `e2ee-chat server`: the relay, with the embedded SQLite store (or PostgreSQL, E2EE_CHAT_DATABASE_URL). */
import type { Command } from 'commander';
import { loadServerConfig } from '../server/config.js';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the relay server (Socket.IO over HTTP, GET /health, SQLite or PostgreSQL store)')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 5001)')
    .option('-H, --host <host>', 'address to bind (env HOST, default 0.0.0.0)')
    .option('-d, --data <dir>', 'data folder (env E2EE_CHAT_DATA, default ./data)')
    .addHelpText(
      'after',
      '\nOther settings (env or .env): E2EE_CHAT_MAX_ENVELOPE_BYTES, E2EE_CHAT_AUTH_TIMEOUT_MS,\n' +
        'E2EE_CHAT_RATE_LIMIT, E2EE_CHAT_RATE_BURST, E2EE_CHAT_QUEUE_MAX_COUNT, E2EE_CHAT_QUEUE_MAX_BYTES,\n' +
        'E2EE_CHAT_USER_QUEUE_MAX_BYTES, E2EE_CHAT_SENDER_QUEUE_MAX_COUNT, E2EE_CHAT_SENDER_QUEUE_MAX_BYTES, E2EE_CHAT_SERVER_QUEUE_MAX_BYTES,\n' +
        'E2EE_CHAT_BUNDLE_FETCH_PER_REQUESTER_PER_MINUTE, E2EE_CHAT_BUNDLE_FETCH_PER_REQUESTER_BURST,\n' +
        'E2EE_CHAT_BUNDLE_FETCH_PER_TARGET_PER_MINUTE, E2EE_CHAT_BUNDLE_FETCH_PER_TARGET_BURST,\n' +
        'E2EE_CHAT_HTTP_HEADERS_TIMEOUT_MS, E2EE_CHAT_HTTP_REQUEST_TIMEOUT_MS, E2EE_CHAT_HTTP_KEEP_ALIVE_TIMEOUT_MS,\n' +
        'E2EE_CHAT_QUEUE_TTL_DAYS, E2EE_CHAT_SWEEP_INTERVAL_MS, LOG_LEVEL (trace|debug|info|warn|error),\n' +
        'E2EE_CHAT_STORE (sqlite, the default; memory keeps nothing across restarts; postgres),\n' +
        'E2EE_CHAT_DATABASE_URL (postgres://user:password@host:port/database: the PostgreSQL store),\n' +
        'E2EE_CHAT_REDIS_URL (redis://[:password@]host:port[/db]: nodes of a cluster), E2EE_CHAT_DELIVERY_POLL_MS, E2EE_CHAT_PRESENCE_LEASE_MS,\n' +
        'files: E2EE_CHAT_MAX_ATTACHMENT_BYTES, E2EE_CHAT_BLOB_DIR (default <data>/blobs), E2EE_CHAT_BLOB_USER_MAX_BYTES,\n' +
        'E2EE_CHAT_BLOB_USER_MAX_COUNT, E2EE_CHAT_BLOB_SERVER_MAX_BYTES, E2EE_CHAT_BLOB_UPLOAD_IDLE_MS,\n' +
        'E2EE_CHAT_BLOB_HTTP_RATE_LIMIT, E2EE_CHAT_BLOB_HTTP_RATE_BURST,\n' +
        'SIGTERM drains (docs/DEPLOY.md): E2EE_CHAT_DRAIN_SECONDS (bound, default 10), E2EE_CHAT_DRAIN_NOTICE_SECONDS (default 0).',
    )
    .action(async (opts: { port?: string; host?: string; data?: string }) => {
      const config = loadServerConfig({
        ...process.env,
        ...(opts.port !== undefined && { PORT: opts.port }),
        ...(opts.host !== undefined && { HOST: opts.host }),
        ...(opts.data !== undefined && { E2EE_CHAT_DATA: opts.data }),
      });
      // Loaded here, not at the top: every other command (each one a process) then starts without the
      // server's modules (Socket.IO's server, pino, the server stores).
      const [{ pino }, { createChatServer }, { openServerStore }, { stopOnSignals }] = await Promise.all([
        import('pino'),
        import('../server/app.js'),
        import('../server/store/open-store.js'),
        import('../server/stop-on-signals.js'),
      ]);
      // pino's own stdout writer (asynchronous), held here so the last lines can be waited for.
      const logOutput = pino.destination({ dest: 1, sync: false });
      const logger = pino({ level: config.logLevel, base: { service: 'e2ee-chat' } }, logOutput);
      const { store, location } = await openServerStore(config);
      // Redis only when asked for: a single node loads neither ioredis nor the adapter.
      const cluster = config.redisUrl ? new (await import('../server/cluster/redis-cluster.js')).RedisCluster({ ...config, redisUrl: config.redisUrl }, logger) : undefined;
      // Without Redis a node hands each envelope straight to the connections it holds and never hears of
      // those stored by another node: two such nodes on one database deliver late or only at the next login.
      if (config.store === 'postgres' && !cluster) {
        logger.warn('PostgreSQL store without E2EE_CHAT_REDIS_URL: this node takes itself for the only one; with more than one node, set E2EE_CHAT_REDIS_URL on every node (docs/DEPLOY.md)');
      }
      const server = createChatServer({ config, store, logger, ...(cluster && { cluster }) });
      // Handlers first, then the readiness line: a supervisor may signal as soon as it sees it.
      // The last lines (the phases, "stopped") reach stdout, in order, before the process ends: exiting
      // while one is being written would let pino's exit hook write the next one before it. A stdout
      // nobody reads holds the exit two seconds at most.
      let exiting = false;
      const exit = (code: number) => {
        if (exiting) return;
        exiting = true;
        process.exitCode = code;
        setTimeout(() => process.exit(code), 2000).unref();
        logOutput.once('close', () => process.exit(code));
        logOutput.end();
      };
      stopOnSignals({ drain: () => server.drain(), boundMs: config.drainMs, logger, exit, signals: process });
      const address = await server.listen();
      const redis = cluster ? { redis: cluster.location, node: cluster.nodeId } : {};
      logger.info({ port: address.port, host: address.address, store: location, ...redis }, `e2ee-chat server listening on port ${address.port}`);
    });
}
