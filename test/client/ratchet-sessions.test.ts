/**
 * Ratchet mode end to end, in process: real server (SQLite), real ChatClients with persisted-shape
 * (in-memory) ratchet stores. Sessions start from fetched bundles, survive restarts of both clients and
 * of the server, converge after simultaneous initiation, and the server sees no plaintext.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryMessageStore, MemoryPeerKeyStore } from '../../src/client/memory-stores.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { ratchetEnvelopeSchema } from '../../src/protocol/schemas.js';
import { connectTestClient, keysFor, waitUntil, type TestClient } from '../helpers/test-clients.js';
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

async function user(url: string, name: string, state?: Pick<TestClient, 'identity' | 'peers' | 'messages'> & { ratchet: MemoryRatchetStore }) {
  const ratchet = state?.ratchet ?? new MemoryRatchetStore();
  const c = await connectTestClient(url, name, {
    ratchet,
    ...(state && { keys: state.identity.keys, peers: state.peers as MemoryPeerKeyStore, messages: state.messages as MemoryMessageStore }),
  });
  clients.push(c);
  return Object.assign(c, { ratchet });
}

describe('ratchet sessions between ChatClients', () => {
  it('is the default with a ratchet store; many messages both ways arrive once, in order, as ratchet envelopes', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const alice = await user(srv.url, 'alice');
    const bob = await user(srv.url, 'bob');
    expect(alice.client.mode).toBe('ratchet');
    for (let i = 0; i < 30; i++) await alice.client.send('bob', `a${i}`);
    await bob.waitFor(30);
    for (let i = 0; i < 30; i++) await bob.client.send('alice', `b${i}`);
    await alice.waitFor(30);
    // Interleaved, concurrently: every turn is a DH ratchet step.
    await Promise.all(Array.from({ length: 10 }, (_, i) => Promise.all([alice.client.send('bob', `x${i}`), bob.client.send('alice', `y${i}`)])));
    await bob.waitFor(40);
    await alice.waitFor(40);
    expect(bob.received.map((m) => m.body)).toEqual([...Array.from({ length: 30 }, (_, i) => `a${i}`), ...Array.from({ length: 10 }, (_, i) => `x${i}`)]);
    expect(alice.received.slice(0, 30).map((m) => m.body)).toEqual(Array.from({ length: 30 }, (_, i) => `b${i}`));
    expect(alice.rejected).toEqual([]);
    expect(bob.rejected).toEqual([]);
    const sends = srv.frames.filter((f) => f.event === 'send').flatMap((f) => (f.args[0] as { messages: Array<{ envelope: unknown }> }).messages.map((m) => m.envelope));
    expect(sends).toHaveLength(80);
    for (const e of sends) expect(ratchetEnvelopeSchema.safeParse(e).success).toBe(true);
    // The server never saw any body, in any frame or row.
    const everything = JSON.stringify(srv.frames) + JSON.stringify(srv.store);
    for (const body of ['a0', 'b29', 'x9', 'y3']) expect(everything.includes(`"${body}"`)).toBe(false);
  });

  it('sessions survive restarts of both clients and of the server (same data folder)', async () => {
    let srv = await startTestServer();
    servers.push(srv);
    let alice = await user(srv.url, 'alice');
    let bob = await user(srv.url, 'bob');
    await alice.client.send('bob', 'before');
    await bob.waitFor(1);
    await bob.client.send('alice', 'reply');
    await alice.waitFor(1);
    await Promise.all([alice.client.close(), bob.client.close()]);
    clients.splice(0);
    const dataDir = srv.dataDir;
    await srv.stop();
    servers.splice(0);
    srv = await startTestServer({}, dataDir);
    servers.push(srv);
    alice = await user(srv.url, 'alice', alice);
    bob = await user(srv.url, 'bob', bob);
    const bundlesBefore = srv.frames.filter((f) => f.event === 'prekeys.bundle').length;
    await alice.client.send('bob', 'after');
    await bob.client.send('alice', 'after too');
    await waitUntil(() => (bob.received.length === 1 && alice.received.length === 1 ? true : undefined), 5000, 'both');
    expect(bob.received[0]!.body).toBe('after');
    expect(alice.received[0]!.body).toBe('after too');
    // The same sessions went on: nobody fetched a new bundle.
    expect(srv.frames.filter((f) => f.event === 'prekeys.bundle').length).toBe(bundlesBefore);
    expect([...alice.rejected, ...bob.rejected]).toEqual([]);
  });

  it('simultaneous initiation converges on one working session', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const alice = await user(srv.url, 'alice');
    const bob = await user(srv.url, 'bob');
    await Promise.all([alice.client.send('bob', 'hi from alice'), bob.client.send('alice', 'hi from bob')]);
    await bob.waitFor(1);
    await alice.waitFor(1);
    for (let i = 0; i < 5; i++) {
      await alice.client.send('bob', `a${i}`);
      await bob.client.send('alice', `b${i}`);
    }
    await bob.waitFor(6);
    await alice.waitFor(6);
    expect([...alice.rejected, ...bob.rejected]).toEqual([]);
    expect(srv.frames.filter((f) => f.event === 'prekeys.bundle')).toHaveLength(2);
  });

  it('a redelivered envelope whose session was already saved is a duplicate, not a failure', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    const alice = await user(srv.url, 'alice');
    // bob acknowledges nothing for a minute: his "crash" comes before the ack.
    const bobState = { identity: { username: 'bob', keys: await keysFor() }, peers: new MemoryPeerKeyStore(), messages: new MemoryMessageStore(), ratchet: new MemoryRatchetStore() };
    const bob1 = await connectTestClient(srv.url, 'bob', { keys: bobState.identity.keys, peers: bobState.peers, messages: bobState.messages, ratchet: bobState.ratchet, ackDelayMs: 60_000 });
    await alice.client.send('bob', 'once');
    await alice.client.send('bob', 'twice');
    await bob1.waitFor(2);
    bob1.client['connection'].close(); // drop without acknowledging
    const bob2 = await user(srv.url, 'bob', bobState);
    await waitUntil(() => (srv.frames.filter((f) => f.event === 'ack').length > 0 ? true : undefined), 5000, 'the redelivery to be acknowledged');
    await alice.client.send('bob', 'thrice');
    await bob2.waitFor(1);
    expect(bob2.received.map((m) => m.body)).toEqual(['thrice']);
    expect(bob2.rejected).toEqual([]);
    await waitUntil(async () => ((await srv.store.pending('bob', 1, 0, 10, Date.now())).length === 0 ? true : undefined), 5000, 'the queue to empty');
    expect(await srv.store.pending('bob', 1, 0, 10, Date.now())).toEqual([]);
    await bob1.client.close();
  });
});

describe('prekeys on the server', () => {
  it('concurrent bundle fetches never get the same one-time prekey', async () => {
    const srv = await startTestServer();
    servers.push(srv);
    await user(srv.url, 'bob');
    const fetchers = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((n) => user(srv.url, n)));
    const bundles = await Promise.all(fetchers.flatMap((f) => Array.from({ length: 10 }, () => f.client['connection'].call('prekeys.bundle', { username: 'bob', devices: [1] }))));
    const ids = bundles.map((b) => b.bundles[0]!.oneTimePreKey!.id);
    expect(new Set(ids).size).toBe(40);
    expect(new Set(bundles.map((b) => b.bundles[0]!.kemPreKey.id)).size).toBe(40);
  });
});
