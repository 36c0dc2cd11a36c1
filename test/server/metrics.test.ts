/**
 * `GET /metrics`: Prometheus text, no login, each server its own registry, and the counters and gauges
 * move by exactly what two clients did (connect, log in, send, receive, acknowledge, be refused), with
 * no user's name anywhere in the scrape.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/protocol/events.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

interface Scrape {
  contentType: string | null;
  text: string;
}

async function scrape(srv: TestServer): Promise<Scrape> {
  const res = await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), text: await res.text() };
}

/** The value of one sample (`name` or `name{labels}` exactly as written); 0 when the line is absent. */
function sample(text: string, series: string): number {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

describe('GET /metrics', () => {
  let srv: TestServer;
  let other: TestServer;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    srv = await startTestServer();
    // A second server in the same process: its own registry, so its names do not collide with the first's.
    other = await startTestServer();
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await srv.stop();
    await other.stop();
    removeDir(srv.dataDir);
    removeDir(other.dataDir);
  });

  async function registered(username: string): Promise<{ socket: Socket; messages: IncomingMessage[] }> {
    const socket = await rawSocket(srv.url);
    sockets.push(socket);
    const messages: IncomingMessage[] = [];
    socket.on('message', (m: IncomingMessage) => messages.push(m));
    expect((await registerRaw(socket, username, await keysFor())).ok).toBe(true);
    return { socket, messages };
  }

  it('counts connections, logins, a message through, its acknowledgement and a refusal, and names no user', async () => {
    const before = await scrape(srv);
    expect(before.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(before.text, 'e2ee_chat_connected_sockets')).toBe(0);
    expect(sample(before.text, 'e2ee_chat_logged_in_devices')).toBe(0);

    const alice = await registered('mx-alice');
    const bob = await registered('mx-bob');
    const online = await scrape(srv);
    expect(sample(online.text, 'e2ee_chat_connected_sockets')).toBe(2);
    expect(sample(online.text, 'e2ee_chat_logged_in_devices')).toBe(2);

    expect(sample(online.text, 'e2ee_chat_queued_bytes')).toBe(0);

    const sent = await call(alice.socket, 'send', { to: 'mx-bob', envelope: hybridEnvelope() });
    expect(sent).toMatchObject({ ok: true });
    await waitUntil(() => (bob.messages.length === 1 ? true : undefined), 5000, 'the message at bob');
    // Queued until bob acknowledges it; then the queue is empty again.
    expect(sample((await scrape(srv)).text, 'e2ee_chat_queued_bytes')).toBeGreaterThan(0);
    expect(await call(bob.socket, 'ack', { ids: [bob.messages[0]!.id] })).toMatchObject({ ok: true, acknowledged: 1 });
    expect(await call(alice.socket, 'send', { to: 'mx-nobody', envelope: hybridEnvelope() })).toMatchObject({ ok: false, error: { code: 'unknown_user' } });

    const after = await scrape(srv);
    const moved = (series: string) => sample(after.text, series) - sample(before.text, series);
    expect(moved('e2ee_chat_messages_accepted_total{protocol="1"}')).toBe(1);
    expect(sample(after.text, 'e2ee_chat_queued_bytes')).toBe(0);
    expect(moved('e2ee_chat_messages_delivered_total')).toBe(1);
    expect(moved('e2ee_chat_acknowledged_envelopes_total')).toBe(1);
    expect(moved('e2ee_chat_refusals_total{code="unknown_user"}')).toBe(1);
    // The refused send never reached the store: one enqueue, one acknowledge.
    expect(moved('e2ee_chat_store_operation_seconds_count{operation="enqueue"}')).toBe(1);
    expect(moved('e2ee_chat_store_operation_seconds_count{operation="acknowledge"}')).toBe(1);
    expect(sample(after.text, 'e2ee_chat_store_operation_seconds_bucket{le="+Inf",operation="enqueue"}')).toBe(1);
    // Node's process metrics, on this server's registry.
    expect(after.text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(after.text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    // Labels come from fixed vocabularies: nothing a user typed appears.
    expect(after.text).not.toMatch(/mx-(alice|bob|nobody)/);

    bob.socket.close();
    await waitUntil(
      async () => {
        const { text } = await scrape(srv);
        return sample(text, 'e2ee_chat_connected_sockets') === 1 && sample(text, 'e2ee_chat_logged_in_devices') === 1 ? true : undefined;
      },
      5000,
      'bob gone from the gauges',
    );

    // The other server saw none of it.
    const untouched = await scrape(other);
    expect(sample(untouched.text, 'e2ee_chat_messages_accepted_total{protocol="1"}')).toBe(0);
    expect(untouched.text).toMatch(/^# TYPE e2ee_chat_messages_accepted_total counter$/m);
  });
});
