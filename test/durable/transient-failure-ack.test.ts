/**
 * A device may acknowledge an envelope only once it has stored it (or judged it for good): the server
 * deletes what is acknowledged. When handling fails for a reason that may pass (the sender's keys could
 * not be fetched, the local store could not record it), the client retries in place; if the failure
 * persists, it leaves the envelope unacknowledged, and the server delivers it again at the next login.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import type { HistoryRecord } from '../../src/client/stores.js';
import { clientBarrier } from './barrier.js';
import { keysFor, Resources, waitOffline, waitUntil } from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

/** A message store whose next `failures` recordIncoming calls fail (a busy or full disk, say). */
class FailingStore extends MemoryMessageStore {
  failures = 0;
  attempts = 0;
  override async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('SQLITE_BUSY: database is locked (injected)');
    }
    return super.recordIncoming(record);
  }
}

describe('acknowledging only what was stored', () => {
  it("a message that could not be opened because fetching the sender's keys failed transiently is not lost", async () => {
    const srv = await res.server();
    const bobKeys = await keysFor();
    const bobMessages = new MemoryMessageStore();
    const bob1 = await res.client(srv.url, 'bob', { keys: bobKeys, messages: bobMessages });
    const alice = await res.client(srv.url, 'alice');
    await alice.client.peerKeys('bob');

    // bob has not pinned alice yet: opening her first message makes his client ask for her keys. That
    // one `keys` request gets a transient refusal (an `internal` answer; `rate_limited` or a timeout
    // behave the same).
    const store = srv.store;
    const getUser = store.getUser.bind(store);
    let faults = 0;
    store.getUser = async (username: string) => {
      if (username === 'alice' && faults === 0) {
        faults++;
        throw new Error('injected transient store fault');
      }
      return getUser(username);
    };
    const sent = await alice.client.send('bob', 'do not lose me');
    await waitUntil(() => (faults === 1 ? true : undefined), 5000, 'the injected fault');

    // Whatever bob's first connection did with it, the message must reach bob: at the latest on his
    // next connection, exactly once.
    await bob1.client.close();
    const firstTime = bob1.received.map((m) => m.body);
    await waitOffline(alice.client, 'bob');
    const bob2 = await res.client(srv.url, 'bob', { keys: bobKeys, messages: bobMessages, peers: bob1.peers });
    // Sent after bob2 logged in, so queued behind a redelivery of the first message, if there is one.
    const barrier = await clientBarrier(alice, bob2);
    expect([...firstTime, ...bob2.received.map((m) => m.body)]).toEqual(['do not lose me', barrier]);
    expect((await bobMessages.history()).map((r) => r.body)).toEqual(['do not lose me', barrier]);
    expect(sent.status).toBe('sent');
  });

  it('a message the local store failed to record once is retried in place: shown once, then acknowledged', async () => {
    const srv = await res.server();
    const bobMessages = new FailingStore();
    const bob = await res.client(srv.url, 'bob', { messages: bobMessages });
    const alice = await res.client(srv.url, 'alice');

    bobMessages.failures = 1;
    await alice.client.send('bob', 'store me or keep me');
    await waitUntil(() => (bob.received.length >= 1 ? true : undefined), 5000, 'the retried message');
    const barrier = await clientBarrier(alice, bob);
    expect(bobMessages.attempts).toBe(3); // the failed attempt, its retry, and the barrier
    expect(bob.received.map((m) => m.body)).toEqual(['store me or keep me', barrier]);
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 3000, 'the ack');
  });

  it('a message the local store keeps failing to record is not acknowledged, and arrives on the next connection', async () => {
    const srv = await res.server();
    const bobKeys = await keysFor();
    const bobMessages = new FailingStore();
    const bob1 = await res.client(srv.url, 'bob', { keys: bobKeys, messages: bobMessages });
    const alice = await res.client(srv.url, 'alice');

    bobMessages.failures = 3; // every attempt of this connection
    await alice.client.send('bob', 'store me or keep me');
    await waitUntil(() => (bobMessages.attempts >= 3 ? true : undefined), 5000, 'the failed store attempts');
    // The store works again for the barrier, sent after the failures: shown and acknowledged alone.
    const barrier = await clientBarrier(alice, bob1);
    expect(bobMessages.attempts).toBe(4);
    expect(bob1.received.map((m) => m.body)).toEqual([barrier]);
    // Not stored, so not acknowledged: the server still holds it, and no receipt went to alice.
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 1 ? true : undefined), 5000, 'the ack of the barrier');
    expect(alice.delivered).toHaveLength(1); // the barrier's receipt, nothing for the unstored message

    await bob1.client.close();
    await waitOffline(alice.client, 'bob');
    const bob2 = await res.client(srv.url, 'bob', { keys: bobKeys, messages: bobMessages, peers: bob1.peers });
    await waitUntil(() => (bob2.received.length >= 1 ? true : undefined), 3000, 'the redelivered message');
    expect(bob2.received.map((m) => m.body)).toEqual(['store me or keep me']);
  });
});
