/**
 * Three nodes of one cluster (issue 13): real `e2ee-chat server` processes on loopback ports sharing one
 * PostgreSQL schema and one Redis of the test's own, with the library's ChatClient as the users.
 *
 * Alice writes from node A; bob's phone is on node B (through a TCP forwarder standing in for the load
 * balancer) and his laptop on node C. Each of bob's devices gets every message once and in order;
 * node B is killed with SIGKILL mid-stream and the phone's connection, moved by the balancer, lands on
 * node C with nothing acknowledged lost or shown twice; the users of the dead node go offline when its
 * presence lease runs out. Redis is killed and started again empty mid-stream: messages keep arriving
 * (the delivery poll), and receipts too. The connection between the nodes and PostgreSQL is cut and
 * restored: the nodes say 503 meanwhile and carry on after.
 *
 * Without PostgreSQL or redis-server the file skips loudly; under E2EE_CHAT_REQUIRE_SERVICES=1 it fails.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/client/chat-client.js';
import { requestDeviceLink } from '../../src/client/device-link-request.js';
import type { ReceivedMessage } from '../../src/client/inbound.js';
import { adoptProvisioning } from '../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { dropSchemas, freshSchema, postgresGate, TEST_DATABASE_URL } from '../helpers/postgres.js';
import { redisGate, TestRedis } from '../helpers/redis.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { freePort } from './processes.js';
import { startClusterNode, type ClusterNode } from './cluster-node.js';
import { useProcesses } from './world.js';

const procs = useProcesses();
const pgGate = await postgresGate();
const rGate = redisGate();
const schemas: string[] = [];

type Node = ClusterNode;

interface ClusterOptions {
  /** E2EE_CHAT_DELIVERY_POLL_MS of every node. */
  pollMs: number;
  /** Nodes reach PostgreSQL through this forwarder (to cut it) instead of directly. */
  postgresVia?: TcpProxy;
}

/** What a test stops at its end: clients, forwarders, its Redis. */
const closers: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

describe.skipIf(pgGate.skip || rGate.skip)('cluster: three nodes on PostgreSQL and Redis', () => {
  beforeAll(() => {
    for (const unavailable of [pgGate.unreachable, rGate.unavailable]) {
      if (unavailable) throw new Error(`${unavailable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    }
    void installNodeCrypto({ mlkem: false });
  });
  afterAll(async () => {
    if (!pgGate.unreachable) await dropSchemas(schemas);
  });

  /** A fresh schema, its URL (through `via` when given) with the schema as search_path. */
  async function database(via?: TcpProxy): Promise<string> {
    const { schema, url } = await freshSchema(via?.port);
    schemas.push(schema);
    return url;
  }

  async function ownRedis(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.start();
    closers.push(() => redis.kill());
    return redis;
  }

  async function startNodes(names: readonly string[], redis: TestRedis, options: ClusterOptions & { redisUrl?: string }): Promise<Node[]> {
    const databaseUrl = await database(options.postgresVia);
    const dir = procs.tempDir('cluster');
    return Promise.all(names.map((name) => startClusterNode(procs, dir, name, { databaseUrl, redisUrl: options.redisUrl ?? redis.url, pollMs: options.pollMs, leaseMs: 1500 })));
  }

  async function client(url: string, username: string): Promise<TestClient> {
    const c = await connectTestClient(url, username);
    closers.push(() => c.client.close());
    return c;
  }

  /** Links a second device (`laptop`) to `primary`'s account through `linkUrl`, then connects it at `url`. */
  async function linkLaptop(primary: TestClient, linkUrl: string, url: string): Promise<{ client: ChatClient; received: ReceivedMessage[] }> {
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const peers = new MemoryPeerKeyStore();
    const pending = await requestDeviceLink({ url: linkUrl, username: primary.identity.username, name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    pending.done.catch(() => undefined);
    await primary.client.approveDevice(pending.code);
    const provisioned = await pending.done;
    await adoptProvisioning(peers, provisioned);
    const received: ReceivedMessage[] = [];
    const laptop = await ChatClient.connect(
      {
        url,
        identity: { username: provisioned.username, device: provisioned.device, keys, account: provisioned.account },
        peers,
        messages: new MemoryMessageStore(),
        ratchet,
        socketOptions: { transports: ['websocket'] },
        reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    closers.push(() => laptop.close());
    return { client: laptop, received };
  }

  const bodies = (received: readonly ReceivedMessage[]) => received.map((m) => m.body);
  const numbered = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `message ${from + i}`);
  const waitForBodies = (received: readonly ReceivedMessage[], n: number, what: string, timeoutMs = 20_000) =>
    waitUntil(() => (received.length >= n ? true : undefined), timeoutMs, `${n} messages on ${what} (has ${received.length})`);

  async function health(node: Node): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${node.url}/health`).catch((err: unknown) => {
      throw new Error(`${node.name} does not answer /health (${String(err)})\n${node.proc.describe()}`);
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  /** /health once the node's Redis connection is up: a node listens before its Redis says ready. */
  const healthWithRedis = async (node: Node) => {
    let last: Awaited<ReturnType<typeof health>> | undefined;
    await waitUntil(async () => ((last = await health(node)).body.redis === 'ok' ? true : undefined), 10_000, `${node.name}'s Redis connection`);
    return last!;
  };

  it('delivers every message once and in order to devices on other nodes, and loses nothing when a node is killed mid-stream', async () => {
    const redis = await ownRedis();
    // A poll far longer than the test: every delivery to another node here is Redis's wake-up.
    const [a, b, c] = await startNodes(['A', 'B', 'C'], redis, { pollMs: 600_000 });
    expect(await healthWithRedis(a!)).toEqual({ status: 200, body: expect.objectContaining({ status: 'ok', store: 'ok', redis: 'ok' }) });
    const balancer = await TcpProxy.start(b!.port);
    closers.push(() => balancer.close());

    const alice = await client(a!.url, 'cl-alice');
    const phone = await client(balancer.url, 'cl-bob');
    const laptop = await linkLaptop(phone, balancer.url, c!.url);
    // Carol is on node B alone (no balancer): she stays away when it dies.
    const carol = await client(b!.url, 'cl-carol');
    const presence: Array<{ username: string; online: boolean }> = [];
    alice.client.on('presence', (p) => presence.push(p));
    await waitUntil(async () => ((await alice.client.onlineUsers()).includes('cl-carol') ? true : undefined), 5_000, 'carol online as seen from node A');

    const receipts: string[] = [];
    alice.client.on('delivered', (d) => receipts.push(`${d.id} ${d.device}`));
    const sent: string[] = [];
    for (const body of numbered(0, 10)) sent.push((await alice.client.send('cl-bob', body)).id);
    await waitForBodies(phone.received, 10, 'the phone');
    await waitForBodies(laptop.received, 10, 'the laptop');
    // Receipts from both of bob's devices, each on another node than alice's, reach her on node A.
    await waitUntil(() => (sent.every((id) => receipts.includes(`${id} 1`) && receipts.includes(`${id} 2`)) ? true : undefined), 10_000, 'receipts from both devices');

    // Mid-stream: node B dies without a goodbye; the balancer sends the phone's reconnection to node C.
    const more = (async () => {
      for (const body of numbered(10, 30)) {
        await alice.client.send('cl-bob', body);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitForBodies(phone.received, 13, 'the phone');
    await b!.proc.stop('SIGKILL');
    balancer.retarget(c!.port);
    await more;

    await waitForBodies(phone.received, 30, 'the phone after moving to node C');
    await waitForBodies(laptop.received, 30, 'the laptop');
    expect(bodies(phone.received)).toEqual(numbered(0, 30));
    expect(bodies(laptop.received)).toEqual(numbered(0, 30));
    // Node C measured the lag of the wake-ups it got from node A.
    const scrape = await (await fetch(`${c!.url}/metrics`)).text();
    expect(Number(scrape.match(/^e2ee_chat_fanout_lag_seconds_count (\d+)$/m)?.[1])).toBeGreaterThan(0);
    expect(scrape).toMatch(/^e2ee_chat_redis_connected 1$/m);

    // Carol's lease on node B runs out (1.5 s): node A or C announces her offline, once; bob stays online.
    await waitUntil(() => (presence.some((p) => p.username === 'cl-carol' && !p.online) ? true : undefined), 10_000, 'carol offline');
    expect(presence.filter((p) => p.username === 'cl-carol' && !p.online)).toHaveLength(1);
    expect(presence.filter((p) => p.username === 'cl-bob' && !p.online)).toEqual([]);
    expect(await alice.client.onlineUsers()).toEqual(['cl-alice', 'cl-bob']);
    void carol;
  }, 120_000);
  it('keeps delivering, receipts too, while Redis is down and after it comes back empty', async () => {
    const redis = await ownRedis();
    const [a, b] = await startNodes(['A', 'B'], redis, { pollMs: 1_000 });
    const alice = await client(a!.url, 'rr-alice');
    const bob = await client(b!.url, 'rr-bob');
    const receipts = new Set<string>();
    alice.client.on('delivered', (d) => receipts.add(d.id));
    const sent: string[] = [];
    const send = async (from: number, to: number) => {
      for (const body of numbered(from, to)) sent.push((await alice.client.send('rr-bob', body)).id);
    };
    await send(0, 5);
    await waitForBodies(bob.received, 5, 'bob');

    await redis.kill();
    // No wake-up can be published now: bob's node finds these by its poll (1 s).
    await send(5, 10);
    await waitForBodies(bob.received, 10, 'bob while Redis is down');
    expect(await health(a!)).toEqual({ status: 200, body: expect.objectContaining({ status: 'degraded', store: 'ok', redis: 'unavailable' }) });

    await redis.start();
    await waitUntil(async () => ((await health(a!)).body.redis === 'ok' && (await health(b!)).body.redis === 'ok' ? true : undefined), 10_000, 'both nodes back on Redis');
    // The new Redis is empty: node B writes its users' presence again, so node A sees bob online.
    await waitUntil(async () => ((await alice.client.onlineUsers()).includes('rr-bob') ? true : undefined), 10_000, 'bob online again as node A sees it');
    await send(10, 15);
    await waitForBodies(bob.received, 15, 'bob after Redis came back');
    expect(bodies(bob.received)).toEqual(numbered(0, 15));
    // The receipts broadcast while Redis was away were handed over again when it came back.
    await waitUntil(() => (sent.every((id) => receipts.has(id)) ? true : undefined), 10_000, `receipts for all 15 (has ${receipts.size})`);
  }, 120_000);

  it('says 503 while the connection to PostgreSQL is cut, and carries on when it is restored', async () => {
    const redis = await ownRedis();
    const postgres = await TcpProxy.start(Number(new URL(TEST_DATABASE_URL).port || 5432));
    closers.push(() => postgres.close());
    const [a, b] = await startNodes(['A', 'B'], redis, { pollMs: 1_000, postgresVia: postgres });
    const alice = await client(a!.url, 'pg-alice');
    const bob = await client(b!.url, 'pg-bob');
    const accepted: string[] = [];
    for (const body of numbered(0, 5)) accepted.push((await alice.client.send('pg-bob', body)).id);
    await waitForBodies(bob.received, 5, 'bob');

    postgres.cut();
    expect(await health(a!)).toEqual({ status: 503, body: expect.objectContaining({ status: 'degraded', store: 'unavailable', redis: 'ok' }) });
    // A send meanwhile may be refused, or stored by the outbox's next attempt once the database is back.
    const during = alice.client.send('pg-bob', 'message 5').then(
      (r) => r,
      (err: unknown) => err as Error,
    );
    postgres.restore();
    await waitUntil(async () => ((await health(a!)).status === 200 && (await health(b!)).status === 200 ? true : undefined), 15_000, 'both nodes back on PostgreSQL');
    const outcome = await during;
    for (const body of numbered(6, 10)) accepted.push((await alice.client.send('pg-bob', body)).id);
    await waitForBodies(bob.received, outcome instanceof Error ? 9 : 10, 'bob after PostgreSQL came back');
    // Whatever happened to the send during the cut, bob sees no message twice and the rest in order.
    const expected = outcome instanceof Error ? [...numbered(0, 5), ...numbered(6, 10)] : numbered(0, 10);
    expect(bodies(bob.received)).toEqual(expected);
  }, 120_000);
  it('tells a device removed on one node that it was removed, on the node it is connected to', async () => {
    const redis = await ownRedis();
    const [a, b] = await startNodes(['A', 'B'], redis, { pollMs: 600_000 });
    // The laptop is linked through node A (linking across nodes is cluster-links.test.ts's), then connects to node B.
    const phone = await client(a!.url, 'rm-bob');
    const laptop = await linkLaptop(phone, a!.url, b!.url);
    const removed: Array<{ username: string; device: number }> = [];
    laptop.client.on('removed', (r) => removed.push({ username: r.username, device: r.device }));
    expect(await phone.client.removeDevice(2)).toMatchObject({ device: 2 });
    await waitUntil(() => (removed.length > 0 ? true : undefined), 10_000, 'the laptop on node B told of its removal');
    expect(removed).toEqual([{ username: 'rm-bob', device: 2 }]);
  }, 60_000);
  it('names its Redis in the start-up line without the password, and prints the password nowhere', async () => {
    const redis = await ownRedis();
    const password = 'not-a-real-redis-pw-51f0';
    // This Redis asks for no password: ioredis warns and carries on, which is enough to see what is printed.
    const [a] = await startNodes(['A'], redis, { pollMs: 600_000, redisUrl: `redis://:${password}@127.0.0.1:${redis.port}` });
    expect(a!.proc.stdout).toMatch(new RegExp(`"redis":"redis://127\\.0\\.0\\.1:${redis.port}"`));
    expect(await healthWithRedis(a!)).toEqual({ status: 200, body: expect.objectContaining({ redis: 'ok' }) });
    await a!.proc.stop();
    expect(a!.proc.stdout + a!.proc.stderr).not.toContain(password);
  }, 60_000);
});
