/**
 * hkdfSha256 (src/crypto/hkdf.ts: @noble/hashes, or node:crypto once installed) against Wycheproof.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/hkdf_sha256_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Decision on `acceptable` cases: none at the pinned commit (counts pinned). The 3 invalid cases ask for
 * more than 255 * 32 bytes (RFC 5869 §2.3) and must throw.
 */
import { describe, expect, it } from 'vitest';
import { hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { hkdfSha256 } from '../../src/crypto/hkdf.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

const VECTORS = wycheproofFile('hkdf_sha256_test.json');
const load = () => loadWycheproof(VECTORS, 'hkdf_test_schema_v1.json');

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('HKDF-SHA-256 via $name against Wycheproof hkdf_sha256_test', ({ install }) => {
  it('reads the pinned vector file: 86 cases (83 valid, 3 invalid, 0 acceptable)', () => {
    const file = load();
    expect(file.numberOfTests).toBe(86);
    expect(countByResult(file)).toEqual({ valid: 83, invalid: 3, acceptable: 0 });
  });

  it('derives every valid okm and throws for every oversize request', () => {
    install();
    const failures: string[] = [];
    for (const group of load().testGroups) {
      for (const test of group.tests) {
        let got: string | undefined;
        try {
          got = hexEncode(hkdfSha256(hexDecode(test.ikm), hexDecode(test.salt), hexDecode(test.info), test.size));
        } catch {
          got = undefined;
        }
        if (test.result === 'valid' && got !== test.okm) failures.push(`tcId ${test.tcId}: got ${got ?? 'a throw'}`);
        if (test.result === 'invalid' && got !== undefined) failures.push(`tcId ${test.tcId}: accepted size ${test.size}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('takes an info longer than node:crypto accepts (1024 bytes) and derives what the portable code does', () => {
    const ikm = crypto.getRandomValues(new Uint8Array(32));
    const info = crypto.getRandomValues(new Uint8Array(2000));
    IMPLEMENTATIONS[0]!.install();
    const portable = hkdfSha256(ikm, new Uint8Array(0), info, 64);
    install();
    expect(hkdfSha256(ikm, new Uint8Array(0), info, 64)).toEqual(portable);
  });
});
