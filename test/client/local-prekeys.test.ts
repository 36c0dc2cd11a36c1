/**
 * LocalKeys (src/client/local-prekeys.ts), the client's PQXDH prekey store: the record of initial messages
 * accepted under last-resort prekeys survives a save and restore, and forgets uses whose prekeys are gone
 * (a replay of those can no longer decrypt anyway).
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { describe, expect, it } from 'vitest';
import { LocalKeys, type LocalKeysPickle } from '../../src/client/local-prekeys.js';
import { generateSignedPreKey } from '../../src/e2ee/pqxdh/prekeys.js';

const SECRET = new Uint8Array(32).fill(9);
const use = (signedPreKeyId: number, byte: number) => ({ kemPreKeyId: 1, signedPreKeyId, baseKey: new Uint8Array(32).fill(byte) });

describe('LocalKeys: last-resort uses', () => {
  it('are kept across pickle and restore', async () => {
    const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(SECRET), Date.now());
    await keys.recordLastResortUse(use(1, 0xaa));
    const restored = LocalKeys.restore(JSON.parse(JSON.stringify(keys.pickle())) as LocalKeysPickle, ed25519SigningKeyFromSeed(SECRET));
    expect(await restored.isLastResortUseRecorded(use(1, 0xaa))).toBe(true);
    expect(await restored.isLastResortUseRecorded(use(1, 0xbb))).toBe(false);
  });

  it('are dropped once their signed prekey is deleted', async () => {
    const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(SECRET), Date.now());
    keys.signed.set(2, await generateSignedPreKey(keys.identity, 2));
    await keys.recordLastResortUse(use(2, 0x01));
    keys.signed.delete(2); // rotated out after its grace period
    await keys.recordLastResortUse(use(1, 0x02));
    expect(await keys.isLastResortUseRecorded(use(2, 0x01))).toBe(false);
    expect(await keys.isLastResortUseRecorded(use(1, 0x02))).toBe(true);
  });

  it('a pickle written before uses were recorded restores with none', async () => {
    const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(SECRET), Date.now());
    const { lastResortUses: _dropped, ...older } = keys.pickle();
    const restored = LocalKeys.restore(older, ed25519SigningKeyFromSeed(SECRET));
    expect(restored.lastResortUses.size).toBe(0);
  });
});
