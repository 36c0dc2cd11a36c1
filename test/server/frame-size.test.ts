/**
 * The transport's frame cap and the envelope cap agree: an envelope over the envelope cap (a 100,000
 * character message, say) reaches the server whole and is answered `envelope_too_large` on a connection
 * that stays up, so a client can mark the message failed instead of resending it for ever. Only a frame
 * over the transport cap closes the connection.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_ENVELOPE_BYTES, transportFrameBytes } from '../../src/protocol/limits.js';
import { hybridEnvelope, hybridEnvelopeOfJsonLength, ratchetEnvelope } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw, waitUntil } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

describe('frame size and envelope cap on a default server', () => {
  let srv: TestServer;
  let sender: Socket;
  let recipient: Socket;
  const got: string[] = [];
  beforeAll(async () => {
    srv = await startTestServer();
    const keys = await keysFor();
    sender = await rawSocket(srv.url);
    recipient = await rawSocket(srv.url);
    expect((await registerRaw(sender, 'sfs', keys)).ok).toBe(true);
    expect((await registerRaw(recipient, 'rfs', keys)).ok).toBe(true);
    recipient.on('message', (m: { id: string }) => got.push(m.id));
  });
  afterAll(async () => {
    sender.close();
    recipient.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('sets a transport cap comfortably above the envelope cap', () => {
    expect(srv.server.io.engine.opts.maxHttpBufferSize).toBe(transportFrameBytes(DEFAULT_MAX_ENVELOPE_BYTES));
    expect(transportFrameBytes(DEFAULT_MAX_ENVELOPE_BYTES)).toBeGreaterThanOrEqual(8 * DEFAULT_MAX_ENVELOPE_BYTES);
  });

  it('answers a ~140 KB envelope with envelope_too_large, and the same socket then sends a normal message', async () => {
    const huge = hybridEnvelope({ blocks: Math.ceil((140 * 1024 * 3) / 4 / 16) });
    expect(JSON.stringify(huge).length).toBeGreaterThan(140 * 1024);
    const refused = await call(sender, 'send', { to: 'rfs', envelope: huge });
    expect(refused.error?.code).toBe('envelope_too_large');
    expect(refused.error?.message).toContain(String(DEFAULT_MAX_ENVELOPE_BYTES));
    expect(sender.connected).toBe(true);
    const ok = await call(sender, 'send', { to: 'rfs', envelope: hybridEnvelope() });
    expect(ok).toMatchObject({ ok: true, status: 'delivered' });
    await waitUntil(() => (got.includes(ok.id as string) ? true : undefined), 5000, 'delivery of the normal message');
    expect(got).toEqual([ok.id]);
  });

  it('says envelope_too_large, not bad_request, for a ratchet body over the schema\'s own bound', async () => {
    const body = new Uint8Array(300 * 1024);
    body[0] = 0x01;
    const refused = await call(sender, 'send', { to: 'rfs', envelope: ratchetEnvelope(body) });
    expect(refused.error?.code).toBe('envelope_too_large');
    expect(sender.connected).toBe(true);
  });

  it('accepts an envelope of exactly the cap', async () => {
    const ok = await call(sender, 'send', { to: 'rfs', envelope: hybridEnvelopeOfJsonLength(DEFAULT_MAX_ENVELOPE_BYTES) });
    expect(ok).toMatchObject({ ok: true });
    const over = await call(sender, 'send', { to: 'rfs', envelope: hybridEnvelopeOfJsonLength(DEFAULT_MAX_ENVELOPE_BYTES + 1) });
    expect(over.error?.code).toBe('envelope_too_large');
  });

  it('closes only a connection whose frame is over the transport cap', async () => {
    const flooder = await rawSocket(srv.url);
    try {
      expect((await registerRaw(flooder, 'ffs', await keysFor())).ok).toBe(true);
      const gone = new Promise<string>((resolve) => flooder.once('disconnect', (reason) => resolve(reason)));
      const tooBig = hybridEnvelope({ blocks: Math.ceil(transportFrameBytes(DEFAULT_MAX_ENVELOPE_BYTES) / 12) });
      await expect(call(flooder, 'send', { to: 'rfs', envelope: tooBig })).rejects.toThrow();
      expect(await gone).toBe('transport close');
      expect(sender.connected).toBe(true);
    } finally {
      flooder.close();
    }
  });
});
