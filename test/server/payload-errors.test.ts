/**
 * docs/PROTOCOL.md §5 and §7.1 as an outside client reads them: a missing payload is accepted where an
 * event takes none, whether the client library sends nothing or `null` (socket.io-client turns
 * `emit('challenge', undefined, ack)` into `null` on the wire), and every `bad_request` message starts
 * with the member path of the first bad member (`payload` for the payload itself).
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, keysFor, rawSocket, registerRaw, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

describe('payload errors', () => {
  let srv: TestServer;
  let sock: Socket;
  let authed: Socket;
  beforeAll(async () => {
    srv = await startTestServer();
    sock = await rawSocket(srv.url);
    authed = await rawSocket(srv.url);
    expect((await registerRaw(authed, 'paula', await keysFor())).ok).toBe(true);
  });
  afterAll(async () => {
    sock.close();
    authed.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('accepts challenge with an undefined payload (null on the wire), like a missing one', async () => {
    const viaUndefined = (await sock.timeout(5000).emitWithAck('challenge', undefined)) as RawAck;
    expect(viaUndefined).toStrictEqual({ ok: true, challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), protocols: [1, 2] });
    expect(await call(sock, 'challenge', null)).toMatchObject({ ok: true });
    expect(await call(authed, 'users', null)).toMatchObject({ ok: true, users: ['paula'] });
    expect(await call(authed, 'prekeys.count', null)).toMatchObject({ ok: true, oneTime: 0 });
  });

  it('starts every bad_request message with a member path', async () => {
    const cases: Array<[Socket, string, unknown, string]> = [
      [sock, 'challenge', 42, 'payload: '],
      [sock, 'register', null, 'payload: '],
      [sock, 'register', 'alice', 'payload: '],
      [sock, 'login', [], 'payload: '],
      [sock, 'register', { username: 'Alice' }, 'username: '],
      [sock, 'login', { username: 'alice', signature: 'short' }, 'signature: '],
      [authed, 'ack', {}, 'payload: '],
      [authed, 'ack', { ids: [] }, 'payload: '],
      [authed, 'ack', { ids: ['x'] }, 'ids.0: '],
      [authed, 'send', { to: 'bob', envelope: { type: 'hybrid', v: 1, jwe: {} } }, 'envelope.jwe.protected: '],
      [authed, 'keys', { username: 7 }, 'username: '],
    ];
    for (const [s, event, payload, prefix] of cases) {
      const ack = await call(s, event, payload);
      expect(ack.error?.code, `${event} ${JSON.stringify(payload)}`).toBe('bad_request');
      expect(ack.error!.message.startsWith(prefix), `${event} ${JSON.stringify(payload)}: "${ack.error!.message}"`).toBe(true);
    }
  });
});
