/**
 * hmacSha256 (src/crypto/hmac.ts — the implementation the Double Ratchet uses: @noble/hashes, or
 * node:crypto once installed) against Wycheproof. test/crypto/hmac-sha256.test.ts covers WebCrypto's HMAC
 * with the same file.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/hmac_sha256_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, in test/vectors/wycheproof/ (Apache-2.0).
 * No `acceptable` cases at the pinned commit. Truncated-tag groups compare the first tagSize/8 bytes.
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hexDecode } from '../../src/crypto/bytes.js';
import { hmacSha256, hmacSha256Verify } from '../../src/crypto/hmac.js';
import { loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

const VECTORS = wycheproofFile('hmac_sha256_test.json');

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('hmacSha256 via $name, against Wycheproof hmac_sha256', ({ install }) => {
  it('matches every valid tag and no invalid one', () => {
    install();
    const file = loadWycheproof(VECTORS, 'mac_test_schema_v1.json');
    const failures: string[] = [];
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const key = hexDecode(test.key);
        const msg = hexDecode(test.msg);
        const tag = hexDecode(test.tag);
        const full = hmacSha256(key, msg);
        const match = constantTimeEqual(full.slice(0, group.tagSize / 8), tag);
        if ((test.result === 'valid') !== match) failures.push(`tcId ${test.tcId}: match=${match}`);
        if (group.tagSize === 256 && hmacSha256Verify(key, tag, msg) !== match) failures.push(`tcId ${test.tcId}: verify disagrees`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('MACs a message given in parts exactly as the concatenation', () => {
    install();
    const key = crypto.getRandomValues(new Uint8Array(32));
    const parts = [new Uint8Array([1, 2]), new Uint8Array(0), crypto.getRandomValues(new Uint8Array(100))];
    expect(hmacSha256(key, ...parts)).toEqual(hmacSha256(key, new Uint8Array([...parts[0]!, ...parts[2]!])));
  });
});
