/**
 * A device that cannot read an envelope settles it with `ack.rejected`: the envelope leaves the queue
 * and frees the delivery window like an acknowledged one, and the sender's receipt says `unreadable`
 * with the reason, live or replayed at its next login; ordinary acks give `delivered` receipts.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage, ReceiptEvent } from '../../src/protocol/events.js';
import { DELIVERY_WINDOW } from '../../src/protocol/limits.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';

interface Peer {
  socket: Socket;
  messages: IncomingMessage[];
  receipts: ReceiptEvent[];
}

describe('unreadable receipts', () => {
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

  async function peer(username: string, login = false): Promise<Peer> {
    const socket = await rawSocket(srv.url);
    sockets.push(socket);
    const p: Peer = { socket, messages: [], receipts: [] };
    socket.on('message', (m: IncomingMessage) => p.messages.push(m));
    socket.on('receipt', (r: ReceiptEvent) => p.receipts.push(r));
    const ack = login ? await loginRaw(socket, username, keys) : await registerRaw(socket, username, keys);
    expect(ack.ok).toBe(true);
    return p;
  }

  const send = (from: Peer, to: string, id: string) => call(from.socket, 'send', { to, id, envelope: hybridEnvelope() }) as Promise<RawAck & { id: string }>;

  it('answers ack.rejected with an unreadable receipt carrying the reason, and ids with a delivered one', async () => {
    const alice = await peer('ua-alice');
    const bob = await peer('ua-bob');
    const readable = await send(alice, 'ua-bob', 'readable-message-01');
    const unreadable = await send(alice, 'ua-bob', 'unreadable-msg-001');
    await waitUntil(() => (bob.messages.length >= 2 ? true : undefined), 5000, 'two messages');
    expect(await call(bob.socket, 'ack', { ids: [readable.id], rejected: [{ id: unreadable.id, reason: 'decryption_failed' }] })).toStrictEqual({ ok: true, acknowledged: 2 });
    await waitUntil(() => (alice.receipts.length >= 2 ? true : undefined), 5000, 'two receipts');
    expect(alice.receipts).toStrictEqual([
      { id: readable.id, clientId: 'readable-message-01', to: 'ua-bob', deliveredAt: expect.any(Number), status: 'delivered' },
      { id: unreadable.id, clientId: 'unreadable-msg-001', to: 'ua-bob', deliveredAt: expect.any(Number), status: 'unreadable', reason: 'decryption_failed' },
    ]);
    expect(await srv.store.queueUsage('ua-bob')).toEqual({ count: 0, bytes: 0 });
  });

  it('replays owed unreadable receipts, with their reason, at the sender\'s next login', async () => {
    const carol = await peer('ua-carol');
    const dave = await peer('ua-dave');
    const sent = await send(carol, 'ua-dave', 'changed-keys-msg-01');
    carol.socket.close();
    await waitUntil(() => (dave.messages.length >= 1 ? true : undefined), 5000, 'the message');
    expect(await call(dave.socket, 'ack', { rejected: [{ id: sent.id, reason: 'peer_key_changed' }] })).toMatchObject({ ok: true, acknowledged: 1 });
    const again = await peer('ua-carol', true);
    await waitUntil(() => (again.receipts.length >= 1 ? true : undefined), 5000, 'the owed receipt');
    expect(again.receipts).toStrictEqual([
      { id: sent.id, clientId: 'changed-keys-msg-01', to: 'ua-dave', deliveredAt: expect.any(Number), status: 'unreadable', reason: 'peer_key_changed' },
    ]);
  });

  it('frees the delivery window for rejected envelopes as for acknowledged ones', async () => {
    const erin = await peer('ua-erin');
    const fred = await peer('ua-fred');
    const total = DELIVERY_WINDOW + 3;
    const sends: Array<Promise<RawAck>> = [];
    for (let i = 0; i < total; i++) sends.push(call(erin.socket, 'send', { to: 'ua-fred', envelope: hybridEnvelope({ blocks: 1 }) }));
    const acks = await Promise.all(sends);
    expect(acks.every((a) => a.ok)).toBe(true);
    await waitUntil(() => (fred.messages.length >= DELIVERY_WINDOW ? true : undefined), 10_000, 'a full window');
    // The window is full: nothing more comes until fred settles some. He rejects all of them.
    const first = fred.messages.slice(0, DELIVERY_WINDOW).map((m) => ({ id: m.id, reason: 'unsupported' as const }));
    for (let i = 0; i < first.length; i += 500) {
      expect(await call(fred.socket, 'ack', { rejected: first.slice(i, i + 500) })).toMatchObject({ ok: true });
    }
    await waitUntil(() => (fred.messages.length >= total ? true : undefined), 10_000, 'the envelopes behind the window');
    expect(new Set(fred.messages.map((m) => m.id)).size).toBe(total);
  });

  it('refuses an unknown reason with bad_request naming the member, and settles nothing', async () => {
    const gina = await peer('ua-gina');
    const hank = await peer('ua-hank');
    const sent = await send(gina, 'ua-hank', 'bad-reason-message');
    await waitUntil(() => (hank.messages.length >= 1 ? true : undefined), 5000, 'the message');
    const refused = await call(hank.socket, 'ack', { rejected: [{ id: sent.id, reason: 'boring' }] });
    expect(refused.error?.code).toBe('bad_request');
    expect(refused.error?.message).toMatch(/^rejected\.0\.reason: /);
    expect(await srv.store.queueUsage('ua-hank')).toMatchObject({ count: 1 });
  });
});
