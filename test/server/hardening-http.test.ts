/**
 * The HTTP side of the relay against clients that never finish: every request gets an answer, and a
 * client that sends its headers slowly (or not at all) is closed at the headers timeout instead of
 * holding a descriptor for ever.
 */
import { connect, type Socket as NetSocket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

/** Raw HTTP/1.1 over TCP: resolves with everything the server sent once it closes the connection. */
function rawHttp(port: number, request: string): { socket: NetSocket; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  socket.write(request);
  return { socket, closed };
}

describe('HTTP requests outside Socket.IO', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ httpHeadersTimeoutMs: 300, httpKeepAliveTimeoutMs: 300 });
  });
  afterAll(async () => {
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('answers /socket.io without its slash, /socket.iox and /socket.io.js with a JSON 404', async () => {
    for (const path of ['/socket.io', '/socket.iox', '/socket.io.js', '/socket.io?EIO=4&transport=polling', '/nope']) {
      const res = await fetch(`${srv.url}${path}`, { signal: AbortSignal.timeout(5000) });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toBe('application/json');
      expect(await res.json(), path).toStrictEqual({ error: 'not_found' });
    }
    // Socket.IO's own path is still Socket.IO's.
    const handshake = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(5000) });
    expect(handshake.status).toBe(200);
    expect(await handshake.text()).toMatch(/^0\{"sid":/);
  });

  it('answers every method on a path of its own, and keeps /health', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${srv.url}/socket.io`, { method, signal: AbortSignal.timeout(5000) });
      expect(res.status, method).toBe(404);
    }
    expect((await fetch(`${srv.url}/health`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
  });

  it('closes a connection whose headers never finish, at the headers timeout', async () => {
    const started = Date.now();
    const { closed } = rawHttp(srv.port, 'GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const answer = await closed;
    // Node answers 408 before closing; either way the descriptor is released.
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('closes a connection that sends nothing at all', async () => {
    const { closed } = rawHttp(srv.port, '');
    expect(await closed).toMatch(/^(|HTTP\/1\.1 408[^]*)$/);
  });

  it('answers a complete request on a connection, then closes it when it idles past the keep-alive timeout', async () => {
    const { closed } = rawHttp(srv.port, 'GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(await closed).toMatch(/^HTTP\/1\.1 404/);
  });
});
