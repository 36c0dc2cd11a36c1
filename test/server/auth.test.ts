import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode, utf8Encode } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { ed25519PublicOf, jwkThumbprint, rsaPublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { LOGIN_LABEL, loginMessage, registerMessage } from '../../src/protocol/auth-message.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, type RawAck } from '../helpers/test-clients.js';
import type { Socket } from 'socket.io-client';

describe('registration and login', () => {
  let srv: TestServer;
  const sockets: Socket[] = [];
  const open = async () => {
    const s = await rawSocket(srv.url);
    sockets.push(s);
    return s;
  };

  let aliceKeys: UserKeyPairs;

  beforeAll(async () => {
    srv = await startTestServer();
    aliceKeys = await keysFor(true);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('gives each connection its own random challenge', async () => {
    const a = await call(await open(), 'challenge', {});
    const b = await call(await open(), 'challenge', {});
    expect(a.ok && b.ok).toBe(true);
    expect(base64urlDecode(a.challenge as string)).toHaveLength(32);
    expect(a.challenge).not.toBe(b.challenge);
  });

  it('registers a name bound to keys proven by a signature over the challenge', async () => {
    const ack = await registerRaw(await open(), 'alice', aliceKeys);
    expect(ack).toMatchObject({ ok: true, username: 'alice', registered: true });
  });

  it('refuses a taken name with other keys', async () => {
    const ack = await registerRaw(await open(), 'alice', await keysFor(true));
    expect(ack).toMatchObject({ ok: false, error: { code: 'username_taken' } });
  });

  it('treats re-registration with the same keys as a login', async () => {
    const ack = await registerRaw(await open(), 'alice', aliceKeys);
    expect(ack).toMatchObject({ ok: true, registered: false });
  });

  it('refuses a registration whose signature does not cover the keys sent', async () => {
    const keys = await keysFor(true);
    const other = await keysFor();
    const s = await open();
    const { challenge } = (await call(s, 'challenge', {})) as RawAck & { challenge: string };
    // Signed for one encryption key, sent with another: a relay swapping keys is caught.
    const message = registerMessage({
      challenge,
      username: 'bob',
      signingKeyThumbprint: await jwkThumbprint(ed25519PublicOf(keys.signing)),
      encryptionKeyThumbprint: await jwkThumbprint(rsaPublicOf(keys.encryption)),
    });
    const ack = await call(s, 'register', {
      username: 'bob',
      signingKey: ed25519PublicOf(keys.signing),
      encryptionKey: rsaPublicOf(other.encryption),
      signature: base64urlEncode(ed25519Sign(message, base64urlDecode(keys.signing.d))),
    });
    expect(ack).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    // The name stayed free.
    expect((await registerRaw(await open(), 'bob', keys)).ok).toBe(true);
  });

  it('refuses a login signed without the private key', async () => {
    const s = await open();
    const impostor = await keysFor(true);
    const ack = await loginRaw(s, 'alice', impostor);
    expect(ack).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    expect(await call(s, 'users', {})).toMatchObject({ ok: false, error: { code: 'not_authenticated' } });
  });

  it('refuses a login signed over a stale challenge (a challenge answers one attempt)', async () => {
    const keys = aliceKeys;
    const first = await open();
    const { challenge } = (await call(first, 'challenge', {})) as RawAck & { challenge: string };
    const signature = base64urlEncode(ed25519Sign(loginMessage({ challenge, username: 'alice' }), base64urlDecode(keys.signing.d)));
    expect(await call(first, 'login', { username: 'alice', signature })).toMatchObject({ ok: true });
    // Replaying the same signature on another connection, or again on a fresh attempt, fails.
    const second = await open();
    expect(await call(second, 'login', { username: 'alice', signature })).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
    expect(await call(second, 'login', { username: 'alice', signature })).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
  });

  it('refuses a login signature made under another label', async () => {
    const keys = aliceKeys;
    const s = await open();
    const { challenge } = (await call(s, 'challenge', {})) as RawAck & { challenge: string };
    const wrongLabel = utf8Encode([LOGIN_LABEL.replace('login', 'other'), challenge, 'alice'].join('\n'));
    const signature = base64urlEncode(ed25519Sign(wrongLabel, base64urlDecode(keys.signing.d)));
    expect(await call(s, 'login', { username: 'alice', signature })).toMatchObject({ ok: false, error: { code: 'bad_signature' } });
  });

  it('refuses login for an unknown user and a second login on one connection', async () => {
    const keys = aliceKeys;
    expect(await loginRaw(await open(), 'nobody', keys)).toMatchObject({ ok: false, error: { code: 'unknown_user' } });
    const s = await open();
    expect((await loginRaw(s, 'alice', keys)).ok).toBe(true);
    expect(await loginRaw(s, 'alice', keys)).toMatchObject({ ok: false, error: { code: 'already_authenticated' } });
  });

  it('lets an unauthenticated socket do nothing but challenge, register and log in', async () => {
    const s = await open();
    for (const [event, payload] of [
      ['users', {}],
      ['keys', { username: 'alice' }],
      ['send', { to: 'alice', envelope: {} }],
    ] as const) {
      expect(await call(s, event, payload)).toMatchObject({ ok: false, error: { code: 'not_authenticated' } });
    }
  });

  it('serves any registered user’s public keys to an authenticated client', async () => {
    const keys = aliceKeys;
    const s = await open();
    await loginRaw(s, 'alice', keys);
    const ack = await call(s, 'keys', { username: 'alice' });
    expect(ack).toMatchObject({ ok: true, username: 'alice', signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption) });
    expect(JSON.stringify(ack)).not.toContain(keys.signing.d);
  });
});

describe('registrations persist across restarts', () => {
  it('keeps a name bound to its keys after the server restarts on the same data folder', async () => {
    const first = await startTestServer();
    const keys = await keysFor();
    const s1 = await rawSocket(first.url);
    expect((await registerRaw(s1, 'zoe', keys)).ok).toBe(true);
    s1.close();
    await first.stop();

    const second = await startTestServer({}, first.dataDir);
    try {
      const s2 = await rawSocket(second.url);
      expect(await loginRaw(s2, 'zoe', keys)).toMatchObject({ ok: true, username: 'zoe' });
      const s3 = await rawSocket(second.url);
      expect(await registerRaw(s3, 'zoe', await keysFor(true))).toMatchObject({ ok: false, error: { code: 'username_taken' } });
      s2.close();
      s3.close();
    } finally {
      await second.stop();
      removeDir(first.dataDir);
    }
  });
});
