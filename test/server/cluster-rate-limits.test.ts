/**
 * Per-user rate limits on two nodes of one cluster (in-process servers, each with its own PostgreSQL
 * store on one schema and a RedisCluster on a Redis of the test's own): a limit is counted across the
 * nodes, so moving to another node buys no more; with Redis gone, each node counts on its own.
 */
import { pino } from 'pino';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { RedisCluster } from '../../src/server/cluster/redis-cluster.js';
import { loadServerConfig } from '../../src/server/config.js';
import { freePort } from '../e2e/processes.js';
import { postgresGate, testSchemaName } from '../helpers/postgres.js';
import { redisGate, TestRedis } from '../helpers/redis.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { cleanupStores, postgresStore, tempStoreDir } from './store-fixtures.js';

const pgGate = await postgresGate();
const rGate = redisGate();

describe.skipIf(pgGate.skip || rGate.skip)('cluster: per-user rate limits across nodes', () => {
  const redis = { server: undefined as TestRedis | undefined };
  const servers: ChatServer[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    for (const unavailable of [pgGate.unreachable, rGate.unavailable]) {
      if (unavailable) throw new Error(`${unavailable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    }
    void installNodeCrypto({ mlkem: false });
    redis.server = new TestRedis(await freePort());
    await redis.server.start();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    for (const s of servers.splice(0)) await s.close();
    await cleanupStores();
  });
  afterAll(() => redis.server?.kill());

  /** Two nodes on one schema and the test's Redis; three bundle fetches of one target per minute. */
  async function twoNodes(): Promise<string[]> {
    const schema = testSchemaName();
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const config = {
        ...loadServerConfig({}),
        host: '127.0.0.1',
        port: 0,
        dataDir: tempStoreDir(),
        bundleFetchPerTargetPerMinute: 1,
        bundleFetchPerTargetBurst: 3,
        redisUrl: redis.server!.url,
      };
      const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
      const server = createChatServer({ config, store: await postgresStore(schema), logger, cluster: new RedisCluster(config, logger) });
      servers.push(server);
      urls.push(`http://127.0.0.1:${(await server.listen()).port}`);
    }
    return urls;
  }

  async function user(url: string, username: string): Promise<Socket> {
    const socket = await rawSocket(url);
    sockets.push(socket);
    expect(await registerRaw(socket, username, await keysFor())).toMatchObject({ ok: true });
    return socket;
  }

  /** Whether a bundle fetch of `target` got past the rate limit (it may still find no keys: that is not the question). */
  const fetchGotThrough = async (socket: Socket, target: string) => (await call(socket, 'prekeys.bundle', { username: target })).error?.code !== 'rate_limited';

  it('counts one target\'s bundle fetches across nodes, and per node while Redis is away', async () => {
    const [a, b] = await twoNodes();
    await user(a!, 'rl-bob');
    const alice = await user(a!, 'rl-alice');
    const carol = await user(b!, 'rl-carol');
    // Burst 3 for bob, wherever the fetches come from: two on node A, one on node B, then neither node.
    expect([await fetchGotThrough(alice, 'rl-bob'), await fetchGotThrough(carol, 'rl-bob'), await fetchGotThrough(alice, 'rl-bob')]).toEqual([true, true, true]);
    expect(await fetchGotThrough(carol, 'rl-bob')).toBe(false);
    expect(await fetchGotThrough(alice, 'rl-bob')).toBe(false);

    await redis.server!.kill();
    // Each node falls back to its own buckets (fresh: they counted nothing while Redis did): 3 per node.
    const onA = [];
    const onB = [];
    for (let i = 0; i < 4; i++) onA.push(await fetchGotThrough(alice, 'rl-bob'));
    for (let i = 0; i < 4; i++) onB.push(await fetchGotThrough(carol, 'rl-bob'));
    expect(onA).toEqual([true, true, true, false]);
    expect(onB).toEqual([true, true, true, false]);

    await redis.server!.start();
    // Back on Redis (empty after its restart): the shared count starts again.
    await waitUntil(async () => ((await fetchGotThrough(alice, 'rl-bob')) ? true : undefined), 10_000, 'a fetch counted in Redis again');
    expect([await fetchGotThrough(carol, 'rl-bob'), await fetchGotThrough(alice, 'rl-bob'), await fetchGotThrough(carol, 'rl-bob')]).toEqual([true, true, false]);
  }, 60_000);
});
