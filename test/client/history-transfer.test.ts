/**
 * How the primary packs history for a linked device (src/client/history-transfer.ts, payload-budget.ts):
 * items in order into as few messages as fit, each message sealing under the server's envelope cap in
 * ratchet mode (a new session's initial message in front) and in hybrid mode. The budget is checked
 * against real seals at the cap, and shown not to waste the room: a little more no longer fits.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { describe, expect, it } from 'vitest';
import { historyItemOf, packHistory } from '../../src/client/history-transfer.js';
import { exportLocalKeys } from '../../src/client/local-prekeys.js';
import { maxPayloadBytes } from '../../src/client/payload-budget.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { envelopeBytes, SessionManager } from '../../src/client/session-manager.js';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { generateUserKeyPairs, rsaPublicOf } from '../../src/crypto/keys.js';
import { sealHybridPayload } from '../../src/e2ee/hybrid-envelope.js';
import type { HistoryItem, HistoryPayload } from '../../src/e2ee/message-payload.js';
import { buildPreKeyBundle } from '../../src/e2ee/pqxdh/bundle.js';
import { DEFAULT_MAX_ENVELOPE_BYTES } from '../../src/protocol/limits.js';

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const item = (n: number, body: string): HistoryItem => ({ id: `history-item-${String(n).padStart(8, '0')}`, direction: n % 2 ? 'in' : 'out', peer: 'bob', body, sentAt: 1795770000000 + n });

/** A history payload of exactly `bytes` bytes of JSON (its one item's body fills it), with a 22-character id. */
function payloadOf(bytes: number): HistoryPayload {
  const payload: HistoryPayload = { v: 2, kind: 'history', from: 'alice', fromDevice: 1, to: 'alice', id: base64urlEncode(randomBytes(16)), sentAt: 1795776497000, items: [item(1, '')] };
  payload.items[0]!.body = 'x'.repeat(bytes - utf8(JSON.stringify(payload)));
  expect(utf8(JSON.stringify(payload))).toBe(bytes);
  return payload;
}

describe('packHistory', () => {
  it('keeps the order, fills each message up to the budget and never past it', () => {
    const items = Array.from({ length: 200 }, (_, n) => item(n, `message ${n} `.repeat(n % 17)));
    const empty = 200;
    const { batches, leftOut } = packHistory(items, empty, 4000);
    expect(leftOut).toBe(0);
    expect(batches.flat()).toEqual(items);
    const sizes = batches.map((b) => empty + utf8(JSON.stringify(b)) - 2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(4000);
    // As few as fit: each message but the last was too full for the next item.
    batches.slice(0, -1).forEach((b, k) => expect(sizes[k]! + 1 + utf8(JSON.stringify(batches[k + 1]![0]))).toBeGreaterThan(4000));
  });

  it('leaves out an item too large for a message of its own, and nothing else', () => {
    const items = [item(1, 'a'), item(2, 'b'.repeat(5000)), item(3, 'c')];
    expect(packHistory(items, 200, 4000)).toEqual({ batches: [[items[0], items[2]]], leftOut: 1 });
    expect(packHistory([], 200, 4000)).toEqual({ batches: [], leftOut: 0 });
  });

  it('a history record says its id, direction, peer, text and time; a file goes as its caption alone', () => {
    const attachment = { id: 'b', token: 't', key: 'k', digest: 'd', size: 3, name: 'cat.png' };
    expect(historyItemOf({ id: 'i'.repeat(22), direction: 'in', peer: 'bob', body: 'look', sentAt: 5, status: 'received', serverId: 's', fromDevice: 2, attachment })).toEqual({
      id: 'i'.repeat(22),
      direction: 'in',
      peer: 'bob',
      body: 'look',
      sentAt: 5,
    });
  });
});

describe('maxPayloadBytes', () => {
  it('ratchet: a payload of the budget seals under the cap with an initial message in front; 17 bytes more do not', async () => {
    const bobSecret = randomBytes(32);
    const bobKeys = await exportLocalKeys(new MemoryRatchetStore(), ed25519SigningKeyFromSeed(bobSecret), Date.now());
    const bundle = buildPreKeyBundle(bobKeys.identity, bobKeys.currentSignedPreKey, bobKeys.lastResortKemPreKey);
    const alice = new SessionManager({ store: new MemoryRatchetStore(), signingKey: ed25519SigningKeyFromSeed(randomBytes(32)), fetchBundle: async () => bundle, onPreKeysConsumed: () => undefined });
    const bob = { user: 'bob', device: 2 };
    for (const cap of [4096, DEFAULT_MAX_ENVELOPE_BYTES]) {
      const budget = maxPayloadBytes('ratchet', cap);
      const envelope = await alice.seal(bob, ed25519PublicKeyFromSecret(bobSecret), payloadOf(budget), true, cap);
      expect(envelopeBytes(envelope)).toBeLessThanOrEqual(cap);
      expect(envelopeBytes(envelope)).toBeGreaterThan(cap - 48);
      await expect(alice.seal(bob, ed25519PublicKeyFromSecret(bobSecret), payloadOf(budget + 17), true, cap)).rejects.toMatchObject({ code: 'envelope_too_large' });
    }
  });

  it('hybrid: a payload of the budget seals under the cap, within half a KB of it', async () => {
    const [alice, bob] = await Promise.all([generateUserKeyPairs(), generateUserKeyPairs()]);
    for (const cap of [4096, DEFAULT_MAX_ENVELOPE_BYTES]) {
      const envelope = await sealHybridPayload(payloadOf(maxPayloadBytes('hybrid', cap)), alice.signing, rsaPublicOf(bob.encryption));
      expect(envelopeBytes(envelope)).toBeLessThanOrEqual(cap);
      expect(envelopeBytes(envelope)).toBeGreaterThan(cap - 512);
    }
  });
});
