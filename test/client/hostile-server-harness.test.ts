/** The hostile-server harness itself: honest by default, and each of its lies reaches the client. */
import { describe, expect, it } from 'vitest';
import { FORWARD } from '../helpers/hostile-server.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { connectTestClient, keysFor, waitUntil } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

describe('hostile-server harness', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it('forwards honestly when told nothing: a ratchet message gets through and every frame is recorded', async () => {
    const alice = track(await connectTestClient(servers.hostile.url, 'halice'));
    const bob = track(await connectTestClient(servers.hostile.url, 'hbob'));
    await alice.client.send('hbob', 'through the proxy');
    expect((await bob.waitFor(1))[0]!.body).toBe('through the proxy');
    expect(servers.hostile.answersTo('prekeys.bundle', (p) => (p as { username: string }).username === 'hbob')).toHaveLength(1);
    expect(servers.hostile.pushesOf('message', 'hbob')).toHaveLength(1);
    expect((await servers.hostile.waitForLogin('halice')).username).toBe('halice');
  });

  it('rewrites answers, answers without forwarding, and asks the real server as the connected user', async () => {
    const carol = track(await connectTestClient(servers.hostile.url, 'hcarol'));
    const removeAnswer = servers.hostile.onAnswer('users', (answer) => ({ ...answer, users: ['nobody'] }));
    expect(await carol.client.onlineUsers()).toEqual(['nobody']);
    removeAnswer();
    const removeRequest = servers.hostile.onRequest('users', async (_payload, conn) => {
      const real = await conn.ask('keys', { username: 'hcarol' });
      return { ok: true, users: [real.ok ? real.username : 'none'] };
    });
    expect(await carol.client.onlineUsers()).toEqual(['hcarol']);
    removeRequest();
    servers.hostile.onRequest('users', () => FORWARD);
    expect(await carol.client.onlineUsers()).toContain('hcarol');
  });

  it('holds, reorders, duplicates and injects pushed events', async () => {
    const dave = track(await connectTestClient(servers.hostile.url, 'hdave'));
    const erin = track(await connectTestClient(servers.hostile.url, 'herin'));
    servers.hostile.hold('herin');
    await dave.client.send('herin', 'first');
    await dave.client.send('herin', 'second');
    await waitUntil(() => (servers.hostile.heldCount('herin') === 2 ? true : undefined), 5000, 'two held pushes');
    expect(erin.received).toHaveLength(0);
    expect(servers.hostile.release('herin', (held) => [...held].reverse())).toBe(2);
    const bodies = (await erin.waitFor(2)).map((m) => m.body);
    expect(bodies).toEqual(['second', 'first']);

    const removeDup = servers.hostile.onPush('message', (m) => [m, m]);
    await dave.client.send('herin', 'third');
    expect((await erin.waitFor(3))[2]!.body).toBe('third');
    removeDup();
    expect(servers.hostile.pushesOf('message', 'herin').slice(-2)).toHaveLength(2);

    // An injected frame reaches the client's socket as sent (the client's handling is tested elsewhere).
    const seen = new Promise<unknown>((resolve) => (erin.client as unknown as { connection: { socket: { once(e: string, f: (p: unknown) => void): void } } }).connection.socket.once('presence', resolve));
    expect(servers.hostile.push('herin', 'presence', { username: 'ghost', online: true })).toBe(1);
    expect(await seen).toEqual({ username: 'ghost', online: true });
  });

  it('rolls back a prekey bundle: a later fetch is answered with one recorded earlier, whose one-time keys the recipient already used', async () => {
    const keys = await keysFor();
    const first = track(await connectTestClient(servers.hostile.url, 'hfrank', { keys }));
    const gina = track(await connectTestClient(servers.hostile.url, 'hgina'));
    await first.client.send('hgina', 'with a fresh bundle');
    expect((await gina.waitFor(1))[0]!.body).toBe('with a fresh bundle');
    await first.client.close();

    const [recorded] = servers.hostile.answersTo('prekeys.bundle', (p) => (p as { username: string }).username === 'hgina');
    const removeRollback = servers.hostile.onAnswer('prekeys.bundle', (answer, payload) => ((payload as { username: string }).username === 'hgina' ? recorded!.real : answer));
    // The same user with no session (a reinstalled device): it must fetch a bundle, and gets the old one.
    const again = track(await connectTestClient(servers.hostile.url, 'hfrank', { keys, peers: first.peers, ratchet: new MemoryRatchetStore() }));
    await again.client.send('hgina', 'with a rolled-back bundle');
    expect(servers.hostile.answersTo('prekeys.bundle', (p) => (p as { username: string }).username === 'hgina').at(-1)!.sent).toEqual(recorded!.real);
    const [rejected] = await gina.waitForRejected(1);
    expect(rejected!.from).toBe('hfrank');
    expect(gina.received.map((m) => m.body)).toEqual(['with a fresh bundle']);
    removeRollback();
  });
});
