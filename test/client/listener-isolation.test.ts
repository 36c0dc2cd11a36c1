/**
 * Listeners of ChatClient events are isolated (issue 10, item 5): they run after the message is committed
 * (history and session), a throwing or rejecting listener is reported as a debug event, and it never stops
 * the listeners after it, the messages after it, nor the acknowledgement of the message it was told about.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TypedEmitter } from '../../src/client/emitter.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { connectTestClient, waitUntil, type TestClient } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()));
  for (const s of servers.splice(0)) {
    await s.stop();
    removeDir(s.dataDir);
  }
});

function ackedIds(srv: TestServer): string[] {
  return srv.frames.filter((f) => f.event === 'ack').flatMap((f) => (f.args[0] as { ids?: string[] }).ids ?? []);
}

class Probe extends TypedEmitter<{ tick: number; other: string }> {
  readonly failures: Array<{ event: string; error: unknown }> = [];
  constructor(failReport = false) {
    super((event, error) => {
      this.failures.push({ event, error });
      if (failReport) throw new Error('the report failed too');
    });
  }
  fire(n: number): void {
    this.emit('tick', n);
  }
}

describe('TypedEmitter', () => {
  it('a throwing listener is reported with its event, and the listeners after it still run', () => {
    const probe = new Probe();
    const seen: string[] = [];
    probe.on('tick', (n) => seen.push(`first ${n}`));
    probe.on('tick', () => {
      throw new Error('listener bug');
    });
    probe.on('tick', (n) => seen.push(`last ${n}`));
    expect(() => probe.fire(1)).not.toThrow();
    probe.fire(2);
    expect(seen).toEqual(['first 1', 'last 1', 'first 2', 'last 2']);
    expect(probe.failures.map((f) => [f.event, (f.error as Error).message])).toEqual([
      ['tick', 'listener bug'],
      ['tick', 'listener bug'],
    ]);
  });

  it('an async listener that rejects is reported too', async () => {
    const probe = new Probe();
    probe.on('tick', async () => {
      throw new Error('async listener bug');
    });
    probe.fire(1);
    await waitUntil(() => (probe.failures.length === 1 ? true : undefined), 1000, 'the rejection report');
    expect((probe.failures[0]!.error as Error).message).toBe('async listener bug');
  });

  it('a report that itself throws does not escape emit', () => {
    const probe = new Probe(true);
    const seen: number[] = [];
    probe.on('tick', () => {
      throw new Error('listener bug');
    });
    probe.on('tick', (n) => seen.push(n));
    expect(() => probe.fire(7)).not.toThrow();
    expect(seen).toEqual([7]);
  });
});

describe('ChatClient listeners', () => {
  it('a throwing "message" listener is reported as a debug event; later listeners and later messages go on, and every message is acknowledged', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const alice = await connectTestClient(srv.url, 'alice');
    clients.push(alice);
    const bob = await connectTestClient(srv.url, 'bob');
    clients.push(bob);
    // Registered after the test helper's own listener: a listener added last sees everything too.
    const debug: Array<{ message: string; cause?: unknown }> = [];
    bob.client.on('debug', (d) => debug.push(d));
    bob.client.on('message', (m) => {
      if (m.body !== 'fine') throw new Error(`application bug on "${m.body}"`);
    });
    bob.client.on('message', async (m) => {
      if (m.body === 'async') throw new Error('async application bug');
    });
    const after: string[] = [];
    bob.client.on('message', (m) => after.push(m.body));

    const sent: Array<{ serverId?: string }> = [];
    for (const body of ['one', 'async', 'fine']) sent.push(await alice.client.send('bob', body));
    await bob.waitFor(3);
    await waitUntil(() => (after.length === 3 ? true : undefined), 5000, 'the last listener');
    expect(after).toEqual(['one', 'async', 'fine']);
    await waitUntil(() => (sent.every((s) => ackedIds(srv).includes(s.serverId!)) ? true : undefined), 5000, 'acks for all three messages');
    await waitUntil(() => (debug.filter((d) => /"message" listener threw/.test(d.message)).length === 3 ? true : undefined), 5000, 'three listener reports');
    expect(debug.filter((d) => /"message" listener threw/.test(d.message)).map((d) => (d.cause as Error).message)).toEqual([
      'application bug on "one"',
      'application bug on "async"',
      'async application bug',
    ]);
    // Nothing was judged unreadable or retried because of the listener.
    expect(bob.rejected).toEqual([]);
    expect(debug.some((d) => /passing failure|handling message/.test(d.message))).toBe(false);
  });

  it('a listener is told after the message is committed: it is in the history and the saved session already', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const alice = await connectTestClient(srv.url, 'alice');
    clients.push(alice);
    const ratchet = new MemoryRatchetStore();
    const bob = await connectTestClient(srv.url, 'bob', { ratchet });
    clients.push(bob);
    const seenAtNotice: Array<Promise<[boolean, boolean]>> = [];
    bob.client.on('message', (m) => {
      // Both stores are read at the moment of the notice (the in-memory ones read synchronously on call).
      const history = bob.messages.get(m.id, 'in');
      const session = ratchet.loadSession('alice');
      seenAtNotice.push(Promise.all([history.then((r) => r?.body === m.body), session.then((s) => s?.value.delivered.some(([serverId]) => serverId === m.serverId) ?? false)]));
    });
    await alice.client.send('bob', 'first');
    await alice.client.send('bob', 'second');
    await bob.waitFor(2);
    expect(await Promise.all(seenAtNotice)).toEqual([
      [true, true],
      [true, true],
    ]);
  });

  it('a throwing "rejected" listener does not keep the unreadable envelope from being acknowledged as rejected', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const victim = await connectTestClient(srv.url, 'victim');
    clients.push(victim);
    victim.client.on('rejected', () => {
      throw new Error('application bug');
    });
    const push = (m: object) => {
      for (const [, s] of srv.server.io.sockets.sockets) if (s.rooms.has('user:victim')) s.emit('message', m);
    };
    push({ id: 'U'.repeat(22), from: 'sender', fromDevice: 1, to: 'victim', toDevice: 1, sentAt: Date.now(), envelope: { type: 'ratchet', v: 2, body: 'AAAA' } });
    await victim.waitForRejected(1);
    const rejected = () => srv.frames.filter((f) => f.event === 'ack').flatMap((f) => (f.args[0] as { rejected?: Array<{ id: string }> }).rejected ?? []);
    await waitUntil(() => (rejected().some((r) => r.id === 'U'.repeat(22)) ? true : undefined), 5000, 'the rejected ack');
  });
});
