/**
 * liboqs (WebAssembly, src/crypto/mlkem-liboqs.ts) and @noble/post-quantum compute the same ML-KEM-1024:
 * the same keys from the same seed, encapsulations that open on the other side, the same implicit-rejection
 * key for any wrong ciphertext, and the same refusals of malformed keys. Keys stored by v0.1 (noble) must
 * keep opening after the Node entry points switch to liboqs, and a peer on either must interoperate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexEncode } from '../../src/crypto/bytes.js';
import { installMlKem1024, mlkem1024Decapsulate, mlkem1024Encapsulate, mlkem1024GenerateKeyPair, mlkem1024Implementation, nobleMlKem1024, type MlKem1024Implementation } from '../../src/crypto/mlkem.js';
import { installNodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { liboqsMlKem1024 as liboqs } from './implementations.js';

const noble = nobleMlKem1024;
const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
/** Each run is ~1.5 ms per implementation and operation; enough runs to cover many random keys. */
const RUNS = 40;

function outcome(f: () => Uint8Array): string {
  try {
    return hexEncode(f());
  } catch {
    return 'threw';
  }
}

describe('ML-KEM-1024: liboqs and @noble agree', () => {
  it('the same seed gives the same encapsulation key and expanded decapsulation key', () => {
    fc.assert(
      fc.property(bytes(64), (seed) => {
        const a = liboqs.keyPairFromSeed(seed);
        const b = noble.keyPairFromSeed(seed);
        expect(hexEncode(a.publicKey)).toBe(hexEncode(b.publicKey));
        expect(hexEncode(a.secretKey)).toBe(hexEncode(b.secretKey));
      }),
      { numRuns: RUNS },
    );
  });

  it('an encapsulation made by either opens with the other, to the same shared secret', () => {
    fc.assert(
      fc.property(bytes(64), bytes(32), fc.boolean(), (seed, m, liboqsEncapsulates) => {
        const [sender, receiver]: [MlKem1024Implementation, MlKem1024Implementation] = liboqsEncapsulates ? [liboqs, noble] : [noble, liboqs];
        const pair = noble.keyPairFromSeed(seed);
        const sent = sender.encapsulate(pair.publicKey, m);
        expect(hexEncode(sent.ciphertext)).toBe(hexEncode(receiver.encapsulate(pair.publicKey, m).ciphertext));
        expect(hexEncode(receiver.decapsulate(sent.ciphertext, pair.secretKey))).toBe(hexEncode(sent.sharedSecret));
      }),
      { numRuns: RUNS },
    );
  });

  it('a modified or random ciphertext gives both the same implicit-rejection key, not the real one', () => {
    const ciphertextFor = (c: Uint8Array) =>
      fc.oneof(
        // One bit flipped anywhere.
        fc.tuple(fc.nat(c.length * 8 - 1)).map(([bit]) => c.map((x, i) => (i === bit >> 3 ? x ^ (1 << (bit & 7)) : x))),
        bytes(c.length),
        fc.constantFrom(new Uint8Array(c.length), new Uint8Array(c.length).fill(0xff)),
      );
    const pair = noble.keyPairFromSeed(new Uint8Array(64).fill(7));
    const sent = noble.encapsulate(pair.publicKey, new Uint8Array(32).fill(9));
    fc.assert(
      fc.property(ciphertextFor(sent.ciphertext), (c) => {
        const a = outcome(() => liboqs.decapsulate(c, pair.secretKey));
        expect(a).toBe(outcome(() => noble.decapsulate(c, pair.secretKey)));
        expect(a).not.toBe('threw');
        expect(a).not.toBe(hexEncode(sent.sharedSecret));
      }),
      { numRuns: RUNS },
    );
  });

  it('both refuse a decapsulation key whose ek or H(ek) was altered (FIPS 203 §7.3), and treat other changes alike', () => {
    const pair = noble.keyPairFromSeed(new Uint8Array(64).fill(1));
    const sent = noble.encapsulate(pair.publicKey, new Uint8Array(32).fill(2));
    const real = hexEncode(sent.sharedSecret);
    // dk = dk_PKE (1536 bytes) || ek (1568) || H(ek) (32) || z (32): one byte flipped in each part. The
    // hash check covers ek and H(ek); dk_PKE and z are not checkable and give another (rejection) key.
    const parts = [
      { part: 'dk_PKE', offset: 0, refused: false },
      { part: 'ek', offset: 1536, refused: true },
      { part: 'H(ek)', offset: 3104, refused: true },
      { part: 'z', offset: 3136, refused: false },
    ];
    for (const { part, offset, refused } of parts) {
      const dk = pair.secretKey.slice();
      dk[offset]! ^= 1;
      const a = outcome(() => liboqs.decapsulate(sent.ciphertext, dk));
      expect(a, part).toBe(outcome(() => noble.decapsulate(sent.ciphertext, dk)));
      if (refused) expect(a, part).toBe('threw');
      else expect([a === 'threw', a === real], part).toEqual([false, part === 'z']);
    }
  });

  it('both refuse an encapsulation key with a coefficient >= q (FIPS 203 §7.2)', () => {
    const pair = noble.keyPairFromSeed(new Uint8Array(64).fill(3));
    const ek = pair.publicKey.slice();
    // The first 12-bit coefficient set to 4095 (q = 3329).
    ek[0] = 0xff;
    ek[1] = ek[1]! | 0x0f;
    const m = new Uint8Array(32);
    expect(outcome(() => liboqs.encapsulate(ek, m).ciphertext)).toBe('threw');
    expect(outcome(() => noble.encapsulate(ek, m).ciphertext)).toBe('threw');
  });

  it('keys stored while @noble was installed open after switching to liboqs, and the other way round', () => {
    const seeded = (n: number) => (length: number) => new Uint8Array(length).fill(n);
    try {
      installMlKem1024(undefined);
      const stored = mlkem1024GenerateKeyPair(seeded(5));
      const toStored = mlkem1024Encapsulate(stored.publicKey);
      installMlKem1024(liboqs);
      expect(hexEncode(mlkem1024GenerateKeyPair(seeded(5)).secretKey)).toBe(hexEncode(stored.secretKey));
      expect(hexEncode(mlkem1024Decapsulate(toStored.ciphertext, stored.secretKey))).toBe(hexEncode(toStored.sharedSecret));
      const fresh = mlkem1024GenerateKeyPair();
      const toFresh = mlkem1024Encapsulate(fresh.publicKey);
      installMlKem1024(undefined);
      expect(hexEncode(mlkem1024Decapsulate(toFresh.ciphertext, fresh.secretKey))).toBe(hexEncode(toFresh.sharedSecret));
    } finally {
      installMlKem1024(undefined);
    }
  });
});

describe('the liboqs adapter hands liboqs exactly the randomness chosen, or fails', () => {
  it('throws, rather than use its own randomness, when liboqs asks for more bytes than provided or leaves some unused', () => {
    const pair = noble.keyPairFromSeed(new Uint8Array(64).fill(4));
    // The adapter's own entry points are called directly, past mlkem.ts's length checks.
    expect(() => liboqs.keyPairFromSeed(new Uint8Array(32))).toThrow(/not provided/);
    expect(() => liboqs.keyPairFromSeed(new Uint8Array(65))).toThrow(/did not draw/);
    expect(() => liboqs.encapsulate(pair.publicKey, new Uint8Array(16))).toThrow(/not provided/);
    expect(() => liboqs.encapsulate(pair.publicKey, new Uint8Array(33))).toThrow(/did not draw/);
    // And it still works afterwards: nothing is left pending from a failed call.
    expect(hexEncode(liboqs.keyPairFromSeed(new Uint8Array(64).fill(4)).secretKey)).toBe(hexEncode(pair.secretKey));
  });
});

describe('the Node entry points install liboqs for ML-KEM-1024', () => {
  it('installNodeCrypto() switches ML-KEM to liboqs once its module is ready, and stays idempotent', async () => {
    try {
      installMlKem1024(undefined);
      await installNodeCrypto();
      expect(mlkem1024Implementation()).toBe(liboqs);
      await installNodeCrypto();
      expect(mlkem1024Implementation()).toBe(liboqs);
    } finally {
      installNativeCrypto(undefined);
      installMlKem1024(undefined);
    }
  });
});
