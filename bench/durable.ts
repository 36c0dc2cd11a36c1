/**
 * The durable path (store-and-forward): envelopes per second acknowledged with the SQLite store against
 * the same server with the in-memory store, and a backlog drained after login against live routing of
 * the same envelopes. With PostgreSQL reachable, also the send rate of one node on PostgreSQL under 100
 * concurrent senders (where its sends are written in batches, issue 13) against SQLite under the same,
 * and the rate at which 100 recipients then drain those backlogs at once (the ack path, batched too).
 * Each server runs as its own process; this process is the load generator.
 */
import type { UserKeyPairs } from '../src/crypto/keys.js';
import { dropSchemas, postgresGate } from '../test/helpers/postgres.js';
import { keysFor } from '../test/helpers/test-clients.js';
import { freshSchema } from '../test/helpers/postgres.js';
import { ratioOf, type Figure } from './lib/report.js';
import { cpuSeconds, startServerProcess } from './lib/server-process.js';
import { authenticated, fakeEnvelope, pipelinedSends, receiveAndAck } from './lib/wire-client.js';

const WINDOW = 50;

async function sendRate(url: string, pairs: number, perSender: number): Promise<number> {
  return (await measuredSends(url, pairs, perSender)).rate;
}

/**
 * Envelopes acked per second, and the server's CPU microseconds per envelope while measuring (with its
 * pid); and the keys the recipients registered with, for logging them in later.
 */
async function measuredSends(url: string, pairs: number, perSender: number, pid?: number): Promise<{ rate: number; cpuPerSend: number; keys: UserKeyPairs }> {
  const keys = await keysFor();
  const envelope = fakeEnvelope(1024);
  // Recipients exist but are offline: every envelope is queued, so this measures the store.
  for (let i = 0; i < pairs; i++) (await authenticated(url, `rcpt${i}`, keys)).close();
  const senders = await Promise.all(Array.from({ length: pairs }, (_, i) => authenticated(url, `sndr${i}`, keys)));
  await Promise.all(senders.map((s, i) => pipelinedSends(s, `rcpt${i}`, Math.min(200, perSender), WINDOW, envelope))); // warm-up
  const cpu0 = pid === undefined ? 0 : cpuSeconds(pid);
  const t = performance.now();
  await Promise.all(senders.map((s, i) => pipelinedSends(s, `rcpt${i}`, perSender, WINDOW, envelope)));
  const rate = (pairs * perSender) / ((performance.now() - t) / 1000);
  const cpuPerSend = pid === undefined ? NaN : ((cpuSeconds(pid) - cpu0) / (pairs * perSender)) * 1e6;
  for (const s of senders) s.close();
  return { rate, cpuPerSend, keys };
}

/**
 * Copies settled per second while the `pairs` recipients measuredSends left offline log in at once and
 * acknowledge their backlogs (`count` each), and the server's CPU microseconds per settled copy: the
 * ack path (deletions, receipts, usage), where measuredSends is the send path. The logins are inside the
 * measure (the drain starts with them), the same on both stores.
 */
async function measuredDrains(url: string, pairs: number, count: number, pid: number, keys: UserKeyPairs): Promise<{ rate: number; cpuPerAck: number }> {
  const drained: Array<Promise<void>> = [];
  const cpu0 = cpuSeconds(pid);
  const t = performance.now();
  const recipients = await Promise.all(Array.from({ length: pairs }, (_, i) => authenticated(url, `rcpt${i}`, keys, (s) => drained.push(receiveAndAck(s, count)))));
  await Promise.all(drained);
  const seconds = (performance.now() - t) / 1000;
  const cpuPerAck = ((cpuSeconds(pid) - cpu0) / (pairs * count)) * 1e6;
  for (const r of recipients) r.close();
  return { rate: (pairs * count) / seconds, cpuPerAck };
}

/** Seconds from login to the last acknowledgement of a `count` backlog. */
async function drainSeconds(url: string, count: number): Promise<number> {
  const keys = await keysFor();
  (await authenticated(url, 'drainer', keys)).close();
  const sender = await authenticated(url, 'filler', keys);
  await pipelinedSends(sender, 'drainer', count, WINDOW, fakeEnvelope(1024));
  sender.close();
  const t = performance.now();
  let drained: Promise<void> = Promise.resolve();
  const bob = await authenticated(url, 'drainer', keys, (s) => (drained = receiveAndAck(s, count)));
  await drained;
  const seconds = (performance.now() - t) / 1000;
  bob.close();
  return seconds;
}

/** Seconds to route `count` envelopes to an online recipient who acknowledges them. */
async function liveSeconds(url: string, count: number): Promise<number> {
  const keys = await keysFor();
  const bob = await authenticated(url, 'liver', keys);
  const alice = await authenticated(url, 'livesender', keys);
  const received = receiveAndAck(bob, count);
  const t = performance.now();
  await pipelinedSends(alice, 'liver', count, WINDOW, fakeEnvelope(1024));
  await received;
  const seconds = (performance.now() - t) / 1000;
  bob.close();
  alice.close();
  return seconds;
}

export async function durableBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const perSender = { full: 2_000, quick: 400, smoke: 10 }[mode];
  const backlog = { full: 10_000, quick: 2_000, smoke: 20 }[mode];
  const result: Record<'memory' | 'sqlite', { rate: number; drain: number; live: number }> = {
    memory: { rate: 0, drain: 0, live: 0 },
    sqlite: { rate: 0, drain: 0, live: 0 },
  };
  for (const store of ['memory', 'sqlite'] as const) {
    const server = await startServerProcess({ E2EE_CHAT_STORE: store });
    try {
      result[store].rate = await sendRate(server.url, 10, perSender);
      result[store].drain = await drainSeconds(server.url, backlog);
      result[store].live = await liveSeconds(server.url, backlog);
    } finally {
      await server.stop();
    }
  }
  const sendRatio = ratioOf(result.sqlite.rate, result.memory.rate, true);
  return [
    ...(await postgresSendRate(mode)),
    {
      section: 'durable',
      name: 'send acked, SQLite store (10 senders, window 50, 1 KiB)',
      value: result.sqlite.rate,
      unit: 'env/s',
      baseline: { name: 'in-memory store', value: result.memory.rate },
      ratio: sendRatio,
      target: '≥ 0.7× in-memory',
      met: sendRatio >= 0.7,
    },
    {
      section: 'durable',
      name: `backlog of ${backlog.toLocaleString('en-US')} × 1 KiB drained after login (SQLite)`,
      value: result.sqlite.drain,
      unit: 's',
      baseline: { name: 'live routing of the same', value: result.sqlite.live },
      ratio: ratioOf(result.sqlite.drain, result.sqlite.live, false),
      ...(backlog === 10_000 && { target: '< 2 s', met: result.sqlite.drain < 2 }),
    },
    {
      section: 'durable',
      name: `backlog of ${backlog.toLocaleString('en-US')} drained after login (in-memory store)`,
      value: result.memory.drain,
      unit: 's',
      baseline: { name: 'live routing of the same', value: result.memory.live },
      ratio: ratioOf(result.memory.drain, result.memory.live, false),
    },
  ];
}

const MANY_SENDERS = 100;

/** Sends acked per second with 100 senders at once, one node on PostgreSQL and one on SQLite. */
async function postgresSendRate(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const gate = await postgresGate();
  if (gate.unreachable) {
    process.stderr.write(`\ndurable: the PostgreSQL send rate is SKIPPED: ${gate.unreachable}\n`);
    return [];
  }
  const perSender = { full: 200, quick: 40, smoke: 2 }[mode];
  // What each recipient has queued once measuredSends is done: its warm-up and its measured sends.
  const backlog = Math.min(200, perSender) + perSender;
  const { schema, url } = await freshSchema();
  let postgres: { rate: number; cpuPerSend: number; keys: UserKeyPairs };
  let postgresDrain: { rate: number; cpuPerAck: number };
  const onPostgres = await startServerProcess({ E2EE_CHAT_DATABASE_URL: url });
  try {
    postgres = await measuredSends(onPostgres.url, MANY_SENDERS, perSender, onPostgres.pid);
    postgresDrain = await measuredDrains(onPostgres.url, MANY_SENDERS, backlog, onPostgres.pid, postgres.keys);
  } finally {
    await onPostgres.stop();
    await dropSchemas([schema]);
  }
  const onSqlite = await startServerProcess({ E2EE_CHAT_STORE: 'sqlite' });
  let sqlite: { rate: number; cpuPerSend: number; keys: UserKeyPairs };
  let sqliteDrain: { rate: number; cpuPerAck: number };
  try {
    sqlite = await measuredSends(onSqlite.url, MANY_SENDERS, perSender, onSqlite.pid);
    sqliteDrain = await measuredDrains(onSqlite.url, MANY_SENDERS, backlog, onSqlite.pid, sqlite.keys);
  } finally {
    await onSqlite.stop();
  }
  const baseline = (value: number) => ({ name: 'SQLite store, same load', value });
  return [
    {
      section: 'durable',
      name: `send acked, one node on PostgreSQL (${MANY_SENDERS} senders, window 50, 1 KiB)`,
      value: postgres.rate,
      unit: 'env/s',
      baseline: baseline(sqlite.rate),
      ratio: ratioOf(postgres.rate, sqlite.rate, true),
    },
    {
      section: 'durable',
      name: `server CPU per acked send, one node on PostgreSQL (${MANY_SENDERS} senders; PostgreSQL's own CPU not counted)`,
      value: postgres.cpuPerSend,
      unit: 'µs',
      baseline: baseline(sqlite.cpuPerSend),
      ratio: ratioOf(postgres.cpuPerSend, sqlite.cpuPerSend, false),
    },
    {
      section: 'durable',
      name: `copies acked (settled, receipt owed), one node on PostgreSQL (${MANY_SENDERS} recipients draining ${backlog} each at once)`,
      value: postgresDrain.rate,
      unit: 'env/s',
      baseline: baseline(sqliteDrain.rate),
      ratio: ratioOf(postgresDrain.rate, sqliteDrain.rate, true),
    },
    {
      section: 'durable',
      name: `server CPU per acked copy, one node on PostgreSQL (${MANY_SENDERS} recipients; PostgreSQL's own CPU not counted)`,
      value: postgresDrain.cpuPerAck,
      unit: 'µs',
      baseline: baseline(sqliteDrain.cpuPerAck),
      ratio: ratioOf(postgresDrain.cpuPerAck, sqliteDrain.cpuPerAck, false),
    },
  ];
}
