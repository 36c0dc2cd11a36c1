/**
 * Receipts are not end-to-end (a server can always claim one), but a lying server cannot move one
 * message's state onto another peer: a receipt must name the peer the message went to.
 */
import { describe, expect, it } from 'vitest';
import type { ReceiptEvent } from '../../src/protocol/events.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

describe('a server that forges receipts', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it('ignores a receipt that names another peer than the message went to; the true one still counts', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'ralice'));
    const bob = track(await connectTestClient(servers.srv.url, 'rbob'));
    track(await connectTestClient(servers.srv.url, 'rcarol'));
    const delivered: string[] = [];
    const unreadable: string[] = [];
    alice.client.on('delivered', (d) => delivered.push(`${d.id}:${d.to}`));
    alice.client.on('unreadable', (u) => unreadable.push(`${u.id}:${u.to}`));
    // The real receipt for bob is held back; the liar first claims carol could not read it.
    const real: ReceiptEvent[] = [];
    const stop = servers.hostile.onPush('receipt', (r) => {
      real.push(r);
      return [{ ...r, to: 'rcarol', status: 'unreadable', reason: 'decryption_failed' }];
    });
    const sent = await alice.client.send('rbob', 'hello');
    await bob.waitFor(1);
    await waitUntil(() => (real.length >= 1 ? true : undefined), 5000, 'the receipt');
    stop();
    // Barrier: the true receipt, pushed after the forged one on the same connection.
    expect(servers.hostile.push('ralice', 'receipt', real[0])).toBe(1);
    await waitUntil(() => (delivered.length >= 1 ? true : undefined), 5000, 'the true receipt');
    expect(delivered).toEqual([`${sent.id}:rbob`]);
    expect(unreadable).toEqual([]);
    expect((await alice.messages.get(sent.id, 'out'))?.status).toBe('delivered');
  });
});
