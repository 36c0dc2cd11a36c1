/**
 * Issue 15 point 3: the server refuses envelopes whose lengths and version bytes contradict
 * docs/PROTOCOL.md (§8.3 hybrid JWE, §16.7 initial message, §16.9 ratchet message) with bad_request
 * naming the member, stores nothing, and still accepts every well-shaped envelope.
 */
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { HYBRID_PROTECTED_JSON, hybridEnvelope, initialMessageBytes, ratchetEnvelope, ratchetMessageBytes } from '../helpers/envelopes.js';
import { call, keysFor, rawSocket, registerRaw } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const b64 = (n: number) => base64urlEncode(randomBytes(n));
const text = (s: string) => base64urlEncode(new TextEncoder().encode(s));

describe('envelope shape', () => {
  let srv: TestServer;
  let sender: Socket;
  let recipient: Socket;
  beforeAll(async () => {
    srv = await startTestServer();
    const keys = await keysFor();
    sender = await rawSocket(srv.url);
    recipient = await rawSocket(srv.url);
    expect((await registerRaw(sender, 'shaper', keys)).ok).toBe(true);
    expect((await registerRaw(recipient, 'shaped', keys)).ok).toBe(true);
  });
  afterAll(async () => {
    sender.close();
    recipient.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  const send = (envelope: unknown) => call(sender, 'send', { to: 'shaped', envelope });

  it('refuses the junk an outside implementer found accepted, naming the member, and stores nothing', async () => {
    const valid = hybridEnvelope();
    const withJwe = (over: Record<string, string>) => ({ ...valid, jwe: { ...valid.jwe, ...over } });
    const withBody = (bytes: Uint8Array) => ratchetEnvelope(bytes);
    const zeroFirst = ratchetMessageBytes();
    zeroFirst[0] = 0x00;
    const cases: Array<[string, unknown, string]> = [
      ['random protected', withJwe({ protected: b64(72) }), 'envelope.jwe.protected'],
      ['protected of another algorithm', withJwe({ protected: text('{"alg":"RSA1_5","enc":"A256CBC-HS512","cty":"e2ee-chat.message+jws"}') }), 'envelope.jwe.protected'],
      ['protected with an extra member', withJwe({ protected: text(HYBRID_PROTECTED_JSON.replace('}', ',"zip":"DEF"}')) }), 'envelope.jwe.protected'],
      ['protected missing cty', withJwe({ protected: text('{"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"}') }), 'envelope.jwe.protected'],
      ['protected a JSON array', withJwe({ protected: text('["RSA-OAEP-256"]') }), 'envelope.jwe.protected'],
      ['3-byte iv', withJwe({ iv: b64(3) }), 'envelope.jwe.iv'],
      ['12-byte iv', withJwe({ iv: b64(12) }), 'envelope.jwe.iv'],
      ['10-byte encrypted_key', withJwe({ encrypted_key: b64(10) }), 'envelope.jwe.encrypted_key'],
      ['512-byte encrypted_key', withJwe({ encrypted_key: b64(512).slice(0, 683) }), 'envelope.jwe.encrypted_key'],
      ['17-byte ciphertext', withJwe({ ciphertext: b64(17) }), 'envelope.jwe.ciphertext'],
      ['empty ciphertext', withJwe({ ciphertext: '' }), 'envelope.jwe.ciphertext'],
      ['16-byte tag', withJwe({ tag: b64(16) }), 'envelope.jwe.tag'],
      ['10-byte ratchet body starting 0x00', withBody(new Uint8Array(10)), 'envelope.body'],
      ['ratchet message starting 0x00', withBody(zeroFirst), 'envelope.body'],
      ['ratchet message of 88 bytes', withBody(ratchetMessageBytes(1).slice(0, 88)), 'envelope.body'],
      ['ratchet message not whole blocks', withBody(ratchetMessageBytes(2).slice(0, 100)), 'envelope.body'],
      ['initial message too short', withBody(initialMessageBytes(1).slice(0, 1800)), 'envelope.body'],
      ['initial message with a bad one-time flag', withBody(Object.assign(initialMessageBytes(), { [168]: 7 })), 'envelope.body'],
      ['initial message whose inner message is not 0x01', withBody(Object.assign(initialMessageBytes(), { [1746]: 0x02 })), 'envelope.body'],
      ['initial message not whole blocks', withBody(initialMessageBytes(2).slice(0, 1746 + 100)), 'envelope.body'],
    ];
    const queued = (await srv.store.queueUsage('shaped')).count;
    for (const [name, envelope, path] of cases) {
      const ack = await send(envelope);
      expect(ack.error?.code, name).toBe('bad_request');
      expect(ack.error?.message.startsWith(`${path}: `), `${name}: ${ack.error?.message}`).toBe(true);
    }
    expect((await srv.store.queueUsage('shaped')).count).toBe(queued);
  });

  it('accepts every documented shape', async () => {
    const spaced = '{ "cty" : "e2ee-chat.message+jws", "enc":"A256CBC-HS512",\n "alg":"RSA-OAEP-256" }';
    const cases: Array<[string, unknown]> = [
      ['hybrid, 1 block', hybridEnvelope({ blocks: 1 })],
      ['hybrid, 100 blocks', hybridEnvelope({ blocks: 100 })],
      ['hybrid, protected header with other order and spacing', hybridEnvelope({ protectedJson: spaced })],
      ['ratchet message, 1 block (89 bytes)', ratchetEnvelope(ratchetMessageBytes(1))],
      ['ratchet message, 7 blocks', ratchetEnvelope(ratchetMessageBytes(7))],
      ['initial message with one-time key', ratchetEnvelope(initialMessageBytes(1))],
      ['initial message without one-time key', ratchetEnvelope(Object.assign(initialMessageBytes(3), { [168]: 0 }))],
    ];
    for (const [name, envelope] of cases) expect(await send(envelope), name).toMatchObject({ ok: true });
  });
});
