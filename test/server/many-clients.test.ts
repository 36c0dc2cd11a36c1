import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import { base64urlDecode, base64urlEncode } from '../../src/crypto/bytes.js';
import type { IncomingMessage } from '../../src/protocol/events.js';
import type { HybridEnvelope } from '../../src/protocol/schemas.js';
import { fakeEnvelope } from '../../bench/lib/wire-client.js';
import { withConcurrency } from '../../bench/lib/load-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';

const CLIENTS = 1000;
const PER_CLIENT = 10;

/** The sender's index and the message's sequence number, carried in the envelope's iv. */
function tag(from: number, seq: number): string {
  const iv = new Uint8Array(16);
  const view = new DataView(iv.buffer);
  view.setUint32(0, from);
  view.setUint32(4, seq);
  return base64urlEncode(iv);
}

function untag(iv: string): { from: number; seq: number } {
  const view = new DataView(base64urlDecode(iv).buffer);
  return { from: view.getUint32(0), seq: view.getUint32(4) };
}

describe(`${CLIENTS} concurrent authenticated clients`, () => {
  let srv: TestServer;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    srv = await startTestServer({ rateLimitPerSecond: 100_000, rateLimitBurst: 100_000 });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('each send and receive 10 messages: nothing lost, duplicated or reordered', async () => {
    const keys = await keysFor();
    const received: Array<Array<{ from: number; seq: number }>> = Array.from({ length: CLIENTS }, () => []);
    await withConcurrency(CLIENTS, 100, async (i) => {
      const socket = await rawSocket(srv.url);
      sockets[i] = socket;
      socket.on('message', (m: IncomingMessage) => {
        received[i]!.push(untag((m.envelope as HybridEnvelope).jwe.iv));
        socket.emit('ack', { ids: [m.id] });
      });
      const ack = await registerRaw(socket, `user${i}`, keys);
      expect(ack.ok, `user${i}: ${ack.error?.code}`).toBe(true);
    });

    // Everyone at once: each client sends its 10 to its partner (0↔1, 2↔3, ...) without waiting.
    const base = fakeEnvelope(512);
    const acks = await Promise.all(
      sockets.flatMap((socket, i) =>
        Array.from({ length: PER_CLIENT }, (_, seq) =>
          call(socket, 'send', { to: `user${i ^ 1}`, envelope: { ...base, jwe: { ...base.jwe, iv: tag(i, seq) } } }),
        ),
      ),
    );
    expect(acks.filter((a) => !a.ok)).toEqual([]);
    await waitUntil(() => (received.every((r) => r.length >= PER_CLIENT) ? true : undefined), 30_000, 'all deliveries');
    // A barrier: one more message each (seq PER_CLIENT), queued behind anything extra; once every client
    // has it, nothing else is on its way.
    const barriers = await Promise.all(
      sockets.map((socket, i) => call(socket, 'send', { to: `user${i ^ 1}`, envelope: { ...base, jwe: { ...base.jwe, iv: tag(i, PER_CLIENT) } } })),
    );
    expect(barriers.filter((a) => !a.ok)).toEqual([]);
    await waitUntil(() => (received.every((r) => r.length >= PER_CLIENT + 1) ? true : undefined), 30_000, 'the barriers');

    for (let i = 0; i < CLIENTS; i++) {
      expect(received[i], `user${i}`).toEqual(Array.from({ length: PER_CLIENT + 1 }, (_, seq) => ({ from: i ^ 1, seq })));
    }
    // Every acknowledgement reached the server: nothing stays queued.
    const deadline = Date.now() + 10_000;
    let queued = Infinity;
    while (queued > 0 && Date.now() < deadline) {
      const usage = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => srv.store.queueUsage(`user${i}`)));
      queued = usage.reduce((sum, u) => sum + u.count, 0);
      if (queued > 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(queued).toBe(0);
  }, 120_000);
});
