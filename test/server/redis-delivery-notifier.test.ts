/**
 * A cluster node's delivery never lets its own write overtake another node's: an envelope this node
 * stores is read from the store in seq order, so one that another node committed just before (its
 * wake-up still on the way) goes out first instead of being stepped over.
 */
import { describe, expect, it } from 'vitest';
import type { ChatIO } from '../../src/server/connection.js';
import { DeliveryPump } from '../../src/server/delivery.js';
import { RoomPumps, type DeliveryNotifier } from '../../src/server/delivery-notifier.js';
import { RedisDeliveryNotifier } from '../../src/server/cluster/redis-delivery-notifier.js';
import { addressRoom } from '../../src/server/rooms.js';
import { MemoryServerStore } from '../../src/server/store/memory-store.js';
import { waitUntil } from '../helpers/test-clients.js';
import { input, quota, stored } from './store-fixtures.js';

/** This node's one connection of bob/1, as RoomPumps finds it through the adapter's room membership. */
function oneConnection(pump: DeliveryPump): ChatIO {
  const io = {
    sockets: {
      adapter: { rooms: new Map([[addressRoom('bob', 1), new Set(['sid-1'])]]) },
      sockets: new Map([['sid-1', { data: { pump } }]]),
    },
  };
  return io as unknown as ChatIO;
}

describe('RedisDeliveryNotifier', () => {
  it('pushes another node\'s earlier envelope before this node\'s own, and tells the other nodes of its own', async () => {
    const store = new MemoryServerStore();
    const pushed: string[] = [];
    // The fixtures' envelopes expire at 10,000,000 ms: the pump's clock stays before that.
    const pump = new DeliveryPump(store, 'bob', 1, (m) => pushed.push(m.id), (err) => {
      throw err;
    }, () => 0);
    pump.start();
    await waitUntil(() => (pump.unacknowledged === 0 ? true : undefined), 1000, 'the empty backlog read');
    const published: string[] = [];
    const notifier: DeliveryNotifier = new RedisDeliveryNotifier(new RoomPumps(oneConnection(pump)), { publish: (u, d) => published.push(`${u}/${d}`) });

    // Another node commits one for bob/1; its wake-up has not reached this node yet.
    const theirs = stored(await store.enqueue(input({ id: 'from-another-node' }), quota));
    // This node commits the next one and notifies.
    const ours = stored(await store.enqueue(input({ id: 'from-this-node' }), quota));
    expect(ours.seq).toBeGreaterThan(theirs.seq);
    expect(notifier.stored(ours, JSON.parse(ours.envelope))).toBe(false);

    await waitUntil(() => (pushed.length === 2 ? true : undefined), 1000, 'both envelopes pushed');
    expect(pushed).toEqual(['from-another-node', 'from-this-node']);
    expect(published).toEqual(['bob/1']);
  });
});
