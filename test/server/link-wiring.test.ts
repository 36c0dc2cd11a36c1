/**
 * The link relay wired to real connections (docs/design/devices-v2.md §6.3, PROTOCOL.md §19.10): a new
 * device opens a slot before it logs in and becomes a *linking* connection (only the authentication and
 * link events, kept past the auth timeout until the slot's expiry); the logged-in primary joins; frames
 * travel both ways; closing or dropping a connection tells the other party. The relay's own rules (one
 * refusal for every bad join, caps, expiry) are link-relay.test.ts's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { DeviceSockets, loginV2, type RecordingSocket } from '../helpers/devices.js';
import { call } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

let srv: TestServer;
const net = new DeviceSockets(() => srv.url);
beforeAll(async () => {
  // A short auth timeout, so a plain connection is dropped while a linking one stays.
  srv = await startTestServer({ authTimeoutMs: 500 });
});
afterAll(async () => {
  net.closeAll();
  await srv.stop();
  removeDir(srv.dataDir);
});

const sid = () => base64urlEncode(randomBytes(16));
const frame = () => base64urlEncode(randomBytes(40));

describe('link relay events', () => {
  it('opens a slot before login, lets the primary join, relays frames both ways and closes', async () => {
    const { account, primary } = await net.registered('link-alice');
    const fresh = await net.open();
    const newSid = sid();
    const opened = await call(fresh.socket, 'link.open', { username: 'link-alice', sid: newSid });
    expect(opened).toMatchObject({ ok: true, slot: expect.stringMatching(/^[1-9][0-9]{2}$/), expiresAt: expect.any(Number) });
    const slot = opened.slot as string;

    const primarySid = sid();
    expect(await call(primary.socket, 'link.join', { slot, sid: primarySid })).toStrictEqual({ ok: true, slot, sid: newSid });
    expect(await fresh.waitFor('link.joined')).toEqual([{ slot, sid: primarySid, device: 1 }]);
    const [a, b] = [frame(), frame()];
    expect(await call(primary.socket, 'link.send', { slot, data: a })).toStrictEqual({ ok: true });
    expect(await call(fresh.socket, 'link.send', { slot, data: b })).toStrictEqual({ ok: true });
    expect(await fresh.waitFor('link.data')).toEqual([{ slot, data: a }]);
    expect(await primary.waitFor('link.data')).toEqual([{ slot, data: b }]);
    expect(await call(fresh.socket, 'link.close', { slot })).toStrictEqual({ ok: true });
    expect(await primary.waitFor('link.closed')).toEqual([{ slot, reason: 'closed' }]);
    expect(await call(primary.socket, 'link.send', { slot, data: a })).toMatchObject({ ok: false, error: { code: 'unknown_link' } });

    // The new device, once linked, logs in on the same connection as any device.
    expect(await loginV2(fresh.socket, 'link-alice', 1, account.accountSecret)).toMatchObject({ ok: true, device: 1 });
    expect(await call(fresh.socket, 'keys', { username: 'link-alice' })).toMatchObject({ ok: true });
  });

  it('keeps a linking connection past the auth timeout, allowing it only the authentication and link events', async () => {
    await net.registered('wait-alice');
    const plain = await net.open();
    const linking = await net.open();
    expect(await call(linking.socket, 'link.open', { username: 'wait-alice', sid: sid() })).toMatchObject({ ok: true });
    for (const [event, payload] of [
      ['keys', { username: 'wait-alice' }],
      ['register', {}],
      ['link.join', { slot: '100', sid: sid() }],
      ['devices.list', { username: 'wait-alice' }],
    ] as const) {
      expect(await call(linking.socket, event, payload), event).toMatchObject({ ok: false, error: { code: 'not_authenticated' } });
    }
    expect(await call(linking.socket, 'link.open', { username: 'wait-alice', sid: sid() })).toMatchObject({ ok: false, error: { code: 'link_limit' } });
    // The plain connection is dropped at the auth timeout; then the linking one is still there.
    await plain.disconnected;
    expect(linking.socket.connected).toBe(true);
    expect(await call(linking.socket, 'challenge', {})).toMatchObject({ ok: true });
  });

  it('refuses link.open for an unknown user and on a logged-in connection, and a join of another user\'s slot', async () => {
    const { primary: alice } = await net.registered('who-alice');
    const { primary: bob } = await net.registered('who-bob');
    expect(await call((await net.open()).socket, 'link.open', { username: 'who-nobody', sid: sid() })).toMatchObject({ ok: false, error: { code: 'unknown_user' } });
    expect(await call(alice.socket, 'link.open', { username: 'who-alice', sid: sid() })).toMatchObject({ ok: false, error: { code: 'already_authenticated' } });
    const fresh = await net.open();
    const { slot } = await call(fresh.socket, 'link.open', { username: 'who-alice', sid: sid() });
    expect(await call(bob.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: false, error: { code: 'unknown_link' } });
    expect(await call(alice.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: true });
  });

  it('tells the other party when a connection drops', async () => {
    const { primary } = await net.registered('drop-alice');
    const fresh: RecordingSocket = await net.open();
    const { slot } = await call(fresh.socket, 'link.open', { username: 'drop-alice', sid: sid() });
    expect((await call(primary.socket, 'link.join', { slot, sid: sid() })).ok).toBe(true);
    fresh.socket.close();
    expect(await primary.waitFor('link.closed')).toEqual([{ slot, reason: 'disconnected' }]);
  });
  it('lets only the primary join: a linked device is answered unknown_link, as for any slot it cannot join', async () => {
    const { account, primary } = await net.registered('join-alice');
    await net.link(account, primary);
    const laptop = await net.device(account, 2);
    const fresh = await net.open();
    const { slot } = await call(fresh.socket, 'link.open', { username: 'join-alice', sid: sid() });
    expect(await call(laptop.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: false, error: { code: 'unknown_link' } });
    expect(await call(primary.socket, 'link.join', { slot, sid: sid() })).toMatchObject({ ok: true, slot });
  });

  it('gives a connection one link slot in its lifetime: closing it and opening again is link_limit', async () => {
    await net.registered('again-alice');
    const fresh = await net.open();
    const { slot } = await call(fresh.socket, 'link.open', { username: 'again-alice', sid: sid() });
    expect(await call(fresh.socket, 'link.close', { slot })).toStrictEqual({ ok: true });
    // Each open would move the connection's deadline to a new expiry: reopening would keep it for ever.
    expect(await call(fresh.socket, 'link.open', { username: 'again-alice', sid: sid() })).toMatchObject({ ok: false, error: { code: 'link_limit' } });
  });
});
