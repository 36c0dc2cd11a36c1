/**
 * A server lying about device lists (docs/PROTOCOL.md §17.5, §21.2, §21.5, §21.6). Every list a client
 * takes in is checked against the account key it pinned for that user and against the newest list it
 * has seen: a rolled-back, unsigned, foreign-signed or equivocating list is refused and nothing is sent
 * with it; a devices_changed refusal whose own lists contradict it is not believed; a message from a
 * device the verified list does not name is refused, whatever the server stamps on it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ChatError } from '../../src/protocol/errors.js';
import type { DeviceListWire } from '../../src/protocol/device-list-signature.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

type Sent = { id: string; messages: Array<{ to: string; device: number }> };
const named = (payload: unknown) => (payload as { username?: string }).username;

describe('a server that lies about device lists', () => {
  const servers = useHostileServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  const peer = async (username: string, devices = 1) => {
    const p = await TestPeer.register(servers.srv.url, username, { devices });
    peers.push(p);
    return p;
  };
  afterAll(() => {
    for (const p of peers) p.close();
  });
  /** Sends by `user` that reached the real server through the liar. */
  const sendsBy = (user: string) => servers.hostile.frames.filter((f) => f.kind === 'request' && f.event === 'send' && f.user === user).length;

  /** Alice, through the liar, having already seen bob's current list (she wrote to him once). */
  async function aliceWhoKnows(bob: TestPeer, alice: string) {
    const client = track(await connectTestClient(servers.hostile.url, alice));
    await client.client.send(bob.username, 'hello');
    await bob.device(1).receive(1);
    return client;
  }

  /** Serves `list` as bob's list to every `devices.list` about him, on connections made from now on too. */
  const serveList = (bob: TestPeer, list: DeviceListWire | null) =>
    servers.hostile.onAnswer('devices.list', (answer, payload) => (answer.ok && named(payload) === bob.username ? { ...answer, deviceList: list } : answer), { protocol: 2 });

  /** Drops alice's connection: her client asks for lists again on the next one. */
  async function reconnect(alice: string, client: { connected: boolean }): Promise<void> {
    const before = servers.hostile.connectionsOf(alice);
    for (const c of before) c.drop();
    await waitUntil(() => (servers.hostile.connectionsOf(alice).some((c) => !before.includes(c) && c.username === alice) ? true : undefined), 5000, 'the new login');
    // The liar saw the login; the client must also have taken its answer in, or a send would seal offline.
    await waitUntil(() => (client.connected ? true : undefined), 5000, 'the client to be logged in again');
  }

  it('a list older than one already seen is a rollback: the send is refused and nothing goes out', async () => {
    const bob = await peer('hl-bob');
    const alice = await aliceWhoKnows(bob, 'hl-alice');
    const version1 = bob.signedList();
    await bob.addDevice('laptop');
    await alice.client.send('hl-bob', 'sees version 2');
    const sends = sendsBy('hl-alice');

    const remove = serveList(bob, version1);
    await reconnect('hl-alice', alice.client);
    const error = await alice.client.send('hl-bob', 'never sent').catch((e: unknown) => e);
    remove();
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('device_list_rollback');
    expect(sendsBy('hl-alice')).toBe(sends);
    expect(await alice.messages.outbox()).toEqual([]);
  });

  it('no list at all, after a list was seen, is a rollback too', async () => {
    const bob = await peer('hl-bob2');
    const alice = await aliceWhoKnows(bob, 'hl-alice2');
    const remove = serveList(bob, null);
    await reconnect('hl-alice2', alice.client);
    await expect(alice.client.send('hl-bob2', 'never sent')).rejects.toMatchObject({ code: 'device_list_rollback' });
    remove();
  });

  it('an unsigned list, a list signed by another key, and a second list of a seen version are refused', async () => {
    const bob = await peer('hl-bob3');
    const alice = await aliceWhoKnows(bob, 'hl-alice3');
    const sends = sendsBy('hl-alice3');
    const lies: Array<[string, DeviceListWire]> = [
      ['unsigned', bob.unsignedList({ version: 2 })],
      ['signed by another key', bob.forgedList({ version: 2 })],
      ['the same version with other bytes', bob.signedList({ issuedAt: 12345 })],
    ];
    for (const [what, lie] of lies) {
      const remove = serveList(bob, lie);
      await reconnect('hl-alice3', alice.client);
      const error = await alice.client.send('hl-bob3', 'never sent').catch((e: unknown) => e);
      remove();
      expect((error as ChatError).code, what).toBe('device_list_invalid');
    }
    expect(sendsBy('hl-alice3')).toBe(sends);
    // The truth still works afterwards.
    await reconnect('hl-alice3', alice.client);
    await alice.client.send('hl-bob3', 'the true list again');
    expect((await bob.device(1).receive(2))[1]).toMatchObject({ body: 'the true list again' });
  });

  it('a devices_changed whose missing and stale devices contradict its own lists is not believed; the message still goes out once', async () => {
    const bob = await peer('hl-bob4');
    const alice = await aliceWhoKnows(bob, 'hl-alice4');
    let lied = 0;
    const remove = servers.hostile.onAnswer(
      'send',
      async (answer, payload, conn) => {
        if (lied > 0 || !(payload as Sent).messages.some((m) => m.to === 'hl-bob4')) return answer;
        lied++;
        // Device 7 is "missing", yet the list carried (bob's real one, as the server holds it) has no device 7.
        const real = await conn.ask('devices.list', { username: 'hl-bob4' });
        const deviceList = real.ok ? (real as { deviceList: DeviceListWire }).deviceList : null;
        return { ok: false, error: { code: 'devices_changed', message: 'lie', details: { users: [{ username: 'hl-bob4', missing: [7], stale: [], deviceList }] } } };
      },
      { protocol: 2 },
    );
    const debug: string[] = [];
    alice.client.on('debug', (d) => debug.push(`${d.message} ${String((d.cause as Error | undefined)?.message)}`));
    const sent = await alice.client.send('hl-bob4', 'despite the lie');
    remove();
    expect(lied).toBe(1);
    expect(debug.some((d) => /contradicts/.test(d))).toBe(true);
    expect((await bob.device(1).receive(2))[1]).toMatchObject({ id: sent.id, body: 'despite the lie' });
  });

  it('a message stamped as from a device the verified list does not name is refused as unreadable', async () => {
    const bob = await peer('hl-bob5', 2);
    const alice = await aliceWhoKnows(bob, 'hl-alice5');
    const remove = servers.hostile.onPush('message', (m) => [{ ...m, fromDevice: 5 }], { protocol: 2 });
    await bob.sendTo('hl-alice5', 'from device 5, says the server');
    const [rejected] = await alice.waitForRejected(1);
    remove();
    expect(rejected).toMatchObject({ from: 'hl-bob5', reason: 'decryption_failed' });
    expect(alice.received).toEqual([]);
  });
});
