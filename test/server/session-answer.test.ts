/**
 * What a login tells the client beyond its name: the server's limits, so a client refuses an over-size
 * message before it enters its outbox instead of learning of it from a refused send.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysFor, loginRaw, rawSocket, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

describe('register and login answers', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ maxEnvelopeBytes: 5000, maxAttachmentBytes: 123_456 });
  });
  afterAll(async () => {
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('carry limits.maxEnvelopeBytes, the configured envelope cap, and limits.maxAttachmentBytes, the largest file', async () => {
    const keys = await keysFor();
    const first = await rawSocket(srv.url);
    const second = await rawSocket(srv.url);
    try {
      expect(await registerRaw(first, 'lim', keys)).toStrictEqual({ ok: true, username: 'lim', registered: true, limits: { maxEnvelopeBytes: 5000, maxAttachmentBytes: 123_456 } });
      expect(await loginRaw(second, 'lim', keys)).toStrictEqual({ ok: true, username: 'lim', registered: false, limits: { maxEnvelopeBytes: 5000, maxAttachmentBytes: 123_456 } });
    } finally {
      first.close();
      second.close();
    }
  });
});
