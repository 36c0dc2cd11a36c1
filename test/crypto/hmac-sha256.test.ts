/**
 * HMAC-SHA-256 as WebCrypto computes it, checked against Wycheproof, including truncated tags.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/hmac_sha256_test.json,
 * commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Method: sign with WebCrypto, truncate the 32-byte MAC to tagSize/8 bytes, compare with the expected tag
 * using the project's constantTimeEqual. For full-length (256-bit) groups WebCrypto's own verify() is
 * checked to agree as well (verify() cannot take truncated tags).
 *
 * Decision on `acceptable` cases: none at the pinned commit (the counts are pinned below). If any appeared,
 * the coded rule is: the comparison may go either way (nothing to assert beyond not throwing).
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('hmac_sha256_test.json');
const load = () => loadWycheproof(VECTORS, 'mac_test_schema_v1.json');

const subtle = globalThis.crypto.subtle;
const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const;

describe('HMAC-SHA-256 via WebCrypto, against Wycheproof hmac_sha256', () => {
  it('reads the pinned vector file: 174 cases (66 valid, 108 invalid, 0 acceptable) with 256- and 128-bit tags', () => {
    const file = load();
    expect(file.algorithm).toBe('HMACSHA256');
    expect(file.numberOfTests).toBe(174);
    expect(countByResult(file)).toEqual({ valid: 66, invalid: 108, acceptable: 0 });
    expect(file.testGroups.map((g) => [g.keySize, g.tagSize, g.tests.length])).toEqual([
      [256, 256, 81],
      [256, 128, 81],
      [128, 256, 3],
      [128, 128, 3],
      [520, 256, 3],
      [520, 128, 3],
    ]);
  });

  it('matches every valid Wycheproof HMAC-SHA-256 tag (after truncation to tagSize) and no invalid one', async () => {
    const file = load();
    const failures: string[] = [];
    let checked = 0;
    for (const group of file.testGroups) {
      const tagBytes = group.tagSize / 8;
      expect(Number.isInteger(tagBytes) && tagBytes > 0 && tagBytes <= 32).toBe(true);
      for (const test of group.tests) {
        checked++;
        const where = `tcId ${test.tcId} (${test.result}; keySize ${group.keySize}; tagSize ${group.tagSize}; ${test.flags.join(',')}; ${test.comment || 'no comment'})`;
        const keyBytes = hexDecode(test.key);
        expect(keyBytes.length * 8, `${where}: key size`).toBe(group.keySize);
        const key = await subtle.importKey('raw', keyBytes, HMAC_SHA256, false, ['sign', 'verify']);
        const msg = hexDecode(test.msg);
        const tag = hexDecode(test.tag);
        const full = new Uint8Array(await subtle.sign('HMAC', key, msg));
        expect(full.length).toBe(32);
        const computed = full.slice(0, tagBytes);
        const match = constantTimeEqual(computed, tag);
        switch (test.result) {
          case 'valid':
            if (!match) failures.push(`${where}: computed ${hexEncode(computed)}, expected ${test.tag}`);
            break;
          case 'invalid':
            if (match) failures.push(`${where}: a modified tag matched`);
            break;
          case 'acceptable':
            break;
        }
        if (group.tagSize === 256) {
          const verified = await subtle.verify('HMAC', key, tag, msg);
          if (verified !== match) failures.push(`${where}: WebCrypto verify() says ${verified}, constant-time comparison says ${match}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(file.numberOfTests);
  });
});
