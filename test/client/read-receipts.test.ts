/**
 * Read receipts are ordinary end-to-end encrypted messages whose payload carries `receipt`: the reader's
 * client sends one when its user was shown messages (markRead), batched per sender; the sender's client
 * records `read` and is never shown the receipt as a message. A peer can only mark read what was sent to
 * it, and a server receipt arriving later does not undo `read`.
 */
import { describe, expect, it } from 'vitest';
import type { ReadReceipt } from '../../src/client/chat-client.js';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { messagePayloadSchema } from '../../src/e2ee/message-payload.js';
import { MAX_READ_RECEIPT_IDS } from '../../src/e2ee/read-receipt.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';

const ID = (c: string) => c.repeat(22);

function readEvents(c: TestClient): ReadReceipt[] {
  const events: ReadReceipt[] = [];
  c.client.on('read', (r) => events.push(r));
  return events;
}

describe('read receipts', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it('the messages bob was shown become read in alice\'s history, in one receipt; the receipt is no message on either side', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'rr-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'rr-bob'));
    const read = readEvents(alice);
    const bobSent: string[] = [];
    const bobDelivered: string[] = [];
    bob.client.on('sent', (s) => bobSent.push(s.id));
    bob.client.on('delivered', (d) => bobDelivered.push(d.id));

    const first = await alice.client.send('rr-bob', 'one');
    const second = await alice.client.send('rr-bob', 'two');
    const shown = await bob.waitFor(2);
    bob.client.markRead('rr-alice', shown.map((m) => m.id));
    await waitUntil(() => (read.length >= 1 ? true : undefined), 5000, 'the read receipt');
    expect(read).toEqual([{ by: 'rr-bob', ids: [first.id, second.id], readAt: expect.any(Number) }]);
    expect((await alice.messages.history({ peer: 'rr-bob' })).map((r) => [r.body, r.status])).toEqual([
      ['one', 'read'],
      ['two', 'read'],
    ]);

    // Barrier: a message bob writes after the receipt; its delivery receipt comes after the receipt's.
    const later = await bob.client.send('rr-alice', 'later');
    await waitUntil(() => (bobDelivered.includes(later.id) ? true : undefined), 5000, 'the later message delivered');
    expect(bobDelivered).toEqual([later.id]);
    expect(bobSent).toEqual([later.id]);
    expect(alice.received.map((m) => m.body)).toEqual(['later']);
    expect((await bob.messages.history({ peer: 'rr-alice' })).map((r) => r.body)).toEqual(['one', 'two', 'later']);
    expect((await alice.messages.undisplayed()).map((r) => r.body)).toEqual(['later']);
  });

  it('a peer naming messages that went to someone else, that it sent, or that do not exist changes nothing', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'rh-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'rh-bob'));
    const carol = track(await connectTestClient(servers.srv.url, 'rh-carol'));
    const read = readEvents(alice);
    const ignored: string[] = [];
    alice.client.on('debug', (d) => d.message.startsWith('receipt ') && ignored.push(d.message));
    const toBob = await alice.client.send('rh-bob', 'for bob only');
    const toCarol = await alice.client.send('rh-carol', 'for carol');
    await bob.waitFor(1);
    await carol.waitFor(1);
    const fromCarol = await carol.client.send('rh-alice', 'from carol');
    await alice.waitFor(1);

    // Carol claims to have read bob's message, her own message to alice, and one that never existed.
    carol.client.markRead('rh-alice', [toBob.id, fromCarol.id, ID('Z')]);
    await carol.client.close();
    // Barrier: bob's true receipt, sent after carol's was accepted by the server.
    bob.client.markRead('rh-alice', [toBob.id]);
    await waitUntil(() => (read.length >= 1 ? true : undefined), 5000, "bob's receipt");
    expect(read).toEqual([{ by: 'rh-bob', ids: [toBob.id], readAt: expect.any(Number) }]);
    expect(ignored).toEqual([expect.stringMatching(/^receipt \S+ from rh-carol names 3 id\(s\) not sent to them or already read; ignored$/)]);
    expect((await alice.messages.get(toCarol.id, 'out'))?.status).toBe('delivered');
    expect((await alice.messages.get(fromCarol.id, 'in'))?.status).toBe('received');
    expect((await alice.messages.get(toBob.id, 'out'))?.status).toBe('read');
  });

  it('with read receipts off, markRead sends nothing', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'ro-alice'));
    const bobStore = new MemoryMessageStore();
    const bob = track(await connectTestClient(servers.srv.url, 'ro-bob', { messages: bobStore, readReceipts: false }));
    const sent = await alice.client.send('ro-bob', 'unseen by alice as read');
    const [shown] = await bob.waitFor(1);
    bob.client.markRead('ro-alice', [shown!.id]);
    await bob.client.close();
    // Barrier: a message bob sends from a new process after closing the first; anything the first had
    // sealed would have gone out before it (the outbox sends oldest first).
    const bobAgain = track(await connectTestClient(servers.srv.url, 'ro-bob', { keys: bob.identity.keys, messages: bobStore }));
    await bobAgain.client.send('ro-alice', 'barrier');
    await alice.waitFor(1);
    expect((await alice.messages.get(sent.id, 'out'))?.status).toBe('delivered');
  });

  it('a server receipt replayed after read does not undo it', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'rl-alice'));
    const bob = track(await connectTestClient(servers.srv.url, 'rl-bob'));
    const read = readEvents(alice);
    const sent = await alice.client.send('rl-bob', 'hello');
    const [shown] = await bob.waitFor(1);
    bob.client.markRead('rl-alice', [shown!.id]);
    await waitUntil(() => (read.length >= 1 ? true : undefined), 5000, 'the read receipt');
    const [delivered] = servers.hostile.pushesOf('receipt', 'rl-alice');
    expect(delivered).toBeDefined();
    // Replayed as delivered, then as unreadable: neither is news after read.
    servers.hostile.push('rl-alice', 'receipt', delivered![0]);
    servers.hostile.push('rl-alice', 'receipt', { ...(delivered![0] as object), status: 'unreadable', reason: 'decryption_failed' });
    // Barrier: a message pushed after both on the same connection.
    await bob.client.send('rl-alice', 'barrier');
    await alice.waitFor(1);
    expect((await alice.messages.get(sent.id, 'out'))?.status).toBe('read');
  });
});

describe('the receipt member of a payload', () => {
  const payload = { v: 1, from: 'alice', to: 'bob', id: ID('A'), sentAt: 1, body: '' };

  it('is optional, and accepts a kind this client does not know (a newer client\'s) rather than refusing the message', () => {
    expect(messagePayloadSchema.parse(payload)).toEqual(payload);
    expect(messagePayloadSchema.parse({ ...payload, receipt: { type: 'read', ids: [ID('B')] } }).receipt).toEqual({ type: 'read', ids: [ID('B')] });
    expect(messagePayloadSchema.safeParse({ ...payload, receipt: { type: 'typing', ids: [ID('B')] } }).success).toBe(true);
  });

  it('refuses an empty list, too many ids, ids that are no message ids, and a missing kind', () => {
    const bad = [
      { type: 'read', ids: [] },
      { type: 'read', ids: Array.from({ length: MAX_READ_RECEIPT_IDS + 1 }, () => ID('B')) },
      { type: 'read', ids: ['short'] },
      { type: 'read', ids: ['not base64url!!!!!!!!'] },
      { ids: [ID('B')] },
      { type: '', ids: [ID('B')] },
    ];
    for (const receipt of bad) expect(messagePayloadSchema.safeParse({ ...payload, receipt }).success, JSON.stringify(receipt).slice(0, 60)).toBe(false);
  });
});
