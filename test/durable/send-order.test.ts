/**
 * Order per (sender, recipient) as the sender's application sees it: the order of its send() calls.
 * Pins two client-side rules:
 *   1. ChatClient.send() seals one call at a time, so concurrent calls enter the outbox in call order,
 *      not in the order their (asynchronous) crypto happens to finish;
 *   2. OutboxSender sends one entry at a time, so an entry refused for a passing reason (a server
 *      fault) is not overtaken by later entries that were already in flight.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { rsaPublicOf } from '../../src/crypto/keys.js';
import { newMessageId, sealHybridEnvelope } from '../../src/e2ee/hybrid-envelope.js';
import type { EnqueueInput, QueueQuota } from '../../src/server/store/server-store.js';

type RestOf<F> = F extends (a: never, b: never, ...rest: infer R) => unknown ? R : never;
import { clientBarrier } from './barrier.js';
import { keysFor, Resources, tag, waitUntil } from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

describe('send order', () => {
  it('send() calls fired without awaiting each other reach the recipient in call order', async () => {
    const srv = await res.server({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
    const bob = await res.client(srv.url, 'bob');
    const alice = await res.client(srv.url, 'alice');
    await alice.client.peerKeys('bob');
    const n = 400;
    await Promise.all(Array.from({ length: n }, (_, i) => alice.client.send('bob', tag(i))));
    await waitUntil(() => (bob.received.length >= n ? true : undefined), 20_000, `${n} messages`);
    const expected = Array.from({ length: n }, (_, i) => tag(i));
    // What alice's client put in its outbox/history, and what bob got, both in call order.
    const outgoing = (await alice.messages.history({ peer: 'bob' })).filter((r) => r.direction === 'out').map((r) => r.body);
    expect(outgoing).toEqual(expected);
    expect(bob.received.map((m) => m.body)).toEqual(expected);
  });

  it('an outbox entry refused for a transient reason is not overtaken by later entries of the same window', async () => {
    const srv = await res.server();
    const bob = await res.client(srv.url, 'bob');
    const aliceKeys = await keysFor();
    // alice's outbox, filled in order while she is away (as after a restart of her application).
    const messages = new MemoryMessageStore();
    const n = 20;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = newMessageId();
      ids.push(id);
      const sentAt = Date.now();
      const { envelope } = await sealHybridEnvelope({
        from: 'alice',
        to: 'bob',
        body: tag(i),
        id,
        sentAt,
        senderSigningKey: aliceKeys.signing,
        recipientEncryptionKey: rsaPublicOf(bob.keys.encryption),
      });
      await messages.addOutgoing({ id, to: 'bob', envelope, createdAt: sentAt }, { id, direction: 'out', peer: 'bob', body: tag(i), sentAt, status: 'outbox' });
    }
    // One transient server fault for the 4th entry, the first time it is offered (a rate_limited answer
    // or a lost ack has the same effect on the client).
    const refuseOnce = ids[3]!;
    // A protocol-2 send stores all of a message's copies with enqueueMany (one copy each here: bob has one device).
    const store = srv.store;
    const enqueueMany = store.enqueueMany.bind(store);
    let refused = false;
    store.enqueueMany = (inputs: readonly EnqueueInput[], quota: QueueQuota, ...rest: RestOf<typeof enqueueMany>) => {
      if (inputs.some((input) => input.clientId === refuseOnce) && !refused) {
        refused = true;
        return Promise.reject(new Error('injected transient store fault'));
      }
      return enqueueMany(inputs, quota, ...rest);
    };

    const alice = await res.client(srv.url, 'alice', { keys: aliceKeys, messages });
    await waitUntil(() => (bob.received.length >= n ? true : undefined), 10_000, `${n} messages`);
    const barrier = await clientBarrier(alice, bob);
    expect(refused).toBe(true);
    expect(bob.received.map((m) => m.body)).toEqual([...Array.from({ length: n }, (_, i) => tag(i)), barrier]);
  });
});
