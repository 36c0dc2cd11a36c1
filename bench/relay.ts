/**
 * The relay: throughput of sender/receiver pairs with a window of unacknowledged messages, latency at a
 * fixed rate, memory per idle connection, and connecting + logging in many clients. Every figure is
 * measured against the bare Socket.IO and bare `ws` relays (bench/baselines) driven by the same load
 * generator, in the same run. Each server is its own process; this process is the load generator.
 */
import { base64urlDecode, base64urlEncode } from '../src/crypto/bytes.js';
import type { HybridEnvelope } from '../src/protocol/schemas.js';
import { keysFor } from '../test/helpers/test-clients.js';
import { loadClient, withConcurrency, type Delivered, type Kind, type LoadClient } from './lib/load-clients.js';
import { ratioOf, type Figure } from './lib/report.js';
import { cpuSeconds, rssBytes, startServerProcess, type ServerProcess } from './lib/server-process.js';
import { authenticated, connect, fakeEnvelope } from './lib/wire-client.js';

const KINDS: readonly Kind[] = ['e2ee-chat', 'socket.io', 'ws'];
const WINDOW = 50;

/** Send time per sequence number, carried in the envelope's iv so no server needs to know about it. */
export class Stamps {
  private readonly sentAt = new Map<number, number>();
  private seq = 0;
  readonly latencies: number[] = [];

  stamp(base: HybridEnvelope): HybridEnvelope {
    const seq = ++this.seq;
    const iv = new Uint8Array(16);
    new DataView(iv.buffer).setFloat64(0, seq);
    this.sentAt.set(seq, performance.now());
    return { ...base, jwe: { ...base.jwe, iv: base64urlEncode(iv) } };
  }

  received(m: Delivered, record: boolean): void {
    const seq = new DataView(base64urlDecode(m.envelope.jwe.iv).buffer).getFloat64(0);
    const t = this.sentAt.get(seq);
    this.sentAt.delete(seq);
    if (record && t !== undefined) this.latencies.push(performance.now() - t);
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Receivers acknowledge in batches, once per turn of the event loop. */
export function batchedAcker(client: LoadClient): (id: string) => void {
  let ids: string[] = [];
  return (id) => {
    if (ids.length === 0) setImmediate(() => client.ack(ids.splice(0)));
    ids.push(id);
  };
}

interface Pairs {
  senders: LoadClient[];
  receivers: LoadClient[];
  /** Called for each delivery to receiver i. */
  onDelivered: Array<(m: Delivered) => void>;
  close(): void;
}

async function pairs(kind: Kind, url: string, count: number, tag: string): Promise<Pairs> {
  const keys = await keysFor();
  const onDelivered: Pairs['onDelivered'] = Array.from({ length: count }, () => () => undefined);
  const receivers = await withConcurrency(count, 50, async (i) => {
    let ack: (id: string) => void = () => undefined;
    const client = await loadClient(kind, url, `r${tag}${i}`, keys, (m) => {
      onDelivered[i]!(m);
      ack(m.id);
    });
    ack = batchedAcker(client);
    return client;
  });
  const senders = await withConcurrency(count, 50, (i) => loadClient(kind, url, `s${tag}${i}`, keys));
  return { senders, receivers, onDelivered, close: () => [...senders, ...receivers].forEach((c) => c.close()) };
}

/**
 * Messages/s delivered with `WINDOW` in flight per pair, the one-way latencies, and (given the server's
 * pid) the server's CPU time per delivered message: a cost that other load on the machine disturbs far
 * less than the rate.
 */
export async function throughput(kind: Kind, url: string, pairCount: number, seconds: number, serverPid?: number) {
  const p = await pairs(kind, url, pairCount, 't');
  const stamps = new Stamps();
  const base = fakeEnvelope(1024);
  let measuring = false;
  let stopped = false;
  let delivered = 0;
  const sendOne = (i: number) => p.senders[i]!.send(`rt${i}`, stamps.stamp(base));
  for (let i = 0; i < pairCount; i++) {
    p.onDelivered[i] = (m) => {
      stamps.received(m, measuring);
      if (measuring) delivered++;
      if (!stopped) sendOne(i); // one arrived: the window has room for the next
    };
    for (let k = 0; k < WINDOW; k++) sendOne(i);
  }
  await sleep(Math.min(2000, seconds * 300)); // warm-up
  measuring = true;
  const cpu0 = serverPid === undefined ? 0 : cpuSeconds(serverPid);
  const t = performance.now();
  await sleep(seconds * 1000);
  measuring = false;
  const rate = delivered / ((performance.now() - t) / 1000);
  const cpuMicrosPerMessage = serverPid === undefined ? NaN : ((cpuSeconds(serverPid) - cpu0) / delivered) * 1e6;
  stopped = true;
  await sleep(300);
  p.close();
  return { rate, p50: percentile(stamps.latencies, 50), p99: percentile(stamps.latencies, 99), cpuMicrosPerMessage };
}

/** Latency and server CPU at a fixed aggregate rate. */
export async function fixedRate(kind: Kind, server: ServerProcess, pairCount: number, rate: number, seconds: number, warmupMs: number, tag = `f${rate}`) {
  // Names are new on each server (the bench's keys rotate, so a name registered before would not log in).
  const p = await pairs(kind, server.url, pairCount, tag);
  const stamps = new Stamps();
  const base = fakeEnvelope(1024);
  let measuring = false;
  let delivered = 0;
  for (let i = 0; i < pairCount; i++) {
    p.onDelivered[i] = (m) => {
      stamps.received(m, measuring);
      if (measuring) delivered++;
    };
  }
  const tickMs = 5;
  let next = 0;
  let owed = 0;
  const timer = setInterval(() => {
    owed += (rate * tickMs) / 1000;
    for (; owed >= 1; owed--) {
      const i = next++ % pairCount;
      p.senders[i]!.send(`r${tag}${i}`, stamps.stamp(base));
    }
  }, tickMs);
  await sleep(warmupMs);
  measuring = true;
  const cpu0 = cpuSeconds(server.pid);
  const t = performance.now();
  await sleep(seconds * 1000);
  const cpuUsed = cpuSeconds(server.pid) - cpu0;
  const cpu = cpuUsed / ((performance.now() - t) / 1000);
  measuring = false;
  clearInterval(timer);
  await sleep(300);
  p.close();
  // Per message too: on a busy machine the load generator may fall behind the rate it aims at.
  return { p50: percentile(stamps.latencies, 50), p99: percentile(stamps.latencies, 99), cpuPercent: cpu * 100, cpuMicrosPerMessage: (cpuUsed / delivered) * 1e6, delivered };
}

/** Server RSS growth per idle connection (authenticated for ours, plain for the bare Socket.IO one). */
async function memoryPerConnection(kind: Kind, server: ServerProcess, count: number, settleMs: number) {
  const keys = await keysFor();
  await sleep(settleMs / 3);
  const before = rssBytes(server.pid);
  const clients = await withConcurrency(count, 200, async (i) =>
    kind === 'e2ee-chat' ? authenticated(server.url, `idle${i}`, keys) : connect(server.url),
  );
  await sleep(settleMs);
  const after = rssBytes(server.pid);
  for (const c of clients) c.close();
  return { rss: after, perConnection: (after - before) / count };
}

/**
 * Whether idle connections cost the server anything at a fixed rate: latency and server CPU at `rate`
 * with only the 100 pairs connected (200 connections), then again, on the same server, once `total`
 * connections are open (the others logged in and idle). Logged in like real users: each is in its rooms
 * and has a delivery pump, and the server pings each (Socket.IO's heartbeat).
 */
export async function idleCost(server: ServerProcess, total: number, rate: number, seconds: number, settleMs: number) {
  const keys = await keysFor();
  const few = await fixedRate('e2ee-chat', server, 100, rate, seconds, settleMs, 'few');
  const idle = await withConcurrency(Math.max(0, total - 200), 200, (i) => authenticated(server.url, `idlecost${i}`, keys));
  await sleep(settleMs);
  const many = await fixedRate('e2ee-chat', server, 100, rate, seconds, settleMs, 'many');
  for (const c of idle) c.close();
  return { few, many };
}

/** Seconds to connect and log in `count` clients, 200 at a time. */
async function connectAndLogin(url: string, count: number): Promise<number> {
  const keys = await keysFor();
  const t = performance.now();
  const clients = await withConcurrency(count, 200, (i) => authenticated(url, `conn${i}`, keys));
  const seconds = (performance.now() - t) / 1000;
  for (const c of clients) c.close();
  return seconds;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function relayBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const size = {
    full: { pairs: 100, seconds: 5, rateSeconds: 4, idle: 10_000, logins: 10_000, settleMs: 1500, crowd: 10_000 },
    quick: { pairs: 100, seconds: 2, rateSeconds: 2, idle: 1_000, logins: 1_000, settleMs: 1000, crowd: 2_000 },
    smoke: { pairs: 3, seconds: 0.3, rateSeconds: 0.3, idle: 20, logins: 20, settleMs: 100, crowd: 220 },
  }[mode];
  const rates = mode === 'smoke' ? [200] : [1_000, 10_000];
  const figures: Figure[] = [];
  const tp = {} as Record<Kind, Awaited<ReturnType<typeof throughput>>>;
  const fixed = {} as Record<Kind, Array<Awaited<ReturnType<typeof fixedRate>>>>;
  const memory = {} as Record<'e2ee-chat' | 'socket.io', Awaited<ReturnType<typeof memoryPerConnection>>>;
  let loginSeconds = 0;

  for (const kind of KINDS) {
    const server = await startServerProcess({ E2EE_CHAT_STORE: 'sqlite' }, kind);
    try {
      tp[kind] = await throughput(kind, server.url, size.pairs, size.seconds, server.pid);
      fixed[kind] = [];
      for (const rate of rates) fixed[kind].push(await fixedRate(kind, server, size.pairs, rate, size.rateSeconds, size.settleMs));
    } finally {
      await server.stop();
    }
  }
  for (const kind of ['e2ee-chat', 'socket.io'] as const) {
    const server = await startServerProcess({ E2EE_CHAT_STORE: 'sqlite' }, kind);
    try {
      memory[kind] = await memoryPerConnection(kind, server, size.idle, size.settleMs);
      if (kind === 'e2ee-chat') loginSeconds = await connectAndLogin(server.url, size.logins);
    } finally {
      await server.stop();
    }
  }

  // 100 pairs even in smoke mode: the comparison is 200 connections against `crowd`.
  const crowdRate = mode === 'smoke' ? 200 : 1_000;
  const crowdServer = await startServerProcess({ E2EE_CHAT_STORE: 'sqlite' });
  let crowd: Awaited<ReturnType<typeof idleCost>>;
  try {
    crowd = await idleCost(crowdServer, size.crowd, crowdRate, Math.max(size.rateSeconds, mode === 'smoke' ? 0.3 : 3), size.settleMs);
  } finally {
    await crowdServer.stop();
  }

  const ours = tp['e2ee-chat'];
  figures.push(
    {
      section: 'relay',
      name: `throughput, ${size.pairs} pairs, window ${WINDOW}, 1 KiB, receivers ack`,
      value: ours.rate,
      unit: 'msg/s',
      baseline: { name: 'bare socket.io', value: tp['socket.io'].rate },
      ratio: ratioOf(ours.rate, tp['socket.io'].rate, true),
      target: '≥ 0.8× bare socket.io (goal 1.0×)',
      met: ours.rate >= 0.8 * tp['socket.io'].rate,
    },
    {
      section: 'relay',
      name: 'throughput vs bare ws',
      value: ours.rate,
      unit: 'msg/s',
      baseline: { name: 'bare ws', value: tp.ws.rate },
      ratio: ratioOf(ours.rate, tp.ws.rate, true),
      target: '≥ 0.8× bare ws',
      met: ours.rate >= 0.8 * tp.ws.rate,
    },
    {
      section: 'relay',
      name: 'server CPU per message at full load',
      value: ours.cpuMicrosPerMessage,
      unit: 'µs',
      baseline: { name: 'bare socket.io', value: tp['socket.io'].cpuMicrosPerMessage },
      ratio: ratioOf(ours.cpuMicrosPerMessage, tp['socket.io'].cpuMicrosPerMessage, false),
    },
    { section: 'relay', name: 'p50 one-way latency at full load', value: ours.p50, unit: 'ms', baseline: { name: 'bare socket.io', value: tp['socket.io'].p50 }, ratio: ratioOf(ours.p50, tp['socket.io'].p50, false) },
    { section: 'relay', name: 'p99 one-way latency at full load', value: ours.p99, unit: 'ms', baseline: { name: 'bare socket.io', value: tp['socket.io'].p99 }, ratio: ratioOf(ours.p99, tp['socket.io'].p99, false) },
  );
  rates.forEach((rate, r) => {
    const o = fixed['e2ee-chat'][r]!;
    const b = fixed['socket.io'][r]!;
    figures.push(
      { section: 'relay', name: `p50 latency at ${rate.toLocaleString('en-US')} msg/s`, value: o.p50, unit: 'ms', baseline: { name: 'bare socket.io', value: b.p50 }, ratio: ratioOf(o.p50, b.p50, false) },
      {
        section: 'relay',
        name: `p99 latency at ${rate.toLocaleString('en-US')} msg/s`,
        value: o.p99,
        unit: 'ms',
        baseline: { name: 'bare socket.io', value: b.p99 },
        ratio: ratioOf(o.p99, b.p99, false),
        ...(rate === 1_000 && { target: '≤ 2× bare socket.io', met: o.p99 <= 2 * b.p99 }),
        ...(rate === 10_000 && { target: '< 2 ms', met: o.p99 < 2 }),
      },
      { section: 'relay', name: `server CPU at ${rate.toLocaleString('en-US')} msg/s`, value: o.cpuPercent, unit: '%', baseline: { name: 'bare socket.io', value: b.cpuPercent }, ratio: ratioOf(o.cpuPercent, b.cpuPercent, false) },
    );
  });
  const crowdName = `${size.crowd.toLocaleString('en-US')} connections (200 sending, the rest idle) at ${crowdRate.toLocaleString('en-US')} msg/s`;
  const cpuGrowth = crowd.many.cpuPercent / crowd.few.cpuPercent;
  figures.push(
    {
      section: 'relay',
      name: `server CPU, ${crowdName}`,
      value: crowd.many.cpuPercent,
      unit: '%',
      baseline: { name: '200 connections, same server', value: crowd.few.cpuPercent },
      ratio: ratioOf(crowd.many.cpuPercent, crowd.few.cpuPercent, false),
      // "Must not grow": within 25 %, the spread of repeated runs on this shared machine.
      target: '≤ 1.25× the CPU with 200 connections',
      met: cpuGrowth <= 1.25,
    },
    {
      section: 'relay',
      name: `server CPU per message, ${crowdName}`,
      value: crowd.many.cpuMicrosPerMessage,
      unit: 'µs',
      baseline: { name: '200 connections, same server', value: crowd.few.cpuMicrosPerMessage },
      ratio: ratioOf(crowd.many.cpuMicrosPerMessage, crowd.few.cpuMicrosPerMessage, false),
    },
    {
      section: 'relay',
      name: `p99 latency, ${crowdName}`,
      value: crowd.many.p99,
      unit: 'ms',
      baseline: { name: '200 connections, same server', value: crowd.few.p99 },
      ratio: ratioOf(crowd.many.p99, crowd.few.p99, false),
    },
  );
  figures.push(
    {
      section: 'relay',
      name: `memory per idle connection (${size.idle.toLocaleString('en-US')}; ours authenticated)`,
      value: memory['e2ee-chat'].perConnection / 1024,
      unit: 'KiB',
      baseline: { name: 'bare socket.io, plain', value: memory['socket.io'].perConnection / 1024 },
      ratio: ratioOf(memory['e2ee-chat'].perConnection, memory['socket.io'].perConnection, false),
      target: '≤ 20 KiB',
      met: memory['e2ee-chat'].perConnection <= 20 * 1024,
    },
    { section: 'relay', name: `server RSS with ${size.idle.toLocaleString('en-US')} idle connections`, value: memory['e2ee-chat'].rss / 2 ** 20, unit: 'MiB', baseline: { name: 'bare socket.io', value: memory['socket.io'].rss / 2 ** 20 } },
    { section: 'relay', name: `connect and log in ${size.logins.toLocaleString('en-US')} clients (first login registers)`, value: loginSeconds, unit: 's' },
  );
  return figures;
}
