/**
 * A first message to several devices of one user fetches their prekey bundles in one request (PROTOCOL.md
 * §19.9 takes a list of devices), not one round trip per device; later messages, on the sessions made,
 * fetch none. Counted at a transparent proxy (the hostile-server harness, lying about nothing here).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { connectTestClient } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

describe('prekey bundles for a fan-out', () => {
  const servers = useHostileServer();
  const { track } = servers;
  const peers: TestPeer[] = [];
  afterAll(() => {
    for (const p of peers) p.close();
  });
  const bundleRequests = (user: string) =>
    servers.hostile.frames.flatMap((f) => (f.kind === 'request' && f.event === 'prekeys.bundle' && f.user === user ? [f.payload as { username: string; devices: number[] }] : []));

  it("a first message to bob's three devices asks for their three bundles at once; the next asks for none", async () => {
    const bob = await TestPeer.register(servers.srv.url, 'bp-bob', { devices: 3 });
    peers.push(bob);
    const alice = track(await connectTestClient(servers.hostile.url, 'bp-alice'));

    await alice.client.send('bp-bob', 'first');
    expect(bundleRequests('bp-alice')).toEqual([{ username: 'bp-bob', devices: [1, 2, 3] }]);
    for (const id of [1, 2, 3]) expect((await bob.device(id).receive(1))[0]).toMatchObject({ body: 'first' });

    await alice.client.send('bp-bob', 'second');
    expect(bundleRequests('bp-alice')).toHaveLength(1);
    for (const id of [1, 2, 3]) expect((await bob.device(id).receive(2))[1]).toMatchObject({ body: 'second' });
  });
});
