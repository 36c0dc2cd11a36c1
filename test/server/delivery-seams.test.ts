/**
 * The seams a cluster will use, exercised in one process (no second node is needed to pin them):
 * receipts and prekeys.low leave as broadcasts to the address's room through the Socket.IO adapter (the part
 * a Redis adapter replaces), an envelope written to the store by someone else reaches a connected
 * recipient when the DeliveryNotifier's side wakes the user's pumps, and who is online is read through
 * the PresenceRegistry only.
 */
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { base64urlDecode, base64urlEncode as e, randomBytes } from '../../src/crypto/bytes.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import type { IncomingMessage, PreKeysLowEvent, ReceiptEvent } from '../../src/protocol/events.js';
import { createChatServer, type ChatServer } from '../../src/server/app.js';
import { loadServerConfig } from '../../src/server/config.js';
import { InProcessDeliveryNotifier, type RoomPumps } from '../../src/server/delivery-notifier.js';
import { newServerId } from '../../src/server/ids.js';
import { InProcessPresence } from '../../src/server/presence.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { removeDir } from '../helpers/test-server.js';

interface Broadcast {
  event: string;
  rooms: string[];
}

interface Connected {
  socket: Socket;
  messages: IncomingMessage[];
  receipts: ReceiptEvent[];
  low: PreKeysLowEvent[];
}

describe('delivery and presence seams', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'e2ee-chat-seams-'));
  const store = new SqliteServerStore(dataDir);
  const presence = new InProcessPresence();
  const broadcasts: Broadcast[] = [];
  const sockets: Socket[] = [];
  let pumps!: RoomPumps;
  let server: ChatServer;
  let url: string;
  let userKeys: UserKeyPairs;

  beforeAll(async () => {
    // A user connected to another node, as a shared registry would report them.
    await presence.add('remote', 'a-socket-on-another-node');
    void installNodeCrypto({ mlkem: false });
    server = createChatServer({
      config: { ...loadServerConfig({}), host: '127.0.0.1', port: 0, dataDir },
      store,
      logger: pino({ level: 'silent' }),
      presence,
      deliveryNotifier: (roomPumps) => {
        pumps = roomPumps;
        return new InProcessDeliveryNotifier(roomPumps);
      },
    });
    // Everything that crosses the adapter, as a cluster adapter would see it.
    const adapter = server.io.of('/').adapter;
    const broadcast = adapter.broadcast.bind(adapter);
    adapter.broadcast = (packet: { data: unknown[] }, opts: { rooms: Set<string> }) => {
      broadcasts.push({ event: String(packet.data[0]), rooms: [...opts.rooms] });
      broadcast(packet, opts as Parameters<typeof broadcast>[1]);
    };
    url = `http://127.0.0.1:${(await server.listen()).port}`;
    userKeys = await keysFor();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await server.close();
    removeDir(dataDir);
  });

  async function connect(username: string): Promise<Connected> {
    const socket = await rawSocket(url);
    sockets.push(socket);
    const c: Connected = { socket, messages: [], receipts: [], low: [] };
    socket.on('message', (m: IncomingMessage) => c.messages.push(m));
    socket.on('receipt', (r: ReceiptEvent) => c.receipts.push(r));
    socket.on('prekeys.low', (p: PreKeysLowEvent) => c.low.push(p));
    expect((await registerRaw(socket, username, userKeys)).ok).toBe(true);
    return c;
  }

  it('pushes receipts and prekeys.low as broadcasts to address rooms through the adapter; messages go to each connection', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const sent = await call(alice.socket, 'send', { to: 'bob', id: 'seam-message-0001', envelope: hybridEnvelope() });
    expect(sent).toMatchObject({ ok: true });
    await waitUntil(() => (bob.messages.length === 1 ? true : undefined), 5000, 'the message');
    expect(await call(bob.socket, 'ack', { ids: [bob.messages[0]!.id] })).toMatchObject({ ok: true, acknowledged: 1 });
    await waitUntil(() => (alice.receipts.length === 1 ? true : undefined), 5000, 'the receipt');
    expect(alice.receipts[0]).toMatchObject({ id: sent.id, clientId: 'seam-message-0001', to: 'bob' });

    // Bob publishes one one-time key of each kind: the fetch that takes them leaves him below the threshold.
    const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(base64urlDecode(userKeys.signing.d)), Date.now());
    const kem = (k: { id: number; publicKey: Uint8Array; signature: Uint8Array }) => ({ id: k.id, publicKey: e(k.publicKey), signature: e(k.signature) });
    const upload = await call(bob.socket, 'prekeys.upload', {
      identity: { dhKey: e(keys.identity.dhKeyPair.publicKey), binding: e(keys.identity.binding) },
      signedPreKey: { id: keys.currentSignedId, publicKey: e(keys.currentSignedPreKey.keyPair.publicKey), signature: e(keys.currentSignedPreKey.signature) },
      lastResortKemPreKey: kem(keys.lastResortKemPreKey),
      oneTimePreKeys: [{ id: 1, publicKey: e(randomBytes(32)) }],
    });
    expect(upload.ok, JSON.stringify(upload.error)).toBe(true);
    expect(await call(alice.socket, 'prekeys.bundle', { username: 'bob' })).toMatchObject({ ok: true });
    await waitUntil(() => (bob.low.length === 1 ? true : undefined), 5000, 'prekeys.low');

    // Protocol-1 connections are device 1 of their user (devices-v2 §5.9): their address rooms; a
    // receipt goes to the room of the address's connections that take protocol 1's single receipts.
    expect(broadcasts).toContainEqual({ event: 'receipt', rooms: ['receipts1:alice/1'] });
    expect(broadcasts).toContainEqual({ event: 'prekeys.low', rooms: ['device:bob/1'] });
    // Messages are flow-controlled per connection (each its own window): never a room broadcast.
    expect(broadcasts.filter((b) => b.event === 'message')).toEqual([]);
  });

  it('delivers an envelope written to the store elsewhere once the recipient room is woken', async () => {
    const sender = await connect('sender');
    const carol = await connect('carol');
    // Barrier: once carol has a first message, her pump has read her (empty) backlog and is caught up.
    expect(await call(sender.socket, 'send', { to: 'carol', envelope: hybridEnvelope() })).toMatchObject({ ok: true });
    await waitUntil(() => (carol.messages.length === 1 ? true : undefined), 5000, 'the first message');

    // Another node's write to the shared store: this node's notifier is never told of it.
    const id = newServerId();
    const now = Date.now();
    const stored = await store.enqueue(
      { id, sender: 'sender', senderDevice: 1, recipient: 'carol', recipientDevice: 1, clientId: id, sentAt: now, expiresAt: now + 60_000, envelope: JSON.stringify(hybridEnvelope()) },
      { maxCount: 1000, maxBytes: 10_000_000 },
    );
    expect(stored.status).toBe('stored');
    // What the other node's notifier publishes, arriving here: carol's pumps read the store again.
    pumps.wake('carol');
    await waitUntil(() => (carol.messages.length === 2 ? true : undefined), 5000, 'the envelope stored elsewhere');
    expect(carol.messages[1]).toMatchObject({ id, from: 'sender', to: 'carol' });
  });

  it('reads who is online from the presence registry only: a user on another node is listed and counted', async () => {
    const dora = await connect('dora');
    const listed = await call(dora.socket, 'users', {});
    expect(listed.users).toContain('remote');
    expect(listed.users).toContain('dora');
    const health = (await (await fetch(`${url}/health`)).json()) as { onlineUsers: number };
    expect(health.onlineUsers).toBe(await presence.userCount());
    expect(await presence.isOnline('remote')).toBe(true);
  });
});
