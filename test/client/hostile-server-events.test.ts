/**
 * Every server-to-client event is parsed by its schema before use: a malformed frame (null, a number, a
 * huge string, wrong types, a missing member) is a debug event and is ignored, never fatal, and the
 * next good message still arrives. Extra members are dropped, not refused.
 */
import { describe, expect, it } from 'vitest';
import type { PresenceEvent } from '../../src/protocol/events.js';
import type { PushEvent } from '../helpers/hostile-server.js';
import { connectTestClient, waitUntil } from '../helpers/test-clients.js';
import { useHostileServer } from '../helpers/server-fixtures.js';

const SERVER_ID = 'A'.repeat(22);
const HUGE = 'x'.repeat(1_000_000);

/** Frames that must each be ignored, per event: the generic ones first, then wrong types per member. */
const BAD: Record<PushEvent, unknown[]> = {
  message: [
    { id: SERVER_ID, from: 'alice', to: 'bob', sentAt: 'yesterday', envelope: { type: 'ratchet', v: 1, body: 'AA' } },
    { id: SERVER_ID, from: 'alice', to: 'bob', sentAt: 1, envelope: null },
    { id: SERVER_ID, from: HUGE, to: 'bob', sentAt: 1, envelope: { type: 'ratchet', v: 1, body: 'AA' } },
  ],
  receipt: [
    { id: SERVER_ID, clientId: 'short', to: 'alice', deliveredAt: 1 },
    { id: null, clientId: SERVER_ID, to: 'alice', deliveredAt: 1 },
    { id: SERVER_ID, clientId: SERVER_ID, to: 'alice', deliveredAt: 1, status: 'read' },
  ],
  receipts: [
    { receipts: [] },
    { receipts: [{ id: null, clientId: SERVER_ID, to: 'alice', deliveredAt: 1 }] },
    { receipts: 'all' },
  ],
  presence: [
    { username: '\u001b[31mevil', online: true },
    { username: 'carol', online: 'yes' },
  ],
  'prekeys.low': [{ oneTime: -1, kemOneTime: 0 }, { oneTime: 'many', kemOneTime: 0 }],
  'backlog.end': [{ count: -1 }, { count: 'all' }, { count: 1.5 }],
  protocol_error: [{ event: 'x'.repeat(1000), error: { code: 'internal', message: 'm' } }, { event: 'send', error: null }],
};
const GENERIC: unknown[] = [null, 42, HUGE, [], {}, true];

/**
 * Well-formed deliveries whose envelope cannot be read: not ignored (that would leave them in the
 * delivery window) but acknowledged as rejected and reported, like any unreadable message.
 */
const UNREADABLE_ENVELOPES = [
  { id: 'B'.repeat(22), from: 'ealice', fromDevice: 1, to: 'ebob', toDevice: 1, sentAt: 1, envelope: { type: 'ratchet', v: 1, body: 'A'.repeat(300_000) } },
  { id: 'C'.repeat(22), from: 'ealice', fromDevice: 1, to: 'ebob', toDevice: 1, sentAt: 1, envelope: { type: 'ratchet', v: 1, body: 'AA', extra: 1 } },
];

describe('malformed server events', () => {
  const servers = useHostileServer();
  const { track } = servers;

  it('ignores each malformed frame of every event with a debug event, and the next good message still arrives', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'ealice'));
    const bob = track(await connectTestClient(servers.hostile.url, 'ebob'));
    const ignored: string[] = [];
    const presence: PresenceEvent[] = [];
    bob.client.on('debug', (d) => d.message.startsWith('ignored a malformed') && ignored.push(d.message));
    bob.client.on('presence', (p) => presence.push(p));
    let pushed = 0;
    for (const [event, frames] of Object.entries(BAD)) {
      for (const frame of [...GENERIC, ...frames]) {
        expect(servers.hostile.push('ebob', event, frame)).toBe(1);
        pushed++;
      }
    }
    for (const frame of UNREADABLE_ENVELOPES) expect(servers.hostile.push('ebob', 'message', frame)).toBe(1);
    // Pushed on the same connection after the bad frames: by the time it arrives, all were handled.
    await alice.client.send('ebob', 'still here');
    expect((await bob.waitFor(1)).map((m) => m.body)).toEqual(['still here']);
    await waitUntil(() => (ignored.length >= pushed ? true : undefined), 5000, 'every bad frame reported');
    expect(ignored).toHaveLength(pushed);
    expect(bob.rejected.map((r) => [r.serverId, r.reason])).toEqual([
      ['B'.repeat(22), 'decryption_failed'],
      ['C'.repeat(22), 'decryption_failed'],
    ]);
    expect(presence).toEqual([]);
    expect(bob.client.connected).toBe(true);
  });

  it('drops extra members, and shows a replayed message frame once', async () => {
    const alice = track(await connectTestClient(servers.srv.url, 'xalice'));
    const bob = track(await connectTestClient(servers.hostile.url, 'xbob'));
    const presence: PresenceEvent[] = [];
    bob.client.on('presence', (p) => presence.push(p));
    servers.hostile.push('xbob', 'presence', { username: 'carol', online: true, extra: 'member' });
    await alice.client.send('xbob', 'once');
    await bob.waitFor(1);
    expect(presence).toEqual([{ username: 'carol', online: true }]);

    const [recorded] = servers.hostile.pushesOf('message', 'xbob');
    servers.hostile.push('xbob', 'message', ...recorded!);
    servers.hostile.push('xbob', 'message', { ...(recorded![0] as object), extra: 'member' });
    await alice.client.send('xbob', 'twice');
    expect((await bob.waitFor(2)).map((m) => m.body)).toEqual(['once', 'twice']);
    expect(bob.received).toHaveLength(2);
  });
});
