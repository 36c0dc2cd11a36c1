/**
 * The server is killed with SIGKILL in the middle of a stream of sends and restarted on the same data
 * folder: every send it acknowledged survives, the sender's outbox resends what was not acknowledged
 * (idempotently), and the recipient gets every message exactly once, in order.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SentMessage } from '../../src/client/chat-client.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { Processes, assertBuilt, freePort, type Proc } from '../e2e/processes.js';
import { clientBarrier } from './barrier.js';
import { keysFor, Resources, serverDbPath, tag, waitOffline, waitUntil, withTimeout } from './harness.js';

const procs = new Processes();
const res = new Resources();

beforeAll(() => assertBuilt());
afterEach(async () => {
  await res.cleanup();
  await procs.cleanup();
});
afterAll(() => procs.removeDirs());

const LISTENING = /e2ee-chat server listening on port (\d+)/;
const TOTAL = 1000;
const KILL_AFTER = 300;

describe('crash recovery', () => {
  it('after a kill -9 mid-stream, every acknowledged send survives and the outbox resends the rest: all 1,000 arrive once, in order', async () => {
    const dir = procs.tempDir('crash');
    const data = join(dir, 'data');
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const startServer = async (label: string): Promise<Proc> => {
      const server = procs.spawn(label, ['server'], {
        cwd,
        // The rate limit is not under test here (a 1,000-message burst from one connection would trip it).
        env: { PORT: String(port), HOST: '127.0.0.1', E2EE_CHAT_DATA: data, E2EE_CHAT_RATE_LIMIT: '1000000', E2EE_CHAT_RATE_BURST: '1000000' },
      });
      await server.waitFor('stdout', LISTENING);
      return server;
    };

    let server = await startServer('server');
    const bobKeys = await keysFor();
    const bob0 = await res.client(url, 'bob', { keys: bobKeys });
    await bob0.client.close();
    const alice = await res.client(url, 'alice', { ackTimeoutMs: 5000 });
    await waitOffline(alice.client, 'bob');
    // Pin bob's keys once, so the burst below is all `send` events.
    await alice.client.peerKeys('bob');

    let killed = false;
    const ackedBeforeKill = new Map<string, SentMessage>();
    const results: Array<SentMessage | undefined> = new Array(TOTAL);
    alice.client.on('sent', () => {
      if (!killed && alice.sent.length >= KILL_AFTER) {
        killed = true;
        server.kill('SIGKILL');
      }
    });
    // Fired without waiting for one another.
    const sends = Array.from({ length: TOTAL }, (_, i) =>
      alice.client.send('bob', tag(i)).then((s) => {
        results[i] = s;
        if (!killed) ackedBeforeKill.set(s.id, s);
        return s;
      }),
    );

    const dead = await server.exited;
    expect(dead.signal).toBe('SIGKILL');
    expect(killed).toBe(true);
    const snapshot = [...ackedBeforeKill.values()];
    expect(snapshot.length).toBeGreaterThan(KILL_AFTER / 2);
    expect(snapshot.length).toBeLessThan(TOTAL);
    expect(snapshot.every((s) => s.status === 'queued')).toBe(true);
    // Not everything went through: the rest waits in the outbox.
    expect((await alice.messages.outbox()).length).toBeGreaterThan(0);

    // Before the restart, straight from the file the dead server left: every acknowledged send is there.
    const survivors = new Database(serverDbPath(data), { readonly: true, fileMustExist: true });
    try {
      const stored = new Set((survivors.prepare("SELECT client_id FROM queue WHERE recipient = 'bob'").all() as Array<{ client_id: string }>).map((r) => r.client_id));
      for (const s of snapshot) expect(stored.has(s.id), `acknowledged before the kill but not in the file: ${s.id}`).toBe(true);
    } finally {
      survivors.close();
    }

    server = await startServer('server (restarted)');
    // alice reconnects by herself and her outbox drains: every send() settles, none fails.
    const settled = await withTimeout(Promise.all(sends), 20_000).catch((err: unknown) => {
      throw new Error(`only ${results.filter(Boolean).length} of ${TOTAL} sends settled after the restart: ${String(err)}`);
    });
    expect(alice.reconnects).toBeGreaterThanOrEqual(1);
    // Accepted by the server (queued for offline bob), or, for sends made while the server was down,
    // kept in the outbox (the promise resolves at once; delivery below proves they went out).
    expect(settled.every((s) => s.status === 'queued' || s.status === 'outbox')).toBe(true);
    expect(alice.failed).toEqual([]);
    await waitUntil(async () => ((await alice.messages.outbox()).length === 0 ? true : undefined), 30_000, 'the outbox to drain');
    // A resend of an envelope stored before the kill is a duplicate: it kept its first server id.
    for (const s of snapshot) expect(results.find((r) => r?.id === s.id)?.serverId).toBe(s.serverId);

    // The store holds each message once: 1,000 rows for bob, 1,000 distinct client ids.
    const db = new Database(serverDbPath(data), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT client_id FROM queue WHERE recipient = 'bob' ORDER BY seq").all() as Array<{ client_id: string }>;
      expect(rows).toHaveLength(TOTAL);
      expect(new Set(rows.map((r) => r.client_id)).size).toBe(TOTAL);
    } finally {
      db.close();
    }

    const bob = await res.client(url, 'bob', { keys: bobKeys });
    await waitUntil(() => (bob.received.length >= TOTAL ? true : undefined), 30_000, `bob to receive ${TOTAL} messages`);
    // A third user's message, queued after all of alice's: once bob shows it, nothing of alice's is still
    // on its way. It is the last one shown; set it aside so only alice's are counted below.
    const barrier = await clientBarrier(await res.client(url, 'zed'), bob);
    expect(bob.received.pop()?.body).toBe(barrier);
    const bodies = bob.received.map((m) => m.body);
    expect(bob.received).toHaveLength(TOTAL);
    expect(bob.rejected).toEqual([]);
    // Exactly once each, nothing extra.
    expect(new Set(bodies).size).toBe(TOTAL);
    expect([...bodies].sort()).toEqual(Array.from({ length: TOTAL }, (_, i) => tag(i)));
    const receivedIds = new Set(bob.received.map((m) => m.id));
    for (const s of snapshot) expect(receivedIds.has(s.id), `acknowledged before the kill: ${s.id}`).toBe(true);
    // In the order alice's client committed them to its outbox (its history order). That this is also
    // the order of the send() calls is a separate property: see send-order.test.ts.
    const outgoing = (await alice.messages.history({ peer: 'bob' })).filter((r) => r.direction === 'out').map((r) => r.body);
    expect(bodies).toEqual(outgoing);

    // Everything acknowledged: the queue in the SQLite file is empty.
    await waitUntil(
      () => {
        const check = new Database(serverDbPath(data), { readonly: true, fileMustExist: true });
        try {
          return (check.prepare('SELECT count(*) AS n FROM queue').get() as { n: number }).n === 0 ? true : undefined;
        } finally {
          check.close();
        }
      },
      10_000,
      'the queue table to empty',
    );
    await res.cleanup();
    expect((await server.stop('SIGTERM')).code).toBe(0);
    const after = new Database(serverDbPath(data), { readonly: true, fileMustExist: true });
    try {
      expect(after.prepare('SELECT count(*) AS n FROM queue').get()).toEqual({ n: 0 });
    } finally {
      after.close();
    }
    // The quotas count nothing for bob either (the store sums them from the queue as it opens).
    const store = new SqliteServerStore(data);
    try {
      expect(await store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
      expect(await store.serverQueueBytes()).toBe(0);
    } finally {
      await store.close();
    }
  });
});
