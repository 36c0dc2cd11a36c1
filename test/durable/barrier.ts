/**
 * Barriers: how a test shows that something did NOT happen (a duplicate, a redelivery, a late receipt)
 * without sleeping. The server keeps one queue per recipient in seq order and pushes it in that order,
 * and a client shows what it receives in that order, so a message enqueued AFTER the event under test
 * reaches the recipient after anything the event could have caused. Wait for that message, then assert:
 * whatever was going to arrive has arrived.
 */
import type { Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { call, clientId, fakeEnvelope, waitUntil, type Recorded, type RawUser } from './harness.js';

/**
 * `from` sends a fresh text to `to`, then waits until `to` has shown it and `from` has its receipt.
 * Returns the barrier's text (it is the last entry of `to.received`).
 */
export async function clientBarrier(from: Recorded, to: Recorded, timeoutMs = 10_000): Promise<string> {
  const text = `barrier ${clientId()}`;
  const sent = await from.client.send(to.username, text);
  await waitUntil(() => (to.received.some((m) => m.body === text) ? true : undefined), timeoutMs, `${to.username} to show the barrier`);
  await waitUntil(() => (from.delivered.some((d) => d.id === sent.id) ? true : undefined), timeoutMs, "the barrier's receipt");
  expect(to.received.at(-1)?.body).toBe(text);
  return text;
}

/**
 * A raw `send` of a labelled fake envelope from `sender` to `to`, then a wait until `inbox` (the
 * recipient's raw socket) has it. Returns the barrier's server id (it is the last of `inbox.messages`).
 */
export async function rawBarrier(sender: Socket, to: string, inbox: RawUser, timeoutMs = 5000): Promise<string> {
  const ack = await call(sender, 'send', { to, envelope: fakeEnvelope('barrier') });
  expect(ack.ok, JSON.stringify(ack)).toBe(true);
  const id = ack.id as string;
  await waitUntil(() => (inbox.messages.some((m) => m.id === id) ? true : undefined), timeoutMs, 'the barrier message');
  expect(inbox.messages.at(-1)?.id).toBe(id);
  return id;
}
