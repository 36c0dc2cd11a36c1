/**
 * History on link through the library, over a real server (docs/PROTOCOL.md §21.3.1; design §6.8): the
 * primary approves a new device with `history: N` and its last N messages go to that device alone, as
 * `history` messages through the outbox; the new device records them as history (displayed, never
 * announced as messages), each once. A `history` payload from anyone but the user's own devices is
 * refused as unreadable and records nothing; a payload kind this client does not know is `unsupported`.
 * A history message whose device is removed before it goes out is given up, never sent elsewhere.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatClient, type HistoryReceived } from '../../src/client/chat-client.js';
import { requestDeviceLink } from '../../src/client/device-link-request.js';
import { adoptProvisioning } from '../../src/client/link-provisioning.js';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore, type PeerSessionPickle, type PreKeysUsed } from '../../src/client/ratchet-store.js';
import type { AddressLike } from '../../src/client/address.js';
import type { ReceivedMessage } from '../../src/client/inbound.js';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { generateUserKeyPairs } from '../../src/crypto/keys.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { ratchetEnvelope } from '../helpers/envelopes.js';
import { TestPeer } from '../helpers/test-device.js';

/** A ratchet store whose next session save fails once (as a crash between recording and saving would leave it). */
class SaveFailsOnce extends MemoryRatchetStore {
  failNextSave = false;
  override async saveSession(peer: AddressLike, session: PeerSessionPickle, expected: number, used?: PreKeysUsed): Promise<boolean> {
    if (this.failNextSave) {
      this.failNextSave = false;
      throw new Error('SQLITE_BUSY: database is locked');
    }
    return super.saveSession(peer, session, expected, used);
  }
}

const newId = () => base64urlEncode(randomBytes(16));

describe('history on link', () => {
  const servers = useTestServer();
  const { track } = servers;
  const closers: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  /** Alice and bob, and four messages between them (alice writes first); alice has shown bob's to her user. */
  async function conversation(alice: string, bob: string) {
    const a = track(await connectTestClient(servers.srv.url, alice));
    const b = track(await connectTestClient(servers.srv.url, bob));
    await a.client.send(bob, 'one');
    await b.waitFor(1);
    await b.client.send(alice, 'two');
    await a.waitFor(1);
    await a.client.send(bob, 'three');
    await b.waitFor(2);
    await b.client.send(alice, 'four');
    await a.waitFor(2);
    // A read receipt is recorded too, and must not go as history.
    const reads: string[][] = [];
    b.client.on('read', (r) => reads.push(r.ids));
    a.client.markRead(bob, a.received.map((m) => m.id));
    await waitUntil(() => (reads.flat().length === 2 ? true : undefined), 5000, "bob to learn alice read both");
    return { a, b };
  }

  /** A laptop for `username`, linked by `primary` with `history`; connected once linked, listening from the start. */
  async function linkLaptop(primary: ChatClient, username: string, history: number, ratchet = new MemoryRatchetStore()) {
    const keys = await generateUserKeyPairs();
    const pending = await requestDeviceLink({ url: servers.srv.url, username, name: 'laptop', keys, ratchet, socketOptions: { transports: ['websocket'] } });
    closers.push(() => pending.cancel());
    const approved = await primary.approveDevice(pending.code, { history });
    const provisioned = await pending.done;
    const peers = new MemoryPeerKeyStore();
    await adoptProvisioning(peers, provisioned);
    const messages = new MemoryMessageStore();
    const received: ReceivedMessage[] = [];
    const histories: HistoryReceived[] = [];
    const client = await ChatClient.connect(
      {
        url: servers.srv.url,
        identity: { username, device: provisioned.device, keys, account: provisioned.account },
        peers,
        messages,
        ratchet,
        socketOptions: { transports: ['websocket'] },
      },
      (c) => {
        c.on('message', (m) => received.push(m));
        c.on('history', (h) => histories.push(h));
      },
    );
    closers.push(() => client.close());
    return { approved, provisioned, client, messages, received, histories };
  }

  it('a laptop linked with history 3 has exactly the last 3 messages, in order, none announced', async () => {
    const { a } = await conversation('lh-alice', 'lh-bob');
    const laptop = await linkLaptop(a.client, 'lh-alice', 3);
    expect(laptop.approved).toMatchObject({ device: 2, historySent: 3 });
    expect(laptop.approved.historyMessages).toHaveLength(1);
    expect(laptop.provisioned.historyCount).toBe(3);

    await waitUntil(() => (laptop.histories.length > 0 ? true : undefined), 5000, 'the history at the laptop');
    expect(laptop.histories).toEqual([{ id: laptop.approved.historyMessages[0], fromDevice: 1, items: 3, recorded: 3 }]);
    const mine = await a.messages.history({ peer: 'lh-bob' });
    const theirs = await laptop.messages.history({ peer: 'lh-bob' });
    expect(theirs.map((r) => [r.direction, r.body])).toEqual([
      ['in', 'two'],
      ['out', 'three'],
      ['in', 'four'],
    ]);
    // The same ids and times as the primary's records; history, so shown already and never a message event.
    expect(theirs.map((r) => [r.id, r.sentAt])).toEqual(mine.slice(1).map((r) => [r.id, r.sentAt]));
    expect(theirs.map((r) => r.status)).toEqual(['received', 'sent', 'received']);
    expect(await laptop.messages.undisplayed()).toEqual([]);
    expect(laptop.received).toEqual([]);

    // The history message is no conversation's on either side, and it left the primary's outbox.
    await a.client.sendOutbox();
    expect(await a.messages.outboxEntries()).toEqual([]);
    expect((await a.messages.history()).map((r) => r.body)).toEqual(['one', 'two', 'three', 'four']);
    expect((await laptop.messages.history()).map((r) => r.body)).toEqual(['two', 'three', 'four']);
  });

  it('a second delivery of the same history message records nothing twice', async () => {
    const { a } = await conversation('lh-carol', 'lh-dan');
    // The laptop's first session save fails: the history was recorded, the session was not saved, so the
    // same envelope opens again (as after a crash before the ack) and meets its records.
    const ratchet = new SaveFailsOnce();
    ratchet.failNextSave = true;
    const laptop = await linkLaptop(a.client, 'lh-carol', 10, ratchet);
    expect(laptop.approved.historySent).toBe(4);
    const id = laptop.approved.historyMessages[0];
    await waitUntil(() => (laptop.histories.length >= 2 ? true : undefined), 5000, 'the history handled twice');
    expect(laptop.histories).toEqual([
      { id, fromDevice: 1, items: 4, recorded: 4 },
      { id, fromDevice: 1, items: 4, recorded: 0 },
    ]);
    expect((await laptop.messages.history({ peer: 'lh-dan' })).map((r) => r.body)).toEqual(['one', 'two', 'three', 'four']);
    expect(laptop.received).toEqual([]);
  });

  it("a history payload from a peer is unreadable and records nothing; an unknown kind is unsupported", async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'lh-erin'));
    const bob = await TestPeer.register(servers.srv.url, 'lh-frank');
    closers.push(() => bob.close());
    const item = { id: newId(), direction: 'in', peer: 'lh-frank', body: 'you owe me', sentAt: 1 };
    const common = { v: 2, from: 'lh-frank', fromDevice: 1, sentAt: Date.now() };
    /** Seals `payload` for alice's device 1 and sends it under its own id. */
    const send = async (payload: { id: string } & Record<string, unknown>) => {
      const envelope = await bob.device(1).seal({ user: 'lh-erin', device: 1 }, payload);
      return bob.device(1).call('send', { id: payload.id, messages: [{ to: 'lh-erin', device: 1, envelope }] });
    };
    // Addressed to alice, or to bob himself as history must be: either way not alice's own device's.
    expect((await send({ ...common, kind: 'history', to: 'lh-erin', id: newId(), items: [item] })).ok).toBe(true);
    expect((await send({ ...common, kind: 'history', to: 'lh-frank', id: newId(), items: [item] })).ok).toBe(true);
    expect((await send({ ...common, kind: 'sticker', to: 'lh-erin', id: newId(), sticker: 'cat' })).ok).toBe(true);
    // A message after them, as a barrier: once it is in, the three before it were handled.
    expect((await send({ ...common, kind: 'message', to: 'lh-erin', id: newId(), body: 'barrier' })).ok).toBe(true);
    await alice.waitFor(1);
    expect(alice.received.map((m) => m.body)).toEqual(['barrier']);
    expect(alice.rejected.map((r) => r.reason)).toEqual(['decryption_failed', 'decryption_failed', 'unsupported']);
    expect((await alice.messages.history({ peer: 'lh-frank' })).map((r) => [r.status, r.body])).toEqual([
      ['unreadable', ''],
      ['unreadable', ''],
      ['unreadable', ''],
      ['received', 'barrier'],
    ]);
    expect(await alice.messages.get(item.id, 'in')).toBeUndefined();
    // What bob's device learns: his three were unreadable, with alice's reasons; the barrier was delivered
    // (acknowledgements go in batches, so in no particular order).
    const receipts = await bob.device(1).socket.waitFor<{ status: string; reason?: string }>('receipt', 4);
    expect(receipts.map((r) => `${r.status} ${r.reason ?? ''}`.trim()).sort()).toEqual(['delivered', 'unreadable decryption_failed', 'unreadable decryption_failed', 'unreadable unsupported']);
  });

  it('a history message whose device was removed before it went out is given up, and sealed for no other device', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'lh-gwen'));
    const laptop = await linkLaptop(alice.client, 'lh-gwen', 0);
    await alice.client.removeDevice(laptop.approved.device);
    // As if queued just before the removal: one copy, for the laptop alone.
    const id = newId();
    const copy = { to: 'lh-gwen', device: laptop.approved.device, envelope: ratchetEnvelope() };
    const record = { id, direction: 'out' as const, peer: 'lh-gwen', body: '', sentAt: 1, status: 'outbox' as const, kind: 'history' as const };
    await alice.messages.addOutgoing({ id, to: 'lh-gwen', messages: [copy], createdAt: 1, kind: 'history' }, record);
    const failed: string[] = [];
    alice.client.on('failed', (f) => failed.push(f.id));
    await alice.client.sendOutbox();

    const sends = servers.srv.frames.filter((f) => f.event === 'send' && (f.args[0] as { id: string }).id === id);
    expect(sends.map((f) => (f.args[0] as { messages: Array<{ to: string; device: number }> }).messages.map((m) => `${m.to}/${m.device}`))).toEqual([['lh-gwen/2']]);
    expect(await alice.messages.outboxEntries()).toEqual([expect.objectContaining({ id, failed: expect.objectContaining({ code: 'unknown_device' }) })]);
    // Not a message the user wrote: no 'failed' event, and in no conversation.
    expect(failed).toEqual([]);
    expect(await alice.messages.history()).toEqual([]);
  });
});
