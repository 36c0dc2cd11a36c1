/**
 * Message ids are chosen by their senders and seen by the server (`send.id`). A lying server that has an
 * account of its own send a message under an id it saw, and delivers that one first, must not make the
 * true message look like a replay: ids are unique per sender, not across senders.
 */
import { describe, expect, it } from 'vitest';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

describe('a server that reuses one sender\'s message id for another sender', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it('accepts the true message, recorded apart; and its redelivery is still a redelivery (replays: chat-client.test.ts)', async () => {
    const carol = track(await connectTestClient(servers.srv.url, 'icarol'));
    const bob = track(await connectTestClient(servers.hostile.url, 'ibob'));
    servers.hostile.hold('ibob');
    const sent = await carol.client.send('ibob', 'the real one');
    await waitUntil(() => (servers.hostile.heldCount('ibob') >= 1 ? true : undefined), 5000, 'the push to be held');
    // What bob's client would have recorded had the server's own account "imallory" used carol's id first.
    expect(
      await bob.messages.recordIncoming({ id: sent.id, direction: 'in', peer: 'imallory', body: 'decoy', sentAt: 1, serverId: 'Z'.repeat(22), serverTime: 1, status: 'received' }),
    ).toBe('new');

    expect(servers.hostile.release('ibob')).toBe(1);
    const [got] = await bob.waitFor(1);
    const [held] = servers.hostile.pushesOf('message', 'ibob');
    expect(got).toMatchObject({ from: 'icarol', body: 'the real one', id: `icarol/${sent.id}` });
    // The same envelope again (a lost ack) is a redelivery, not a second message nor a rejection.
    expect(servers.hostile.push('ibob', 'message', ...held!)).toBe(1);
    await carol.client.send('ibob', 'barrier');
    await bob.waitFor(2);
    expect(bob.received.map((m) => m.body)).toEqual(['the real one', 'barrier']);
    expect(bob.rejected).toEqual([]);
    expect((await bob.messages.get(sent.id, 'in'))?.peer).toBe('imallory');
    expect((await bob.messages.get(`icarol/${sent.id}`, 'in'))?.body).toBe('the real one');
  });
});
