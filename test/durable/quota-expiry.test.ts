/**
 * The queue is bounded: per recipient by count and by bytes (refusals are `quota_exceeded`, final for
 * the client library, which marks the message failed), and in time (expired envelopes are swept and
 * never delivered).
 */
import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatError } from '../../src/protocol/errors.js';
import { clientBarrier } from './barrier.js';
import {
  call,
  clientId,
  envelopeOfJsonLength,
  fakeEnvelope,
  keysFor,
  queueRows,
  Resources,
  waitOffline,
  waitOfflineRaw,
  waitUntil,
  type RawAck,
} from './harness.js';

const res = new Resources();
afterEach(() => res.cleanup());

const send = (socket: Socket, payload: object) => call(socket, 'send', payload);
const quotaRefusal = { ok: false, error: { code: 'quota_exceeded', message: expect.any(String) } };

describe('queue quota', () => {
  it('refuses the 4th envelope for an offline recipient when the count cap is 3, over the wire and in the client library', async () => {
    const srv = await res.server({ queueMaxCount: 3 });
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    const carol = await res.raw(srv.url, 'carol', await keysFor());
    await waitOfflineRaw(carol.socket, 'bob');

    // Wire level.
    const ids = [clientId(), clientId(), clientId()];
    const accepted = [];
    for (let i = 0; i < 3; i++) accepted.push(await send(carol.socket, { to: 'bob', id: ids[i], envelope: fakeEnvelope(`c${i}`) }));
    for (const a of accepted) expect(a).toMatchObject({ ok: true, status: 'queued' });
    const refused = await send(carol.socket, { to: 'bob', id: clientId(), envelope: fakeEnvelope('c3') });
    expect(refused).toEqual(quotaRefusal);
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 3 });
    // A full queue does not turn a resend of an accepted envelope into a refusal: it is still its duplicate.
    expect(await send(carol.socket, { to: 'bob', id: ids[1], envelope: fakeEnvelope('c1') })).toEqual({
      ok: true,
      id: accepted[1]!.id,
      sentAt: accepted[1]!.sentAt,
      status: 'queued',
      duplicate: true,
    });
    // The cap is per recipient: someone else's queue is unaffected.
    (await res.raw(srv.url, 'dave', await keysFor())).socket.disconnect();
    await waitOfflineRaw(carol.socket, 'dave');
    expect(await send(carol.socket, { to: 'dave', envelope: fakeEnvelope('d') })).toMatchObject({ ok: true, status: 'queued' });

    // Client library: a full queue is a final refusal — send() rejects, the history says failed, and
    // nothing stays in the outbox to be retried forever.
    (await res.raw(srv.url, 'erin', await keysFor())).socket.disconnect();
    const alice = await res.client(srv.url, 'alice');
    await waitOffline(alice.client, 'erin');
    const ok = [];
    for (let i = 0; i < 3; i++) ok.push(await alice.client.send('erin', `fits ${i}`));
    expect(ok.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);
    const error = await alice.client.send('erin', 'one too many').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('quota_exceeded');
    expect(alice.failed).toHaveLength(1);
    expect(alice.failed[0]).toMatchObject({ to: 'erin', error: { code: 'quota_exceeded' } });
    const record = await alice.messages.get(alice.failed[0]!.id, 'out');
    expect(record).toMatchObject({ body: 'one too many', status: 'failed' });
    for (const s of ok) expect((await alice.messages.get(s.id, 'out'))?.status).toBe('queued');
    expect(await alice.messages.outbox()).toEqual([]);
    expect(await srv.store.queueUsage('erin')).toMatchObject({ count: 3 });

    // Once bob's device acknowledges, there is room again.
    const bob = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await waitUntil(() => (bob.messages.length >= 3 ? true : undefined), 5000, "bob's backlog");
    expect(await call(bob.socket, 'ack', { ids: [bob.messages[0]!.id] })).toEqual({ ok: true, acknowledged: 1 });
    expect(await srv.store.queueUsage('bob')).toMatchObject({ count: 2 });
    expect(await send(carol.socket, { to: 'bob', envelope: fakeEnvelope('c4') })).toMatchObject({ ok: true, status: 'delivered' });
  });

  it('refuses an envelope that would take an offline recipient past the byte cap, counting the envelope JSON exactly', async () => {
    const srv = await res.server({ queueMaxBytes: 2700 });
    (await res.raw(srv.url, 'bob', await keysFor())).socket.disconnect();
    const carol = await res.raw(srv.url, 'carol', await keysFor());
    await waitOfflineRaw(carol.socket, 'bob');

    expect(await send(carol.socket, { to: 'bob', envelope: envelopeOfJsonLength(1000) })).toMatchObject({ ok: true });
    expect(await send(carol.socket, { to: 'bob', envelope: envelopeOfJsonLength(1000) })).toMatchObject({ ok: true });
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 2, bytes: 2000 });
    // 2000 + 701 > 2700: refused; 2000 + 700 = 2700: fits exactly; then nothing fits.
    expect(await send(carol.socket, { to: 'bob', envelope: envelopeOfJsonLength(701) })).toEqual(quotaRefusal);
    expect(await send(carol.socket, { to: 'bob', envelope: envelopeOfJsonLength(700) })).toMatchObject({ ok: true, status: 'queued' });
    expect(await send(carol.socket, { to: 'bob', envelope: envelopeOfJsonLength(650) })).toEqual(quotaRefusal);
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 3, bytes: 2700 });

    // A real client's envelope (with no byte left) is refused the same way.
    const alice = await res.client(srv.url, 'alice');
    const error = await alice.client.send('bob', 'no room for me').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as ChatError).code).toBe('quota_exceeded');
    expect((await alice.messages.history()).map((r) => [r.body, r.status])).toEqual([['no room for me', 'failed']]);
    expect(await alice.messages.outbox()).toEqual([]);
  });
});

describe('queue expiry', () => {
  it('sweeps envelopes older than the TTL: the queue table empties and the recipient who logs in later receives nothing', async () => {
    const srv = await res.server({ queueTtlMs: 800, sweepIntervalMs: 100 });
    const bobKeys = await keysFor();
    const bob0 = await res.client(srv.url, 'bob', { keys: bobKeys });
    await bob0.client.close();
    const alice = await res.client(srv.url, 'alice');
    await waitOffline(alice.client, 'bob');

    const sent = [];
    for (const body of ['soon gone 1', 'soon gone 2', 'soon gone 3']) sent.push(await alice.client.send('bob', body));
    expect(sent.map((s) => s.status)).toEqual(['queued', 'queued', 'queued']);
    expect(queueRows(srv.dataDir, 'bob')).toHaveLength(3);

    // Within a few sweep intervals after the TTL, the rows are gone from the store and from the file.
    await waitUntil(async () => ((await srv.store.queueUsage('bob')).count === 0 ? true : undefined), 3000, 'the sweep');
    await waitUntil(() => (queueRows(srv.dataDir).length === 0 ? true : undefined), 3000, 'the queue table to empty');
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });

    const bob = await res.client(srv.url, 'bob', { keys: bobKeys });
    // Queued behind anything the sweep left: bob shows only the barrier.
    const barrier = await clientBarrier(alice, bob);
    expect(bob.received.map((m) => m.body)).toEqual([barrier]);
    expect(bob.rejected).toEqual([]);
    // Never delivered, so no receipt either: alice has the barrier's only.
    expect(alice.delivered).toHaveLength(1);
    await expect.poll(() => srv.store.pendingReceipts('alice', 1, 0, 10)).toEqual([]);
  });

  it('does not deliver an expired envelope even before the sweep has removed it', async () => {
    // The TTL leaves the barrier below (sent once the first envelope has expired) ample time to arrive.
    const srv = await res.server({ queueTtlMs: 1000, sweepIntervalMs: 3_600_000 });
    const bobKeys = await keysFor();
    (await res.raw(srv.url, 'bob', bobKeys)).socket.disconnect();
    const carol = await res.raw(srv.url, 'carol', await keysFor());
    await waitOfflineRaw(carol.socket, 'bob');
    const ack = (await send(carol.socket, { to: 'bob', envelope: fakeEnvelope('stale') })) as RawAck & { id: string; sentAt: number };
    expect(ack).toMatchObject({ ok: true, status: 'queued' });
    await waitUntil(() => (Date.now() > ack.sentAt + 1000 ? true : undefined), 5000, 'the TTL to pass');
    expect(queueRows(srv.dataDir, 'bob').map((r) => r.id)).toEqual([ack.id]);

    // A fresh envelope queued behind the expired one is the barrier: bob gets it, and only it.
    const barrier = (await send(carol.socket, { to: 'bob', envelope: fakeEnvelope('fresh') })) as RawAck & { id: string };
    expect(barrier).toMatchObject({ ok: true, status: 'queued' });
    const bob = await res.raw(srv.url, 'bob', bobKeys, 'login');
    await waitUntil(() => (bob.messages.length > 0 ? true : undefined), 5000, 'the barrier');
    expect(bob.messages.map((m) => m.id)).toEqual([barrier.id]);
    expect(await call(bob.socket, 'ack', { ids: [barrier.id] })).toMatchObject({ ok: true, acknowledged: 1 });
    // A sweep removes it for good.
    expect(await srv.store.sweepExpired(Date.now())).toBe(1);
    expect(queueRows(srv.dataDir)).toEqual([]);
    expect(await srv.store.queueUsage('bob')).toEqual({ count: 0, bytes: 0 });
  });
});
