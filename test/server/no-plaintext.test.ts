import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { base64urlDecode, base64urlEncode, hexEncode } from '../../src/crypto/bytes.js';
import type { HybridEnvelope } from '../../src/protocol/schemas.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';
import { connectTestClient, type TestClient } from '../helpers/test-clients.js';

/** Every textual form a secret could take in a frame or a row. */
function forms(bytes: Uint8Array): string[] {
  return [hexEncode(bytes), base64urlEncode(bytes), Buffer.from(bytes).toString('base64'), Buffer.from(bytes).toString('latin1')];
}

describe('the server never sees plaintext', () => {
  let srv: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  const rawPackets: string[] = [];
  const secretText = 'the launch code is 0451-TANGERINE';

  beforeAll(async () => {
    srv = await startTestServer();
    // Below Socket.IO: every engine.io packet the server receives, as raw data.
    srv.server.io.engine.on('connection', (socket: { on(e: 'packet', l: (p: { data?: unknown }) => void): void }) => {
      socket.on('packet', (p) => rawPackets.push(typeof p.data === 'string' ? p.data : JSON.stringify(p.data ?? '')));
    });
    alice = await connectTestClient(srv.url, 'alice', { mode: 'hybrid' });
    bob = await connectTestClient(srv.url, 'bob', { mode: 'hybrid' });
  });
  afterAll(async () => {
    await alice.client.close();
    await bob.client.close();
    await srv.stop();
    removeDir(srv.dataDir);
  });

  it('hybrid: neither the plaintext nor the per-message key appears in any received frame or stored row', async () => {
    const sends = 5;
    for (let i = 0; i < sends; i++) await alice.client.send('bob', `${secretText} #${i}`);
    await bob.waitFor(sends);

    const envelopes = srv.frames.filter((f) => f.event === 'send').flatMap((f) => (f.args[0] as { messages: Array<{ envelope: HybridEnvelope }> }).messages.map((m) => m.envelope));
    expect(envelopes).toHaveLength(sends);
    const rsaKey = await crypto.subtle.importKey('jwk', { ...bob.identity.keys.encryption, alg: 'RSA-OAEP-256' }, { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
    const secrets: string[] = [secretText, Buffer.from(secretText).toString('base64'), base64urlEncode(new TextEncoder().encode(secretText))];
    for (const e of envelopes) {
      const cek = new Uint8Array(await crypto.subtle.decrypt({ name: 'RSA-OAEP' }, rsaKey, base64urlDecode(e.jwe.encrypted_key)));
      expect(cek).toHaveLength(64);
      secrets.push(...forms(cek), ...forms(cek.slice(0, 32)), ...forms(cek.slice(32)));
    }
    // Private keys must not travel either.
    secrets.push(alice.identity.keys.signing.d, alice.identity.keys.encryption.d, bob.identity.keys.signing.d, bob.identity.keys.encryption.d);

    expect(rawPackets.length).toBeGreaterThan(sends);
    expectNowhere(secrets);
  });

  it('ratchet (the default): the plaintext and the private keys appear in no received frame or stored row', async () => {
    const carol = await connectTestClient(srv.url, 'carol');
    const dave = await connectTestClient(srv.url, 'dave');
    try {
      const text = 'the vault opens at 0300, bring the blue key';
      const sends = 5;
      for (let i = 0; i < sends; i++) await carol.client.send('dave', `${text} #${i}`);
      // A reply makes both sides take a DH ratchet step, so both directions' envelopes are on the wire.
      await dave.waitFor(sends);
      await dave.client.send('carol', `${text} (reply)`);
      await carol.waitFor(1);
      const types = srv.frames.filter((f) => f.event === 'send').flatMap((f) => (f.args[0] as { messages: Array<{ to: string; envelope: { type: string } }> }).messages);
      expect(types.filter((t) => t.to === 'dave' || t.to === 'carol').map((t) => t.envelope.type)).toEqual(Array(sends + 1).fill('ratchet'));
      const secrets = [text, Buffer.from(text).toString('base64'), base64urlEncode(new TextEncoder().encode(text))];
      secrets.push(carol.identity.keys.signing.d, carol.identity.keys.encryption.d, dave.identity.keys.signing.d, dave.identity.keys.encryption.d);
      expectNowhere(secrets);
    } finally {
      await carol.client.close();
      await dave.client.close();
    }
  });

  /** Every frame received, every row of every table, and the raw database and WAL files. */
  function expectNowhere(secrets: string[]): void {
    const observed = [...rawPackets, ...srv.frames.map((f) => JSON.stringify(f.args))];
    const db = new Database(`${srv.dataDir}/e2ee-chat.sqlite`, { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
    for (const { name } of tables) observed.push(JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all()));
    db.close();
    for (const file of ['e2ee-chat.sqlite', 'e2ee-chat.sqlite-wal']) {
      const path = `${srv.dataDir}/${file}`;
      if (existsSync(path)) observed.push(readFileSync(path).toString('latin1'));
    }
    for (const text of observed) {
      for (const secret of secrets) expect(text.includes(secret), `secret ${secret.slice(0, 12)}… leaked`).toBe(false);
    }
  }
});
