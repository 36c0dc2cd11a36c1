/**
 * ML-KEM-1024 (src/crypto/mlkem.ts) against Wycheproof's FIPS 203 vectors, once per implementation:
 * @noble/post-quantum (portable) and liboqs in WebAssembly (what the Node entry points install).
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there). The four files and how each is read:
 *  - mlkem_1024_keygen_seed_test.json: seed = d || z; KeyGen must give exactly ek and dk.
 *  - mlkem_1024_test.json: seed -> key pair (ek must match), then Decaps(c) must give K. Invalid cases
 *    have a seed ("private key") or ciphertext of the wrong length and must throw. Valid cases include
 *    modified ciphertexts: those must give the implicit-rejection K, never throw.
 *  - mlkem_1024_encaps_test.json: Encaps(ek, m) must give c and K; invalid cases (wrong length, or
 *    coefficients >= q failing the FIPS 203 §7.2 modulus check) must throw.
 *  - mlkem_1024_semi_expanded_decaps_test.json: Decaps with the 3168-byte expanded dk must give K;
 *    invalid cases (lengths, FIPS 203 §7.3 hash check) must throw.
 * No file has `acceptable` cases at the pinned commit (counts pinned).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { mlkem1024Decapsulate, mlkem1024EncapsulateDeterministic, mlkem1024Implementation, mlkem1024KeyPairFromSeed } from '../../src/crypto/mlkem.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const url = wycheproofFile;

function attempt(f: () => Uint8Array): string | undefined {
  try {
    return hexEncode(f());
  } catch {
    return undefined;
  }
}

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('ML-KEM-1024 via $name against Wycheproof', ({ install, mlkem }) => {
  beforeEach(install);

  it('runs on the implementation it names', () => {
    expect(mlkem1024Implementation()).toBe(mlkem);
  });

  it('keygen_seed: all 100 seeds give the expected ek and dk', () => {
    const file = loadWycheproof(url('mlkem_1024_keygen_seed_test.json'), 'mlkem_keygen_seed_test_schema.json');
    expect(countByResult(file)).toEqual({ valid: 100, invalid: 0, acceptable: 0 });
    const failures: number[] = [];
    for (const t of file.testGroups.flatMap((g) => g.tests)) {
      const pair = mlkem1024KeyPairFromSeed(hexDecode(t.seed));
      if (hexEncode(pair.publicKey) !== t.ek || hexEncode(pair.secretKey) !== t.dk) failures.push(t.tcId);
    }
    expect(failures).toEqual([]);
  });

  it('decaps from seed: 153 valid give K (implicit rejection included), 40 malformed inputs throw', () => {
    const file = loadWycheproof(url('mlkem_1024_test.json'), 'mlkem_test_schema.json');
    expect(countByResult(file)).toEqual({ valid: 153, invalid: 40, acceptable: 0 });
    const failures: string[] = [];
    for (const t of file.testGroups.flatMap((g) => g.tests)) {
      let pair: ReturnType<typeof mlkem1024KeyPairFromSeed> | undefined;
      try {
        pair = mlkem1024KeyPairFromSeed(hexDecode(t.seed));
      } catch {
        pair = undefined;
      }
      const k = pair && attempt(() => mlkem1024Decapsulate(hexDecode(t.c), pair.secretKey));
      if (t.result === 'valid') {
        if (!pair || (t.ek !== undefined && hexEncode(pair.publicKey) !== t.ek)) failures.push(`tcId ${t.tcId}: key pair`);
        if (k !== t.K) failures.push(`tcId ${t.tcId}: K ${k ?? 'threw'}`);
      } else if (k !== undefined) failures.push(`tcId ${t.tcId}: accepted ${t.comment}`);
    }
    expect(failures).toEqual([]);
  });

  it('encaps: 133 valid give c and K, 136 invalid encapsulation keys throw', () => {
    const file = loadWycheproof(url('mlkem_1024_encaps_test.json'), 'mlkem_encaps_test_schema.json');
    expect(countByResult(file)).toEqual({ valid: 133, invalid: 136, acceptable: 0 });
    const failures: string[] = [];
    for (const t of file.testGroups.flatMap((g) => g.tests)) {
      let out: { ciphertext: Uint8Array; sharedSecret: Uint8Array } | undefined;
      try {
        out = mlkem1024EncapsulateDeterministic(hexDecode(t.ek), hexDecode(t.m));
      } catch {
        out = undefined;
      }
      if (t.result === 'valid') {
        if (!out || hexEncode(out.ciphertext) !== t.c || hexEncode(out.sharedSecret) !== t.K) failures.push(`tcId ${t.tcId}`);
      } else if (out) failures.push(`tcId ${t.tcId}: accepted ${t.comment ?? t.flags.join(',')}`);
    }
    expect(failures).toEqual([]);
  });

  it('semi-expanded decaps: 3 valid give K, 6 invalid (lengths, corrupted dk) throw', () => {
    const file = loadWycheproof(url('mlkem_1024_semi_expanded_decaps_test.json'), 'mlkem_semi_expanded_decaps_test_schema.json');
    expect(countByResult(file)).toEqual({ valid: 3, invalid: 6, acceptable: 0 });
    const failures: string[] = [];
    for (const t of file.testGroups.flatMap((g) => g.tests)) {
      const k = attempt(() => mlkem1024Decapsulate(hexDecode(t.c), hexDecode(t.dk)));
      if (t.result === 'valid' && k !== t.K) failures.push(`tcId ${t.tcId}: ${k ?? 'threw'}`);
      if (t.result === 'invalid' && k !== undefined) failures.push(`tcId ${t.tcId}: accepted ${t.comment}`);
    }
    expect(failures).toEqual([]);
  });
});
