/**
 * Messages that cannot be read (issue 9, holes 3 and 6): acknowledged with `ack.rejected` and a reason so
 * they leave the queue, recorded once as unreadable records the user is shown, reported to the sender by
 * an unreadable receipt; envelopes refused for a key change kept sealed and opened after `trust`; only
 * passing local failures retried, a bounded number of times, without holding back later envelopes.
 */
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { INBOUND_ATTEMPTS } from '../../src/client/inbound.js';
import { unreadableRecordId, type HistoryRecord } from '../../src/client/stores.js';
import { base64urlEncode, utf8Encode } from '../../src/crypto/bytes.js';
import { pickleSessionRecord, unpickleSessionRecord } from '../../src/e2ee/ratchet/pickle.js';
import { encryptMessage } from '../../src/e2ee/ratchet/session-builder.js';
import { DELIVERY_WINDOW } from '../../src/protocol/limits.js';
import { call, connectTestClient, keysFor, loginRaw, rawSocket, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(clients.splice(0).map((c) => c.client.close()));
  for (const s of servers.splice(0)) {
    await s.stop();
    removeDir(s.dataDir);
  }
});

async function server(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(overrides);
  servers.push(s);
  return s;
}

async function user(url: string, name: string, opts: Parameters<typeof connectTestClient>[2] = {}) {
  const ratchet = (opts.ratchet as MemoryRatchetStore | undefined) ?? new MemoryRatchetStore();
  const c = await connectTestClient(url, name, { ...opts, ratchet });
  clients.push(c);
  return Object.assign(c, { ratchet });
}

/**
 * What a hostile registered peer can do with the e2ee functions: ratchet messages that are authentic
 * (right keys, MAC checks out) but whose plaintext is not a message payload. Advances and saves the
 * hostile sender's own session, as a real sender would.
 */
async function authenticGarbage(sender: { ratchet: MemoryRatchetStore }, peer: string, plaintexts: readonly string[]): Promise<string[]> {
  const saved = await sender.ratchet.loadSession(peer);
  if (!saved) throw new Error(`no session with ${peer} to abuse`);
  const record = unpickleSessionRecord(saved.value.record);
  const bodies = plaintexts.map((p) => base64urlEncode(encryptMessage(record, utf8Encode(p))));
  expect(await sender.ratchet.saveSession(peer, { ...saved.value, record: pickleSessionRecord(record) }, saved.version)).toBe(true);
  return bodies;
}

/** Sends ratchet bodies from `name` over a raw connection, one at a time; returns the server ids. */
async function sendRaw(url: string, name: string, keys: TestClient['identity']['keys'], to: string, bodies: readonly string[]): Promise<string[]> {
  const socket = await rawSocket(url);
  sockets.push(socket);
  expect((await loginRaw(socket, name, keys)).ok).toBe(true);
  const ids: string[] = [];
  for (const [i, body] of bodies.entries()) {
    const ack = await call(socket, 'send', { to, id: `hostile-${String(i).padStart(16, '0')}`, envelope: { type: 'ratchet', v: 1, body } });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    ids.push(ack.id as string);
  }
  return ids;
}

/** Every `rejected` entry the server received in `ack` events. */
function rejectedAcks(srv: TestServer): Array<{ id: string; reason: string }> {
  return srv.frames.filter((f) => f.event === 'ack').flatMap((f) => (f.args[0] as { rejected?: Array<{ id: string; reason: string }> }).rejected ?? []);
}

function ackedIds(srv: TestServer): string[] {
  return srv.frames.filter((f) => f.event === 'ack').flatMap((f) => (f.args[0] as { ids?: string[] }).ids ?? []);
}

describe('messages that cannot be read', () => {
  it('an authentic ratchet message whose plaintext is not a payload is acknowledged as rejected at once, recorded unreadable once, never retried', async () => {
    const srv = await server();
    const victim = await user(srv.url, 'victim');
    const mallory = await user(srv.url, 'mallory');
    await mallory.client.send('victim', 'hello');
    await victim.waitFor(1);

    const [garbage] = await authenticGarbage(mallory, 'victim', ['{"this is": not json']);
    const [serverId] = await sendRaw(srv.url, 'mallory', mallory.identity.keys, 'victim', [garbage!]);
    const [rejected] = await victim.waitForRejected(1);
    expect(rejected).toMatchObject({ serverId, from: 'mallory', reason: 'decryption_failed', held: false, recordId: unreadableRecordId(serverId!) });
    await waitUntil(() => (rejectedAcks(srv).some((r) => r.id === serverId) ? true : undefined), 5000, 'the rejected ack');
    expect(rejectedAcks(srv).filter((r) => r.id === serverId)).toEqual([{ id: serverId, reason: 'decryption_failed' }]);
    expect(ackedIds(srv)).not.toContain(serverId);

    // In the history, undisplayed: whichever command shows messages shows it once.
    const unshown = await victim.messages.undisplayed();
    expect(unshown.map((r) => [r.peer, r.status, r.reason, r.serverId])).toEqual([
      ['mallory', 'received', undefined, expect.any(String)],
      ['mallory', 'unreadable', 'decryption_failed', serverId],
    ]);
  });

  it(`a hostile peer's ${DELIVERY_WINDOW + 3} authentic but unparseable messages do not jam the inbox: a later message still arrives, and the sender sees "unreadable" receipts [needs the server branch]`, async () => {
    const srv = await server();
    const victim = await user(srv.url, 'victim');
    const mallory = await user(srv.url, 'mallory');
    const alice = await user(srv.url, 'alice');
    await mallory.client.send('victim', 'hello');
    await victim.waitFor(1);
    const unreadable: Array<{ id: string; reason: string }> = [];
    mallory.client.on('unreadable', (u) => unreadable.push(u));

    const count = DELIVERY_WINDOW + 3;
    const bodies = await authenticGarbage(
      mallory,
      'victim',
      Array.from({ length: count }, (_, i) => (i % 3 === 0 ? `not json ${i}` : i % 3 === 1 ? '{"v":1}' : JSON.stringify({ v: 1, from: 'alice', to: 'victim', id: 'x'.repeat(22), sentAt: 1, body: 'names another sender' }))),
    );
    const ids = await sendRaw(srv.url, 'mallory', mallory.identity.keys, 'victim', bodies);

    await alice.client.send('victim', 'still reachable');
    await waitUntil(() => (victim.received.some((m) => m.body === 'still reachable') ? true : undefined), 120_000, 'the good message after the hostile ones');
    await victim.waitForRejected(count, 60_000);
    expect(new Set(victim.rejected.map((r) => r.serverId))).toEqual(new Set(ids));
    expect(victim.rejected.every((r) => r.reason === 'decryption_failed')).toBe(true);
    // Mallory is told, per message, that it could not be read (the server turns ack.rejected into receipts).
    await waitUntil(() => (unreadable.length >= count ? true : undefined), 30_000, `${count} unreadable receipts`);
    expect(unreadable.every((u) => u.reason === 'decryption_failed')).toBe(true);
  }, 240_000);

  it('a passing local failure is retried in place a bounded number of times; a permanent one is not retried at all, and neither holds back the next envelope', async () => {
    const srv = await server();
    /** Fails every recordIncoming of the message whose body is "stuck" (a store fault that outlasts the retries). */
    class StuckStore extends MemoryMessageStore {
      stuckAttempts = 0;
      otherAttempts = 0;
      override async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
        if (record.body === 'stuck') {
          this.stuckAttempts++;
          throw new Error('SQLITE_BUSY: database is locked (injected)');
        }
        this.otherAttempts++;
        return super.recordIncoming(record);
      }
    }
    const store = new StuckStore();
    const victim = await user(srv.url, 'victim', { messages: store });
    const mallory = await user(srv.url, 'mallory');
    await mallory.client.send('victim', 'hello');
    await victim.waitFor(1);
    await mallory.client.send('victim', 'stuck');
    const [garbage] = await authenticGarbage(mallory, 'victim', ['not json']);
    const [garbageId] = await sendRaw(srv.url, 'mallory', mallory.identity.keys, 'victim', [garbage!]);
    await mallory.client.send('victim', 'after');

    await waitUntil(() => (victim.received.some((m) => m.body === 'after') ? true : undefined), 10_000, 'the message behind the stuck one');
    expect(store.stuckAttempts).toBe(INBOUND_ATTEMPTS);
    expect(victim.rejected.map((r) => [r.serverId, r.reason])).toEqual([[garbageId, 'decryption_failed']]);
    // Recorded: hello, the unreadable record, after (each once; the garbage one was not retried).
    expect(store.otherAttempts).toBe(3);
    expect(victim.received.map((m) => m.body)).toEqual(['hello', 'after']);
  });

  it("messages refused because the sender's keys changed are kept sealed, and after trust they appear, in order and once", async () => {
    const first = await server();
    const second = await server();
    const vera = await user(first.url, 'vera');
    const walt = await user(first.url, 'walt');
    await vera.client.send('walt', 'hi');
    await walt.waitFor(1);

    // walt's name on another server (or a directory that now serves new keys for vera): vera re-keyed.
    const waltAgain = await user(second.url, 'walt', { keys: walt.identity.keys, peers: walt.peers, messages: walt.messages });
    const newVera = await user(second.url, 'vera', { keys: await keysFor(true) });
    await newVera.client.send('walt', 'it is me, really');
    await newVera.client.send('walt', 'new phone');
    const refused = await waltAgain.waitForRejected(2);
    expect(refused.map((r) => [r.reason, r.held])).toEqual([
      ['peer_key_changed', true],
      ['peer_key_changed', true],
    ]);
    await waitUntil(() => (rejectedAcks(second).length === 2 ? true : undefined), 5000, 'two rejected acks');
    expect(rejectedAcks(second).map((r) => r.reason)).toEqual(['peer_key_changed', 'peer_key_changed']);
    expect(waltAgain.received).toHaveLength(0);
    expect((await walt.messages.held('vera')).map((h) => h.serverId)).toEqual(refused.map((r) => r.serverId));

    await waltAgain.client.trustPeer('vera', await waltAgain.client.fetchKeys('vera'));
    expect(waltAgain.received.map((m) => m.body)).toEqual(['it is me, really', 'new phone']);
    expect(await walt.messages.held('vera')).toEqual([]);
    // Exactly once: opening again finds nothing held.
    expect(await waltAgain.client.openHeld('vera')).toBe(0);
    expect(waltAgain.received).toHaveLength(2);
    // And the session works on: a new message arrives normally.
    await newVera.client.send('walt', 'and more');
    expect((await waltAgain.waitFor(3)).map((m) => m.body)).toEqual(['it is me, really', 'new phone', 'and more']);
  });

  it('an envelope of an unknown type or version is rejected as unsupported, and a note to self is refused at the sender', async () => {
    const srv = await server();
    const victim = await user(srv.url, 'victim');
    const sender = await user(srv.url, 'sender');
    await expect(victim.client.send('victim', 'note to self')).rejects.toMatchObject({ code: 'bad_request' });

    // The server checks envelopes against the types it knows; a newer (or lying) server may not.
    const push = (m: object) => {
      for (const [, s] of srv.server.io.sockets.sockets) if (s.rooms.has('user:victim')) s.emit('message', m);
    };
    push({ id: 'U'.repeat(22), from: 'sender', fromDevice: 1, to: 'victim', toDevice: 1, sentAt: Date.now(), envelope: { type: 'ratchet', v: 2, body: 'AAAA' } });
    push({ id: 'V'.repeat(22), from: 'sender', fromDevice: 1, to: 'victim', toDevice: 1, sentAt: Date.now(), envelope: { type: 'sealed-sender', v: 1 } });
    const rejected = await victim.waitForRejected(2);
    expect(rejected.map((r) => [r.serverId, r.reason])).toEqual([
      ['U'.repeat(22), 'unsupported'],
      ['V'.repeat(22), 'unsupported'],
    ]);
    await waitUntil(() => (rejectedAcks(srv).length === 2 ? true : undefined), 5000, 'two rejected acks');
    expect(sender.rejected).toEqual([]);
  });
});

describe('receipts', () => {
  it('an unreadable receipt marks the outgoing record unreadable and emits "unreadable" with the reason; a plain receipt still means delivered', async () => {
    const srv = await server();
    const alice = await user(srv.url, 'alice');
    const bob = await user(srv.url, 'bob');
    const delivered: string[] = [];
    const unreadable: Array<{ id: string; reason: string }> = [];
    alice.client.on('delivered', (d) => delivered.push(d.id));
    alice.client.on('unreadable', (u) => unreadable.push({ id: u.id, reason: u.reason }));
    const first = await alice.client.send('bob', 'readable');
    await bob.waitFor(1);
    await waitUntil(() => (delivered.length === 1 ? true : undefined), 5000, 'a delivery receipt');
    expect(delivered).toEqual([first.id]);
    expect((await alice.messages.get(first.id, 'out'))!.status).toBe('delivered');

    // The server's unreadable receipt, as the server branch sends it for an ack.rejected entry. bob goes
    // away first: his real delivery receipt for this message would otherwise race the injected one.
    await bob.client.close();
    const second = await alice.client.send('bob', 'pretend bob could not read this');
    for (const [, s] of srv.server.io.sockets.sockets) {
      if (s.rooms.has('user:alice')) s.emit('receipt', { id: second.serverId, clientId: second.id, to: 'bob', toDevice: 1, deliveredAt: Date.now(), status: 'unreadable', reason: 'peer_key_changed' });
    }
    await waitUntil(() => (unreadable.length === 1 ? true : undefined), 5000, 'an unreadable receipt');
    expect(unreadable).toEqual([{ id: second.id, reason: 'peer_key_changed' }]);
    expect(await alice.messages.get(second.id, 'out')).toMatchObject({ status: 'unreadable', reason: 'peer_key_changed' });
  });

  it('bob rejecting a message makes the server send alice an unreadable receipt [needs the server branch]', async () => {
    const srv = await server();
    const alice = await user(srv.url, 'alice');
    const bob = await user(srv.url, 'bob');
    const unreadable: Array<{ id: string; reason: string }> = [];
    alice.client.on('unreadable', (u) => unreadable.push({ id: u.id, reason: u.reason }));
    await alice.client.send('bob', 'hello');
    await bob.waitFor(1);
    const [garbage] = await authenticGarbage(alice, 'bob', ['garbage']);
    await sendRaw(srv.url, 'alice', alice.identity.keys, 'bob', [garbage!]);
    await bob.waitForRejected(1);
    await waitUntil(() => (unreadable.length === 1 ? true : undefined), 10_000, 'the unreadable receipt');
    expect(unreadable[0]).toEqual({ id: 'hostile-0000000000000000', reason: 'decryption_failed' });
  });
});
