/**
 * hmacSha512 (src/crypto/hmac.ts, @noble/hashes: CPace's key-confirmation MAC for device linking,
 * docs/PROTOCOL.md §18) against Wycheproof.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/hmac_sha512_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, in test/vectors/wycheproof/ (Apache-2.0).
 * No `acceptable` cases at the pinned commit. Truncated-tag groups compare the first tagSize/8 bytes.
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hexDecode } from '../../src/crypto/bytes.js';
import { hmacSha512 } from '../../src/crypto/hmac.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('hmac_sha512_test.json');

describe('hmacSha512 against Wycheproof hmac_sha512', () => {
  it('matches every valid tag and no invalid one', () => {
    const file = loadWycheproof(VECTORS, 'mac_test_schema_v1.json');
    expect(countByResult(file).acceptable).toBe(0);
    const failures: string[] = [];
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const full = hmacSha512(hexDecode(test.key), hexDecode(test.msg));
        const match = constantTimeEqual(full.slice(0, group.tagSize / 8), hexDecode(test.tag));
        if ((test.result === 'valid') !== match) failures.push(`tcId ${test.tcId}: match=${match}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('MACs a message given in parts exactly as the concatenation', () => {
    const key = crypto.getRandomValues(new Uint8Array(64));
    const parts = [new Uint8Array([1, 2]), new Uint8Array(0), crypto.getRandomValues(new Uint8Array(200))];
    expect(hmacSha512(key, ...parts)).toEqual(hmacSha512(key, new Uint8Array([...parts[0]!, ...parts[2]!])));
  });
});
