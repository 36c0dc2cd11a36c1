/**
 * Two processes of one user share one local store (a `receive` beside a `send`). The receipt for what
 * `send` sent must reach `send`'s listeners even when `receive` recorded it first; otherwise `send --wait`
 * waits out its whole timeout for a receipt it never announces.
 */
import { describe, expect, it } from 'vitest';
import { MemoryMessageStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

describe('receipts with two processes of one user', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it("the sending process is told of the delivery even when the user's other process recorded it first", async () => {
    const keys = await keysFor(true);
    const messages = new MemoryMessageStore();
    const ratchet = new MemoryRatchetStore();
    const bob = track(await connectTestClient(servers.srv.url, 'tbob'));
    // "receive": straight to the server. "send": through a server that holds its pushes back.
    const receiving = track(await connectTestClient(servers.srv.url, 'talice', { keys, messages, ratchet }));
    const sending = track(await connectTestClient(servers.hostile.url, 'talice', { keys, messages, ratchet }));
    const toldReceiving: string[] = [];
    const toldSending: string[] = [];
    receiving.client.on('delivered', (d) => toldReceiving.push(d.id));
    sending.client.on('delivered', (d) => toldSending.push(d.id));

    servers.hostile.hold('talice');
    const sent = await sending.client.send('tbob', 'hello');
    await bob.waitFor(1);
    await waitUntil(() => (toldReceiving.length >= 1 ? true : undefined), 5000, 'the receiving process to record the receipt');
    expect((await messages.get(sent.id, 'out'))?.status).toBe('delivered');
    expect(toldSending).toEqual([]);

    expect(servers.hostile.release('talice')).toBeGreaterThanOrEqual(1);
    await waitUntil(() => (toldSending.length >= 1 ? true : undefined), 5000, 'the sending process to be told');
    expect(toldSending).toEqual([sent.id]);
    expect(toldReceiving).toEqual([sent.id]);
  });
});
