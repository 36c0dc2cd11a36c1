/**
 * One node against three on this machine (issue 13), at the same total load: pairs of load clients send
 * 1 KiB envelopes at a fixed aggregate rate, receivers acknowledge. One node: the PostgreSQL store, no
 * Redis. Three nodes: the same PostgreSQL schema shared, and a Redis of the bench's own; each pair's
 * sender is on node i and its receiver on node i+1, so every message crosses nodes (a wake-up through
 * Redis, a read from the shared store, the receipt back through the adapter).
 *
 * Cost per message is the CPU time of the relay processes (and of redis-server for three nodes) divided
 * by the messages delivered while measuring; PostgreSQL's own CPU is left out (both sides use the same
 * database, and its backends are not ours to sum). Latency is one-way, send to push.
 *
 * Needs PostgreSQL (E2EE_CHAT_DATABASE_URL or the local one) and redis-server; without them the section
 * says so and reports nothing.
 */
import { dropSchemas, postgresGate } from '../test/helpers/postgres.js';
import { redisGate, TestRedis } from '../test/helpers/redis.js';
import { keysFor } from '../test/helpers/test-clients.js';
import { loadClient, withConcurrency, type Delivered, type LoadClient } from './lib/load-clients.js';
import { freshSchema } from '../test/helpers/postgres.js';
import { ratioOf, type Figure } from './lib/report.js';
import { cpuSeconds, freePort, startServerProcess, type ServerProcess } from './lib/server-process.js';
import { fakeEnvelope } from './lib/wire-client.js';
import { batchedAcker, percentile, sleep, Stamps } from './relay.js';

interface Run {
  p50: number;
  p99: number;
  /** CPU microseconds per delivered message, relay processes (and redis-server) together. */
  cpuPerMessage: number;
  delivered: number;
}

/** `pairs` pairs; sender i on urls[i % n], its receiver on urls[(i + 1) % n]; `rate` messages/s in all. */
async function fixedRate(urls: readonly string[], pids: readonly number[], pairs: number, rate: number, seconds: number, warmupMs: number): Promise<Run> {
  const keys = await keysFor();
  const stamps = new Stamps();
  let measuring = false;
  let delivered = 0;
  const receivers = await withConcurrency(pairs, 20, async (i) => {
    let ack: (id: string) => void = () => undefined;
    const client = await loadClient('e2ee-chat', urls[(i + 1) % urls.length]!, `cr${i}`, keys, (m: Delivered) => {
      stamps.received(m, measuring);
      if (measuring) delivered++;
      ack(m.id);
    });
    ack = batchedAcker(client);
    return client;
  });
  const senders: LoadClient[] = await withConcurrency(pairs, 20, (i) => loadClient('e2ee-chat', urls[i % urls.length]!, `cs${i}`, keys));
  const base = fakeEnvelope(1024);
  const tickMs = 5;
  let next = 0;
  let owed = 0;
  const timer = setInterval(() => {
    owed += (rate * tickMs) / 1000;
    for (; owed >= 1; owed--) {
      const i = next++ % pairs;
      senders[i]!.send(`cr${i}`, stamps.stamp(base));
    }
  }, tickMs);
  await sleep(warmupMs);
  const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  measuring = true;
  const cpu0 = cpu();
  await sleep(seconds * 1000);
  const used = cpu() - cpu0;
  measuring = false;
  clearInterval(timer);
  // Let what is in flight arrive: closing the nodes under sends still running only makes log noise.
  await sleep(1000);
  for (const c of [...senders, ...receivers]) c.close();
  return { p50: percentile(stamps.latencies, 50), p99: percentile(stamps.latencies, 99), cpuPerMessage: delivered > 0 ? (used / delivered) * 1e6 : NaN, delivered };
}

async function withNodes<T>(count: number, redis: TestRedis | undefined, run: (nodes: ServerProcess[]) => Promise<T>): Promise<T> {
  const { schema, url } = await freshSchema();
  const nodes: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await startServerProcess({ E2EE_CHAT_DATABASE_URL: url, ...(redis && { E2EE_CHAT_REDIS_URL: redis.url }) }));
    }
    return await run(nodes);
  } finally {
    for (const node of nodes) await node.stop();
    await dropSchemas([schema]);
  }
}

export async function clusterBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const size = {
    // Rates one PostgreSQL-backed node carries on this 2-core machine without queueing (a send is a dozen
    // round trips to the database): a cost per message is only comparable below saturation.
    full: { pairs: 60, rate: 300, seconds: 5, warmupMs: 1500 },
    quick: { pairs: 30, rate: 150, seconds: 3, warmupMs: 1000 },
    smoke: { pairs: 3, rate: 60, seconds: 0.5, warmupMs: 300 },
  }[mode];
  const pgGate = await postgresGate();
  const rGate = redisGate();
  const missing = [pgGate.unreachable, rGate.unavailable].filter(Boolean);
  if (missing.length > 0) {
    process.stderr.write(`\ncluster: SKIPPED, it needs PostgreSQL and redis-server: ${missing.join('; ')}\n`);
    return [];
  }
  const one = await withNodes(1, undefined, (nodes) => fixedRate([nodes[0]!.url], [nodes[0]!.pid], size.pairs, size.rate, size.seconds, size.warmupMs));
  const redis = new TestRedis(await freePort());
  await redis.start();
  let three: Run;
  try {
    three = await withNodes(3, redis, (nodes) =>
      fixedRate(
        nodes.map((n) => n.url),
        [...nodes.map((n) => n.pid), redis.pid!],
        size.pairs,
        size.rate,
        size.seconds,
        size.warmupMs,
      ),
    );
  } finally {
    await redis.kill();
  }
  const load = `${size.rate.toLocaleString('en-US')} msg/s, ${size.pairs} pairs, 1 KiB, PostgreSQL`;
  const baseline = (value: number) => ({ name: '1 node, same load', value });
  return [
    {
      section: 'cluster',
      name: `CPU per message, 3 nodes + Redis (every message crosses nodes), ${load}`,
      value: three.cpuPerMessage,
      unit: 'µs',
      baseline: baseline(one.cpuPerMessage),
      ratio: ratioOf(three.cpuPerMessage, one.cpuPerMessage, false),
    },
    { section: 'cluster', name: 'p50 one-way latency, 3 nodes', value: three.p50, unit: 'ms', baseline: baseline(one.p50), ratio: ratioOf(three.p50, one.p50, false) },
    { section: 'cluster', name: 'p99 one-way latency, 3 nodes', value: three.p99, unit: 'ms', baseline: baseline(one.p99), ratio: ratioOf(three.p99, one.p99, false) },
    { section: 'cluster', name: 'messages delivered while measuring, 3 nodes', value: three.delivered, unit: 'msg', baseline: baseline(one.delivered) },
  ];
}
