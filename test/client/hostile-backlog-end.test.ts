/**
 * The end of the backlog (`backlog.end`) is the server's word, and the server is the adversary. A liar
 * can say it early (the client believes it: it cannot know better, and the messages kept back are still
 * handled as usual when they come), never (nothing is told; a caller bounds its wait), before login or
 * twice (ignored: one per logged-in connection). None of it loses, duplicates or blocks a message.
 *
 * Each test builds a backlog for a client that is already listening: its connection is cut, its next
 * login is held at the liar while the messages are queued, then let through.
 */
import { describe, expect, it } from 'vitest';
import type { CaughtUp } from '../../src/client/chat-client.js';
import type { ClientEventName } from '../../src/protocol/events.js';
import { FORWARD, type HostileConnection } from '../helpers/hostile-server.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';

interface Victim {
  c: TestClient;
  caughtUp: CaughtUp[];
  /** Bodies already received when each caughtUp was told. */
  receivedAtCaughtUp: string[][];
  ignored: string[];
}

describe('a server that lies about the end of the backlog', () => {
  const servers = useHostileServer();
  const { track } = servers;

  /** `name` connected through the liar, with its listeners in place from the first login on. */
  async function victim(name: string): Promise<Victim> {
    const c = track(await connectTestClient(servers.hostile.url, name));
    const v: Victim = { c, caughtUp: [], receivedAtCaughtUp: [], ignored: [] };
    c.client.on('caughtUp', (e) => {
      v.caughtUp.push(e);
      v.receivedAtCaughtUp.push(c.received.map((m) => m.body));
    });
    c.client.on('debug', (d) => d.message.includes('"backlog.end"') && v.ignored.push(d.message));
    return v;
  }

  /**
   * Cuts the victim's connection, holds its next request `at` (running `before` on that connection
   * first) until `bodies` from `sender` are queued for it, then lets it through. Resolves once the
   * victim is logged in again.
   */
  async function reconnectToBacklog(v: Victim, sender: TestClient, bodies: readonly string[], at: ClientEventName = 'login', before?: (conn: HostileConnection) => void): Promise<void> {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    const stop = servers.hostile.onRequest(at, async (_payload, conn) => {
      reached();
      await gate;
      before?.(conn);
      return FORWARD;
    });
    const reconnected = new Promise<void>((resolve) => {
      const off = v.c.client.on('reconnected', () => (off(), resolve()));
    });
    for (const conn of servers.hostile.connectionsOf(v.c.identity.username)) conn.drop();
    await atGate;
    for (const body of bodies) expect((await sender.client.send(v.c.identity.username, body)).status).toBe('queued');
    stop();
    open();
    await reconnected;
  }

  it('an honest server: caughtUp is told after the whole backlog was handled, with its count', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'hb-alice'));
    const bob = await victim('hb-bob');
    expect(await bob.c.client.caughtUp()).toEqual({ count: 0 });
    await reconnectToBacklog(bob, alice, ['one', 'two', 'three']);
    await waitUntil(() => (bob.caughtUp.length >= 1 ? true : undefined), 5000, 'the marker');
    expect(bob.caughtUp).toEqual([{ count: 3 }]);
    expect(bob.receivedAtCaughtUp[0]).toEqual(['one', 'two', 'three']);
    expect(bob.ignored).toEqual([]);
  });

  it('a marker forged before the backlog is believed, the backlog is still handled, and the true marker is ignored as a second', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'hf-alice'));
    const bob = await victim('hf-bob');
    expect(await bob.c.client.caughtUp()).toEqual({ count: 0 });
    // Pushed as the login request passes: the client asked to log in, so it takes the marker.
    await reconnectToBacklog(bob, alice, ['kept', 'back'], 'login', (conn) => conn.push('backlog.end', { count: 0 }));
    expect((await bob.c.waitFor(2)).map((m) => m.body)).toEqual(['kept', 'back']);
    await waitUntil(() => (bob.ignored.length >= 1 ? true : undefined), 5000, 'the true marker, ignored');
    expect(bob.ignored).toEqual(['ignored a second "backlog.end" on this connection']);
    expect(bob.caughtUp).toEqual([{ count: 0 }]);
    expect(bob.receivedAtCaughtUp[0]).toEqual([]);
    // Barrier: a live message after both markers arrives; nothing else was told.
    await alice.client.send('hf-bob', 'live');
    expect((await bob.c.waitFor(3)).map((m) => m.body)).toEqual(['kept', 'back', 'live']);
    expect(bob.caughtUp).toHaveLength(1);
  });

  it('a marker pushed before the client asked to log in is ignored; the true one comes after the backlog', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'hp-alice'));
    const bob = await victim('hp-bob');
    expect(await bob.c.client.caughtUp()).toEqual({ count: 0 });
    await reconnectToBacklog(bob, alice, ['a', 'b'], 'challenge', (conn) => conn.push('backlog.end', { count: 99 }));
    await waitUntil(() => (bob.caughtUp.length >= 1 ? true : undefined), 5000, 'the true marker');
    expect(bob.caughtUp).toEqual([{ count: 2 }]);
    expect(bob.receivedAtCaughtUp[0]).toEqual(['a', 'b']);
    expect(bob.ignored).toEqual(['ignored a "backlog.end" before this connection asked to log in']);
  });

  it('a duplicated marker is told once; a withheld one is never told; messages flow either way', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'hd-alice'));
    const bob = await victim('hd-bob');
    expect(await bob.c.client.caughtUp()).toEqual({ count: 0 });

    const doubled = servers.hostile.onPush('backlog.end', (b) => [b, b]);
    await reconnectToBacklog(bob, alice, ['x']);
    await waitUntil(() => (bob.ignored.length >= 1 && bob.caughtUp.length >= 1 ? true : undefined), 5000, 'the marker told, the duplicate ignored');
    expect(bob.caughtUp).toEqual([{ count: 1 }]);
    doubled();

    const withheld = servers.hostile.onPush('backlog.end', () => []);
    await reconnectToBacklog(bob, alice, ['y']);
    // Barrier: a live message after the withheld marker's place on the same connection.
    await alice.client.send('hd-bob', 'live');
    expect((await bob.c.waitFor(3)).map((m) => m.body)).toEqual(['x', 'y', 'live']);
    expect(bob.caughtUp).toEqual([{ count: 1 }]);
    withheld();
  });
});
