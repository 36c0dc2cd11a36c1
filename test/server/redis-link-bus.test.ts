/**
 * The link bus on a real Redis (cluster/redis-link-bus.ts), a Redis of the test's own: numbers claimed by
 * one node are nobody else's until freed or expired, the range follows the slots open in the whole
 * cluster and the cap refuses, a node frees only its own numbers, a lease tells who is running, a
 * publication to a node nobody listens for says so, and a registry value that is not one is no slot.
 */
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_KEY_PREFIX } from '../../src/server/cluster/cluster-limits.js';
import { openRedisConnection } from '../../src/server/cluster/redis-connection.js';
import { RedisLinkBus } from '../../src/server/cluster/redis-link-bus.js';
import { SHORT_RANGE_BELOW } from '../../src/server/link-slot-numbers.js';
import { freePort } from '../e2e/processes.js';
import { redisGate, TestRedis } from '../helpers/redis.js';
import { waitUntil } from '../helpers/test-clients.js';

const rGate = redisGate();
const NODE_A = 'aaaaaaaaaaaaaaaa';
const NODE_B = 'bbbbbbbbbbbbbbbb';
const TTL_MS = 60_000;

describe.skipIf(rGate.skip)('the link bus on Redis', () => {
  let redis: TestRedis;
  const connections: Redis[] = [];
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    if (rGate.unavailable) throw new Error(`${rGate.unavailable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    redis = new TestRedis(await freePort());
    await redis.start();
  });
  afterAll(async () => {
    for (const c of connections) c.disconnect();
    await redis.kill();
  });

  async function bus(node: string): Promise<{ bus: RedisLinkBus; commands: Redis }> {
    const commands = openRedisConnection({ url: redis.url, role: 'commands', logger });
    const subscriber = openRedisConnection({ url: redis.url, role: 'subscriber', logger, subscriber: true });
    connections.push(commands, subscriber);
    await waitUntil(() => (commands.status === 'ready' ? true : undefined), 5_000, 'the command connection');
    return { bus: new RedisLinkBus(node, commands, subscriber, 1_500, logger), commands };
  }

  const expiry = () => Date.now() + TTL_MS;

  it('gives a number to one node only, frees it for its owner alone, and finds its home', async () => {
    const { bus: a, commands } = await bus(NODE_A);
    const { bus: b } = await bus(NODE_B);
    await commands.flushall();
    const expiresAt = expiry();
    expect(await a.claim(['417', '418'], ['123456'], expiresAt, TTL_MS, 1_000)).toEqual({ slot: '417' });
    expect(await b.claim(['417', '418'], ['123456'], expiry(), TTL_MS, 1_000)).toEqual({ slot: '418' });
    expect(await b.claim(['417', '418'], ['123456'], expiry(), TTL_MS, 1_000)).toBe('taken');
    expect(await b.lookup('417')).toEqual({ node: NODE_A, expiresAt });
    await b.release('417');
    expect(await a.lookup('417')).toMatchObject({ node: NODE_A });
    await a.release('417');
    expect(await a.lookup('417')).toBeUndefined();
    expect(await b.claim(['417'], [], expiry(), TTL_MS, 1_000)).toEqual({ slot: '417' });
    // A registry entry that is not one of ours is no slot.
    await commands.set(`${REDIS_KEY_PREFIX}link:slot:999`, 'not a home');
    expect(await a.lookup('999')).toBeUndefined();
  });

  it('draws from the wide range once the cluster has SHORT_RANGE_BELOW open, and refuses past the cap', async () => {
    const { bus: a, commands } = await bus(NODE_A);
    const { bus: b } = await bus(NODE_B);
    await commands.flushall();
    for (let i = 0; i < SHORT_RANGE_BELOW; i++) {
      const slot = String(100 + i);
      expect(await (i % 2 ? a : b).claim([slot], ['500000'], expiry(), TTL_MS, SHORT_RANGE_BELOW + 1)).toEqual({ slot });
    }
    expect(await a.claim(['999'], ['500000'], expiry(), TTL_MS, SHORT_RANGE_BELOW + 1)).toEqual({ slot: '500000' });
    expect(await b.claim(['998'], ['500001'], expiry(), TTL_MS, SHORT_RANGE_BELOW + 1)).toBe('full');
    // A freed number no longer counts.
    await a.release('500000');
    expect(await b.claim(['998'], ['500001'], expiry(), TTL_MS, SHORT_RANGE_BELOW + 1)).toEqual({ slot: '500001' });
  });

  it('tells a running node by its lease, and a publication to a node nobody listens for by its answer', async () => {
    const { bus: a } = await bus(NODE_A);
    const { bus: b } = await bus(NODE_B);
    const heard: string[] = [];
    b.listen((text) => heard.push(text));
    b.start();
    await waitUntil(async () => ((await a.alive(NODE_B)) ? true : undefined), 5_000, "node B's lease");
    await waitUntil(async () => ((await a.publish(NODE_B, 'first')) ? true : undefined), 5_000, "node B's subscription");
    expect(await a.publish(NODE_B, 'second')).toBe(true);
    await waitUntil(() => (heard.includes('second') ? true : undefined), 5_000, 'the publication on node B');
    expect(heard.slice(-2)).toEqual(['first', 'second']);
    expect(await b.publish(NODE_A, 'nobody listens')).toBe(false);
    await b.stop();
    expect(await a.alive(NODE_B)).toBe(false);
  });
});
