/**
 * callServer when no answer comes: a connection that drops while a call waits is told as `not_connected`
 * at once, and a server that keeps the connection but stays silent as `timeout` after the bound. Both
 * are passing failures to their callers (an outbox entry is tried again); only the words differ, and a
 * user reading "the server did not answer within 10000 ms" after a node restart would look for the
 * wrong fault.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { callServer } from '../../src/client/socket-calls.js';
import { ChatError } from '../../src/protocol/errors.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A Socket.IO server that never answers `ack`, and drops the connection when asked to by `drop`. */
async function silentServer(): Promise<{ client: Socket; dropClient(): void }> {
  const http = createServer();
  const server = new Server(http);
  const sockets: Array<{ disconnect(close: boolean): void }> = [];
  server.on('connection', (s) => sockets.push(s));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const client = io(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], reconnection: false });
  closers.push(() => {
    client.close();
    void server.close();
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  while (sockets.length === 0) await new Promise((r) => setImmediate(r));
  return { client, dropClient: () => sockets[0]!.disconnect(true) };
}

async function failureOf(call: Promise<unknown>): Promise<ChatError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatError);
  return err as ChatError;
}

describe('callServer without an answer', () => {
  it('says the connection was lost when it drops while the call waits, without waiting for the bound', async () => {
    const { client, dropClient } = await silentServer();
    // A bound far beyond the test's own timeout: only the drop can end the call in time.
    const call = callServer(client, 'ack', { ids: ['x'] }, 600_000);
    dropClient();
    const err = await failureOf(call);
    expect(err.code).toBe('not_connected');
    expect(err.message).toBe('the connection was lost before the server answered "ack"');
  });

  it('says the server did not answer when the connection stays and the bound passes', async () => {
    const { client } = await silentServer();
    const err = await failureOf(callServer(client, 'ack', { ids: ['x'] }, 50));
    expect(err.code).toBe('timeout');
    expect(err.message).toBe('the server did not answer "ack" within 50 ms');
    expect(client.connected).toBe(true);
  });
});
