/**
 * The hostile-server harness with protocol-2 connections (raw sockets, test/helpers/devices.ts): it
 * passes v2 answers and pushes through unchanged, knows each connection's protocol and device, and runs
 * a hook limited to one protocol only there, typed as that protocol's answers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { DevicesListResult } from '../../src/protocol/events-v2.js';
import { DeviceSockets, type RecordingSocket } from '../helpers/devices.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { useHostileServer } from '../helpers/server-fixtures.js';
import { call, keysFor, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { TestPeer } from '../helpers/test-device.js';

describe('hostile-server harness, protocol 2', () => {
  const servers = useHostileServer();
  // Through the liar, and straight to the real server to compare with.
  const via = new DeviceSockets(() => servers.hostile.url);
  const direct = new DeviceSockets(() => servers.srv.url);
  afterAll(() => {
    via.closeAll();
    direct.closeAll();
  });

  const sentEqualsReal = (event: Parameters<typeof servers.hostile.answersTo>[0]) =>
    servers.hostile.answersTo(event).every((a) => JSON.stringify(a.sent) === JSON.stringify(a.real));

  it('passes register, devices.list, devices.publish, prekeys.bundle and send of protocol 2 through unchanged', async () => {
    const { account: bob, primary: bob1 } = await via.registered('v2h-bob');
    const conn = await servers.hostile.waitForLogin('v2h-bob', 1);
    expect([conn.protocol, conn.device]).toEqual([2, 1]);
    const [registered] = servers.hostile.answersTo('register', (p) => (p as { username: string }).username === 'v2h-bob');
    expect(registered!.sent).toMatchObject({ ok: true, username: 'v2h-bob', device: 1, protocol: 2 });

    await via.link(bob, bob1);
    const bob2 = await via.device(bob, 2);
    expect((await servers.hostile.waitForLogin('v2h-bob', 2)).device).toBe(2);

    // Same answer through the liar as from the real server, asked by another user straight.
    const { primary: carol } = await direct.registered('v2h-carol');
    const listed = await call(bob1.socket, 'devices.list', { username: 'v2h-bob' });
    const truth = await call(carol.socket, 'devices.list', { username: 'v2h-bob' });
    expect(listed.deviceList).toEqual(truth.deviceList);
    expect(listed.deviceList).not.toBeNull();

    const bundles = await call(bob2.socket, 'prekeys.bundle', { username: 'v2h-bob', devices: [1] });
    expect(bundles).toMatchObject({ ok: true, username: 'v2h-bob', bundles: [{ device: 1 }] });

    // A v2 send from carol reaches each of bob's devices, through the liar, as the real server pushed it.
    const sent = await call(carol.socket, 'send', {
      id: 'v2h-message-0001',
      messages: [1, 2].map((device) => ({ to: 'v2h-bob', device, envelope: hybridEnvelope() })),
    });
    expect(sent).toMatchObject({ ok: true, deliveries: [{ to: 'v2h-bob', device: 1 }, { to: 'v2h-bob', device: 2 }] });
    const [m1] = await bob1.waitFor<{ toDevice: number; fromDevice: number }>('message');
    const [m2] = await bob2.waitFor<{ toDevice: number }>('message');
    expect([m1!.toDevice, m1!.fromDevice, m2!.toDevice]).toEqual([1, 1, 2]);
    expect(servers.hostile.pushesOf('message', 'v2h-bob', 2)).toEqual([[m2]]);

    for (const event of ['register', 'login', 'devices.list', 'devices.publish', 'prekeys.upload', 'prekeys.bundle'] as const) {
      expect(sentEqualsReal(event), event).toBe(true);
    }
    expect(servers.hostile.pushesOf('devices.changed', 'v2h-bob', 1)).toEqual([[{ username: 'v2h-bob', version: 2 }]]);
  });

  it('runs a hook limited to protocol 2 on protocol-2 connections only, typed as their answers', async () => {
    const { primary: dan } = await via.registered('v2h-dan');
    // Erin speaks protocol 1 (as e2ee-chat 0.1 did), over a raw socket.
    const erin = await via.raw();
    expect((await registerRaw(erin, 'v2h-erin', await keysFor())).ok).toBe(true);
    expect((await servers.hostile.waitForLogin('v2h-erin')).protocol).toBe(1);

    const stopKeys = servers.hostile.onAnswer('keys', (answer) => (answer.ok ? { ...answer, registeredAt: 1 } : answer), { protocol: 2 });
    const stopList = servers.hostile.onAnswer(
      'devices.list',
      async (answer, payload, conn) => {
        // `conn.ask` is typed for protocol 2 too. Erin (protocol 1) has no list: dan is downgraded to "device 1 alone".
        const other = await conn.ask('devices.list', { username: 'v2h-erin' });
        const forged: DevicesListResult = { username: (payload as { username: string }).username, deviceList: other.ok ? other.deviceList : null };
        return answer.ok ? { ok: true, ...forged } : answer;
      },
      { protocol: 2 },
    );
    expect((await call(dan.socket, 'keys', { username: 'v2h-erin' })).registeredAt).toBe(1);
    expect((await call(erin, 'keys', { username: 'v2h-dan' })).registeredAt).not.toBe(1);
    expect(await call(dan.socket, 'devices.list', { username: 'v2h-dan' })).toEqual({ ok: true, username: 'v2h-dan', deviceList: null });
    stopKeys();
    stopList();
  });

  it('rewrites, drops and injects protocol-2 pushes, for one device or the whole user', async () => {
    const { account: fay, primary: fay1 } = await via.registered('v2h-fay');
    const fay2Device = await via.link(fay, fay1);
    const fay2: RecordingSocket = await via.device(fay, fay2Device.id);
    const seen: number[] = [];
    const stop = servers.hostile.onPush(
      'devices.changed',
      (changed, conn) => {
        seen.push(conn.device!);
        return conn.device === 2 ? [] : [{ ...changed, version: 99 }];
      },
      { protocol: 2 },
    );
    await via.link(fay, fay1);
    expect((await fay1.waitFor('devices.changed', 2)).at(-1)).toEqual({ username: 'v2h-fay', version: 99 });
    await waitUntil(() => (seen.includes(2) ? true : undefined), 5000, "device 2's devices.changed");
    stop();

    expect(servers.hostile.push({ user: 'v2h-fay', device: 2 }, 'device.removed', { username: 'v2h-fay', device: 2, version: 4 })).toBe(1);
    expect(await fay2.waitFor('device.removed')).toEqual([{ username: 'v2h-fay', device: 2, version: 4 }]);
    // Device 2's devices.changed was dropped before the injected frame, which came after it on the same connection.
    expect(fay2.of('devices.changed')).toEqual([]);
  });

  it('carries a multi-device TestPeer: its fan-out and the replies to it open on every device', async () => {
    const gus = await TestPeer.register(servers.hostile.url, 'v2h-gus', { devices: 2 });
    const hal = await TestPeer.register(servers.srv.url, 'v2h-hal');
    try {
      expect((await gus.sendTo('v2h-hal', 'through the liar')).ok).toBe(true);
      expect((await hal.device(1).receive(1))[0]).toMatchObject({ from: 'v2h-gus', fromDevice: 1, body: 'through the liar' });
      expect((await hal.sendTo('v2h-gus', 'and back')).ok).toBe(true);
      expect((await gus.device(1).receive(1))[0]).toMatchObject({ from: 'v2h-hal', body: 'and back' });
      // Device 2 had gus's own copy first, then hal's reply.
      expect((await gus.device(2).receive(2)).map((p) => p.body)).toEqual(['through the liar', 'and back']);
      expect(servers.hostile.pushesOf('message', 'v2h-gus', 2)).toHaveLength(2);
    } finally {
      gus.close();
      hal.close();
    }
  });
});
