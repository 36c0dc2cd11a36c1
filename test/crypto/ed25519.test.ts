/**
 * The project's ed25519Verify (src/crypto/ed25519.ts, strict RFC 8032 mode) against Wycheproof. PQXDH
 * uses it for every prekey signature and for the identity binding.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/ed25519_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to /work/shared/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Decision on `acceptable` cases: none at the pinned commit (counts pinned below). Strict RFC 8032 §5.1.7
 * verification must accept every `valid` case and reject every `invalid` one (non-canonical R/S, S >= L,
 * truncated or extended signatures).
 */
import { describe, expect, it } from 'vitest';
import { hexDecode } from '../../src/crypto/bytes.js';
import { ed25519Verify } from '../../src/crypto/ed25519.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('ed25519_test.json');
const load = () => loadWycheproof(VECTORS, 'eddsa_verify_schema_v1.json');

describe('ed25519Verify (strict RFC 8032) against Wycheproof ed25519_test', () => {
  it('reads the pinned vector file: 151 cases (88 valid, 63 invalid, 0 acceptable)', () => {
    const file = load();
    expect(file.numberOfTests).toBe(151);
    expect(countByResult(file)).toEqual({ valid: 88, invalid: 63, acceptable: 0 });
  });

  it('accepts every valid signature and rejects every invalid one', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const group of load().testGroups) {
      const pk = hexDecode(group.publicKey.pk);
      for (const test of group.tests) {
        checked++;
        const ok = ed25519Verify(hexDecode(test.sig), hexDecode(test.msg), pk);
        if (test.result === 'valid' && !ok) failures.push(`tcId ${test.tcId}: rejected a valid signature (${test.flags.join(',')})`);
        if (test.result === 'invalid' && ok) failures.push(`tcId ${test.tcId}: accepted an invalid signature (${test.flags.join(',')})`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(151);
  });
});
