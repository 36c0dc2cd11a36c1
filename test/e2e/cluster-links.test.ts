/**
 * Linking a device across the nodes of a cluster (issue 13): real `e2ee-chat server` processes on
 * loopback ports sharing one PostgreSQL schema and a Redis of the test's own, as cluster-nodes.test.ts
 * starts them.
 *
 * The new device opens its slot on node A and bob's primary approves it through node B, with the
 * library's real linking flow (requestDeviceLink, approveDevice); the new device then sends and receives.
 * A node killed mid-link gives the party on the other node `link.closed` "disconnected", whichever of
 * the two held the slot. A join of a slot that does not exist, or is another user's, is the same
 * `unknown_link` on every node.
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
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { DeviceSockets } from '../helpers/devices.js';
import { dropSchemas, freshSchema, postgresGate } from '../helpers/postgres.js';
import { redisGate, TestRedis } from '../helpers/redis.js';
import { call, connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { freePort } from './processes.js';
import { startClusterNode, type ClusterNode } from './cluster-node.js';
import { useProcesses } from './world.js';

const procs = useProcesses();
const pgGate = await postgresGate();
const rGate = redisGate();
const schemas: string[] = [];

type Node = ClusterNode;

/** The nodes' presence lease, which is also their link lease: a dead node is noticed within about 2 s. */
const LEASE_MS = 1_500;

const closers: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const sid = () => base64urlEncode(randomBytes(16));
const frame = () => base64urlEncode(randomBytes(40));

describe.skipIf(pgGate.skip || rGate.skip)('cluster: linking a device through two nodes', () => {
  beforeAll(() => {
    for (const unavailable of [pgGate.unreachable, rGate.unavailable]) {
      if (unavailable) throw new Error(`${unavailable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    }
    void installNodeCrypto({ mlkem: false });
  });
  afterAll(async () => {
    if (!pgGate.unreachable) await dropSchemas(schemas);
  });

  async function database(): Promise<string> {
    const { schema, url } = await freshSchema();
    schemas.push(schema);
    return url;
  }

  /** Nodes on one fresh schema and a Redis of the test's own (`redis`, or a new one), each listening and on Redis. */
  async function startNodes(names: readonly string[], redis?: TestRedis): Promise<Node[]> {
    if (!redis) {
      redis = new TestRedis(await freePort());
      await redis.start();
      closers.push(() => redis!.kill());
    }
    const databaseUrl = await database();
    const dir = procs.tempDir('cluster-links');
    const nodes = await Promise.all(names.map((name) => startClusterNode(procs, dir, name, { databaseUrl, redisUrl: redis!.url, pollMs: 1000, leaseMs: LEASE_MS })));
    for (const node of nodes) await onRedis(node);
    return nodes;
  }

  const onRedis = (node: Node) =>
    waitUntil(async () => (((await (await fetch(`${node.url}/health`)).json()) as { redis?: string }).redis === 'ok' ? true : undefined), 10_000, `${node.name}'s Redis connection`);

  function sockets(node: Node): DeviceSockets {
    const net = new DeviceSockets(() => node.url);
    closers.push(() => net.closeAll());
    return net;
  }

  async function client(url: string, username: string): Promise<TestClient> {
    const c = await connectTestClient(url, username);
    closers.push(() => c.client.close());
    return c;
  }

  it('links a new device whose slot is on node A through a primary on node B, and the new device then sends and receives', async () => {
    const [a, b] = await startNodes(['A', 'B']);
    const phone = await client(b!.url, 'xl-bob');
    const alice = await client(a!.url, 'xl-alice');

    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const peers = new MemoryPeerKeyStore();
    const pending = await requestDeviceLink({ url: a!.url, username: 'xl-bob', name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    pending.done.catch(() => undefined);
    const approved = await phone.client.approveDevice(pending.code);
    const provisioned = await pending.done;
    expect(provisioned).toMatchObject({ username: 'xl-bob', device: 2 });
    expect(approved).toMatchObject({ device: 2 });
    await adoptProvisioning(peers, provisioned);

    const received: ReceivedMessage[] = [];
    const laptop = await ChatClient.connect(
      {
        url: a!.url,
        identity: { username: provisioned.username, device: provisioned.device, keys, account: provisioned.account },
        peers,
        messages: new MemoryMessageStore(),
        ratchet,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => c.on('message', (m) => received.push(m)),
    );
    closers.push(() => laptop.close());

    await alice.client.send('xl-bob', 'to both of bob\'s devices');
    await waitUntil(() => (received.length > 0 ? true : undefined), 15_000, 'the laptop receives alice\'s message');
    expect(received.map((m) => m.body)).toEqual(['to both of bob\'s devices']);
    await laptop.send('xl-alice', 'from the new laptop');
    await waitUntil(() => (alice.received.some((m) => m.body === 'from the new laptop') ? true : undefined), 15_000, 'alice receives the laptop\'s message');
    expect(alice.received.find((m) => m.body === 'from the new laptop')).toMatchObject({ from: 'xl-bob', fromDevice: 2 });
  }, 120_000);

  it('tells the party on the surviving node "disconnected" when the node on the other side of its link is killed', async () => {
    const [a, b, c] = await startNodes(['A', 'B', 'C']);
    const netA = sockets(a!);
    const netB = sockets(b!);
    const netC = sockets(c!);
    // Carol's primary is on node B; one new device of hers waits on node A, another on node C.
    const { primary } = await netB.registered('xk-carol');
    const onA = await netA.open();
    const onC = await netC.open();
    const slotA = (await call(onA.socket, 'link.open', { username: 'xk-carol', sid: sid() })).slot as string;
    const slotC = (await call(onC.socket, 'link.open', { username: 'xk-carol', sid: sid() })).slot as string;
    expect(slotA).not.toBe(slotC);
    for (const slot of [slotA, slotC]) expect(await call(primary.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: true, slot });
    expect(await onA.waitFor('link.joined')).toEqual([{ slot: slotA, sid: expect.any(String), device: 1 }]);
    const data = frame();
    expect(await call(onA.socket, 'link.send', { slot: slotA, data })).toStrictEqual({ ok: true });
    expect(await primary.waitFor('link.data')).toEqual([{ slot: slotA, data }]);

    // The node holding slot A dies: the primary on node B hears of it.
    await a!.proc.stop('SIGKILL');
    expect(await waitUntil(() => primary.of('link.closed').find((e) => e.slot === slotA), 10_000, 'link.closed for the slot of the dead node A')).toEqual({ slot: slotA, reason: 'disconnected' });
    expect(await call(primary.socket, 'link.send', { slot: slotA, data })).toMatchObject({ ok: false, error: { code: 'unknown_link' } });

    // The primary's node dies: the new device on node C, whose slot it had joined, hears of it.
    await b!.proc.stop('SIGKILL');
    expect(await waitUntil(() => onC.of('link.closed')[0], 10_000, 'link.closed on node C')).toEqual({ slot: slotC, reason: 'disconnected' });
  }, 120_000);

  it('answers a join of a slot that does not exist, or is another user\'s, with the same unknown_link on either node', async () => {
    const [a, b] = await startNodes(['A', 'B']);
    const netA = sockets(a!);
    const netB = sockets(b!);
    const { primary: danOnA } = await netA.registered('xu-dan');
    const { primary: erinOnB } = await netB.registered('xu-erin');
    const fresh = await netA.open();
    const slot = (await call(fresh.socket, 'link.open', { username: 'xu-dan', sid: sid() })).slot as string;
    const missing = slot === '999999' ? '999998' : '999999';
    const answers = [
      await call(danOnA.socket, 'link.join', { slot: missing, sid: sid() }),
      await call(erinOnB.socket, 'link.join', { slot: missing, sid: sid() }),
      await call(erinOnB.socket, 'link.join', { slot, sid: sid() }),
      await call(erinOnB.socket, 'link.send', { slot, data: frame() }),
    ];
    for (const answer of answers) expect(answer).toStrictEqual({ ok: false, error: { code: 'unknown_link', message: 'no open link slot with that number' } });
    // The slot itself is untouched: its own user joins it.
    expect(await call(danOnA.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: true, slot });
  }, 120_000);

  it('with Redis down links through one node, fails a join through another with a clear internal error, and closes the cross-node links it may have cut', async () => {
    const redis = new TestRedis(await freePort());
    await redis.start();
    closers.push(() => redis.kill());
    const [a, b] = await startNodes(['A', 'B'], redis);
    const netA = sockets(a!);
    const netB = sockets(b!);
    const { account, primary: onB } = await netB.registered('xr-fay');
    const onA = await netA.device(account, 1);
    // A link across the nodes, in progress when Redis goes.
    const across = await netA.open();
    const acrossSlot = (await call(across.socket, 'link.open', { username: 'xr-fay', sid: sid() })).slot as string;
    expect(await call(onB.socket, 'link.join', { slot: acrossSlot, sid: sid() })).toMatchObject({ ok: true });

    await redis.kill();
    const alone = await netA.open();
    const opened = await call(alone.socket, 'link.open', { username: 'xr-fay', sid: sid() });
    expect(opened).toMatchObject({ ok: true, slot: expect.any(String) });
    const slot = opened.slot as string;
    expect(await call(onB.socket, 'link.join', { slot, sid: sid() })).toStrictEqual({
      ok: false,
      error: { code: 'internal', message: 'linking through another node of the cluster failed: redis does not answer; run link again' },
    });
    expect(await call(onA.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: true, slot });
    const data = frame();
    expect(await call(onA.socket, 'link.send', { slot, data })).toStrictEqual({ ok: true });
    expect(await alone.waitFor('link.data')).toEqual([{ slot, data }]);

    // Redis is back, empty: what was published to either node meanwhile may be lost, so the link across
    // them ends on both sides rather than going on with a frame missing. The one on node A alone goes on.
    await redis.start();
    for (const node of [a!, b!]) await onRedis(node);
    expect(await waitUntil(() => across.of('link.closed')[0], 10_000, 'link.closed for the new device on node A')).toEqual({ slot: acrossSlot, reason: 'disconnected' });
    expect(await waitUntil(() => onB.of('link.closed')[0], 10_000, 'link.closed for the primary on node B')).toEqual({ slot: acrossSlot, reason: 'disconnected' });
    expect(await call(alone.socket, 'link.send', { slot, data })).toStrictEqual({ ok: true });
    expect(await onA.waitFor('link.data')).toEqual([{ slot, data }]);
  }, 120_000);
});
