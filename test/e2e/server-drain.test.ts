/**
 * `e2ee-chat server` stopped by SIGTERM while a client is sending (src/server/drain.ts): /health turns
 * 503 "draining", the process logs each phase and exits 0 within its bound, the SQLite store is closed
 * cleanly (its WAL checkpointed away), and after a restart every message the sender sent is delivered
 * exactly once and in order: the acknowledged ones were in the store, the unacknowledged ones were
 * resent by the client once it had reconnected on its own.
 *
 * The clients are the library (ChatClient) in this process; the server is a real process, signalled
 * for real.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { useProcesses, World } from './world.js';

const procs = useProcesses();

/** Structured log lines (pino's JSON) a process printed. */
function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('server drain on SIGTERM', () => {
  it('says draining, exits 0 within its bound, and loses or repeats nothing a client was sending', async () => {
    const w = await World.create(procs, 'drain');
    // Twenty events a second: the sends are still going when the clients are moved.
    const env = { E2EE_CHAT_DRAIN_SECONDS: '8', E2EE_CHAT_DRAIN_NOTICE_SECONDS: '1', E2EE_CHAT_RATE_LIMIT: '20', E2EE_CHAT_RATE_BURST: '5' };
    const first = await w.startServer({ env });

    // The recipient registers (publishing its prekeys) and goes offline: what is sent to it waits in the store.
    const ratchet = new MemoryRatchetStore();
    const rita = await connectTestClient(w.url, 'rita', { ratchet });
    rita.client.close();
    const sam = await connectTestClient(w.url, 'sam');
    const acknowledged: string[] = [];
    sam.client.on('sent', (m) => acknowledged.push(m.id));
    const disconnects: string[] = [];
    sam.client.on('disconnected', ({ reason }) => disconnects.push(reason));

    // Sent one after another by the outbox, as fast as the server takes them, while the server stops.
    const total = 60;
    for (let i = 0; i < total; i++) void sam.client.send('rita', `message ${i}`);
    await waitUntil(() => (acknowledged.length >= 5 ? true : undefined), 15_000, 'five acknowledged sends');
    const signalledAt = Date.now();
    first.kill('SIGTERM');

    // The notice second: the node says it is draining (for a balancer) and turns new clients away.
    await first.waitFor('stdout', /"phase":"draining"/);
    const health = await fetch(`http://127.0.0.1:${w.port}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'draining' });

    const exit = await first.waitForExit(15_000);
    expect(exit.code, first.describe()).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(8_000);
    const phases = logLines(first.stdout).map((l) => l.phase).filter((p) => p !== undefined);
    expect(phases).toEqual(['draining', 'moving', 'moved', 'closed']);
    expect(logLines(first.stdout).at(-1)).toMatchObject({ msg: 'stopped' });
    // Nothing failed on the way out (a write after the store closed, say).
    expect(logLines(first.stdout).filter((l) => Number(l.level) >= 50)).toEqual([]);
    // The client was moved (a dropped transport, which it reconnects after), not dropped for good.
    expect(disconnects).toEqual(['transport close']);
    // SQLite's last connection closed cleanly: the WAL was checkpointed into the database and removed.
    const wal = join(w.data, 'e2ee-chat.sqlite-wal');
    expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
    const acknowledgedBeforeRestart = [...acknowledged];
    expect(acknowledgedBeforeRestart.length).toBeLessThan(total);

    // Back up: the sender reconnects on its own and its outbox sends what was not acknowledged.
    const second = await w.startServer({ env, label: 'server (restarted)' });
    await waitUntil(() => (acknowledged.length >= total ? true : undefined), 30_000, 'every send acknowledged');
    expect(new Set(acknowledged).size).toBe(total);

    const ritaAgain = await connectTestClient(w.url, 'rita', { keys: rita.identity.keys, peers: rita.peers, messages: rita.messages, ratchet });
    // A barrier: messages arrive in order, so once it is in, everything before it is too.
    await sam.client.send('rita', 'barrier');
    // Read from her message store (what she is shown): events may come before a new client's listener.
    const fromSam = async () => (await ritaAgain.messages.history({ peer: 'sam' })).filter((r) => r.direction === 'in');
    await waitUntil(async () => ((await fromSam()).some((r) => r.body === 'barrier') ? true : undefined), 20_000, 'the barrier message');
    expect((await fromSam()).map((r) => r.body)).toEqual([...Array.from({ length: total }, (_, i) => `message ${i}`), 'barrier']);
    const receivedIds = new Set((await fromSam()).map((r) => r.id));
    for (const id of acknowledgedBeforeRestart) expect(receivedIds.has(id)).toBe(true);

    sam.client.close();
    ritaAgain.client.close();
    expect((await second.stop()).code).toBe(0);
  }, 90_000);
});
