import { describe, expect, it } from 'vitest';
import type { PresenceEvent } from '../../src/protocol/events.js';
import { useTestServer } from '../helpers/server-fixtures.js';
import { call, connectTestClient, loginRaw, rawSocket, waitUntil } from '../helpers/test-clients.js';

describe('routing through a real server', () => {
  const server = useTestServer();
  const connect = async (name: string, mode?: 'hybrid') => server.track(await connectTestClient(server.srv.url, name, mode ? { mode } : {}));

  it('delivers alice → bob and bob → alice', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    const sent = await alice.client.send('bob', 'hello thanh');
    expect(sent.status).toBe('sent');
    const [m] = await bob.waitFor(1);
    expect(m).toMatchObject({ from: 'alice', to: 'bob', body: 'hello thanh', id: sent.id, serverId: sent.serverId });
    await bob.client.send('alice', 'hello back');
    const [r] = await alice.waitFor(1);
    expect(r).toMatchObject({ from: 'bob', body: 'hello back' });
  });

  it('routes among three clients at once, each receiving only its own messages in order', async () => {
    const names = ['carol', 'dave', 'erin'] as const;
    const [carol, dave, erin] = await Promise.all(names.map((name) => connect(name)));
    const all = { carol: carol!, dave: dave!, erin: erin! };
    await Promise.all(
      names.flatMap((from) =>
        names
          .filter((to) => to !== from)
          .map(async (to) => {
            for (let i = 0; i < 5; i++) await all[from].client.send(to, `${from}→${to} #${i}`);
          }),
      ),
    );
    for (const to of names) {
      const got = await all[to].waitFor(10);
      for (const from of names.filter((n) => n !== to)) {
        expect(got.filter((m) => m.from === from).map((m) => m.body)).toEqual([0, 1, 2, 3, 4].map((i) => `${from}→${to} #${i}`));
      }
      expect(got.every((m) => m.to === to)).toBe(true);
    }
  });

  it('delivers to every connected socket of the recipient', async () => {
    // Hybrid: ratchet sessions are per device, and per-device sessions (one per device of the recipient)
    // are not built yet; the server's fan-out to every socket is the same for both envelope types.
    const sender = await connect('frank', 'hybrid');
    const first = await connect('grace', 'hybrid');
    const second = server.track(await connectTestClient(server.srv.url, 'grace', { keys: first.identity.keys, mode: 'hybrid' }));
    await sender.client.send('grace', 'to both devices');
    expect((await first.waitFor(1))[0]!.body).toBe('to both devices');
    expect((await second.waitFor(1))[0]!.body).toBe('to both devices');
  });

  it('lists who is online and, once asked, announces joins and leaves', async () => {
    const watcher = await connect('heidi');
    const bystander = await connect('hank');
    const events: PresenceEvent[] = [];
    const unasked: PresenceEvent[] = [];
    watcher.client.on('presence', (p) => events.push(p));
    bystander.client.on('presence', (p) => unasked.push(p));
    expect(await watcher.client.onlineUsers()).toContain('heidi'); // asking subscribes
    const ivan = await connectTestClient(server.srv.url, 'ivan');
    expect(await watcher.client.onlineUsers()).toContain('ivan');
    await waitUntil(() => events.find((e) => e.username === 'ivan' && e.online) ?? undefined, 3000, 'ivan online');
    await ivan.client.close();
    await waitUntil(() => events.find((e) => e.username === 'ivan' && !e.online) ?? undefined, 3000, 'ivan offline');
    expect(await watcher.client.onlineUsers()).not.toContain('ivan');
    // A connection that never asked for the list gets no presence traffic.
    expect(unasked).toEqual([]);
  });

  it('refuses an unknown recipient, and queues for an offline one', async () => {
    const judy = await connect('judy');
    await expect(judy.client.send('nobody', 'x')).rejects.toMatchObject({ code: 'unknown_user' });
    const kim = await connectTestClient(server.srv.url, 'kim');
    await kim.client.close();
    expect(await judy.client.send('kim', 'x')).toMatchObject({ status: 'queued' });
  });

  it('stamps the sender from the authenticated connection, ignoring any sender in the payload', async () => {
    const mallory = await connect('mallory');
    const victim = await connect('victor');
    // The directory and the envelope are real; only the raw event adds a forged "from".
    const socket = await rawSocket(server.srv.url);
    expect((await loginRaw(socket, 'mallory', mallory.identity.keys)).ok).toBe(true);
    const before = victim.received.length;
    const sent = await mallory.client.send('victor', 'genuine');
    await victim.waitFor(before + 1);
    const frame = server.srv.frames.find((f) => f.event === 'send' && JSON.stringify(f.args).includes('victor'))!;
    // Victor's copy, resent over mallory's protocol-1 connection (one idempotency key for both protocols).
    const { id, messages } = frame.args[0] as { id: string; messages: Array<{ to: string; envelope: object }> };
    const copy = { to: 'victor', id, envelope: messages.find((m) => m.to === 'victor')!.envelope };
    // Resent under the same client id it is a duplicate: stored once, delivered once.
    expect(await call(socket, 'send', { ...copy, from: 'alice' })).toMatchObject({ ok: true, duplicate: true });
    // Under a fresh client id it is stored again, still stamped as mallory's.
    const forged = { ...copy, id: 'F'.repeat(22), from: 'alice' };
    const ack = await call(socket, 'send', forged);
    expect(ack.ok).toBe(true);
    expect(ack.duplicate).toBeUndefined();
    // The replayed envelope arrives stamped as mallory's, and the receiver rejects it as a replay.
    const [rej] = await victim.waitForRejected(1);
    expect(rej!.from).toBe('mallory');
    expect(victim.received.filter((m) => m.from === 'alice')).toHaveLength(0);
    expect(victim.received.filter((m) => m.id === sent.id)).toHaveLength(1);
    socket.close();
  });

  it('answers GET /health with status and counts', async () => {
    const res = await fetch(`${server.srv.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', store: 'ok' });
    expect(typeof body.connections).toBe('number');
    expect((await fetch(`${server.srv.url}/nope`)).status).toBe(404);
  });
});
