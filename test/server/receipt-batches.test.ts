/**
 * Receipts in batches (docs/PROTOCOL.md §7.12): a sender whose connection asked for them in its
 * handshake gets the receipts of one acknowledgement in one `receipts` event, at login too; one that
 * did not ask gets one `receipt` event each, exactly as before. A sender's connections of both kinds
 * each get every receipt once.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { IncomingMessage, ReceiptEvent } from '../../src/protocol/events.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

interface Peer {
  socket: Socket;
  messages: IncomingMessage[];
  /** Every receipt frame as it came: `receipt` events as one-entry lists marked single. */
  frames: Array<{ event: 'receipt' | 'receipts'; receipts: ReceiptEvent[] }>;
}

describe('receipts in batches', () => {
  let srv: TestServer;
  let keys: UserKeyPairs;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    srv = await startTestServer();
    keys = await keysFor();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  async function peer(username: string, batches: boolean, login = false): Promise<Peer> {
    const socket = await rawSocket(srv.url, batches ? { receiptBatches: true } : undefined);
    sockets.push(socket);
    const p: Peer = { socket, messages: [], frames: [] };
    socket.on('message', (m: IncomingMessage) => p.messages.push(m));
    socket.on('receipt', (r: ReceiptEvent) => p.frames.push({ event: 'receipt', receipts: [r] }));
    socket.on('receipts', (b: { receipts: ReceiptEvent[] }) => p.frames.push({ event: 'receipts', receipts: b.receipts }));
    const ack = login ? await loginRaw(socket, username, keys) : await registerRaw(socket, username, keys);
    expect(ack.ok).toBe(true);
    return p;
  }

  const send = (from: Peer, to: string, id: string) => call(from.socket, 'send', { to, id, envelope: hybridEnvelope() }) as Promise<RawAck & { id: string }>;
  const received = (p: Peer) => p.frames.reduce((n, f) => n + f.receipts.length, 0);

  it('gives a connection that asked one event per acknowledgement, and one that did not one event per receipt', async () => {
    const batched = await peer('rb-alice', true);
    const bob = await peer('rb-bob', false);
    const single = await peer('rb-alice', false, true);
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await send(batched, 'rb-bob', `batch-message-00${i}`));
    await waitUntil(() => (bob.messages.length >= 3 ? true : undefined), 5000, 'three messages');
    const ids = sent.map((s) => s.id);
    expect(await call(bob.socket, 'ack', { ids: ids.slice(0, 2), rejected: [{ id: ids[2], reason: 'unsupported' }] })).toStrictEqual({ ok: true, acknowledged: 3 });
    await waitUntil(() => (received(batched) >= 3 && received(single) >= 3 ? true : undefined), 5000, 'three receipts on each connection');
    const expected = [
      { id: ids[0], clientId: 'batch-message-000', to: 'rb-bob', deliveredAt: expect.any(Number), status: 'delivered' },
      { id: ids[1], clientId: 'batch-message-001', to: 'rb-bob', deliveredAt: expect.any(Number), status: 'delivered' },
      { id: ids[2], clientId: 'batch-message-002', to: 'rb-bob', deliveredAt: expect.any(Number), status: 'unreadable', reason: 'unsupported' },
    ];
    expect(batched.frames).toStrictEqual([{ event: 'receipts', receipts: expected }]);
    expect(single.frames).toStrictEqual(expected.map((r) => ({ event: 'receipt', receipts: [r] })));
    expect(bob.frames).toEqual([]);
  });

  it('hands the receipts owed at login in one event to a connection that asked', async () => {
    const alice = await peer('rb-carol', true);
    const bob = await peer('rb-dave', false);
    const a = await send(alice, 'rb-dave', 'owed-message-0001');
    const b = await send(alice, 'rb-dave', 'owed-message-0002');
    alice.socket.close();
    await waitUntil(() => (bob.messages.length >= 2 ? true : undefined), 5000, 'two messages');
    expect(await call(bob.socket, 'ack', { ids: [a.id, b.id] })).toMatchObject({ ok: true, acknowledged: 2 });
    const again = await peer('rb-carol', true, true);
    await waitUntil(() => (received(again) >= 2 ? true : undefined), 5000, 'two owed receipts');
    expect(again.frames.map((f) => [f.event, f.receipts.map((r) => r.id)])).toEqual([['receipts', [a.id, b.id]]]);
  });
});
