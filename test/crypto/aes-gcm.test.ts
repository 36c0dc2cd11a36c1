/**
 * AES-256-GCM as wrapped by src/crypto/aes-gcm.ts (@noble/ciphers; the link channel's records, docs/PROTOCOL.md
 * §18) against Wycheproof.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/aes_gcm_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, in test/vectors/wycheproof/ (Apache-2.0).
 * The wrapper takes 256-bit keys, 96-bit nonces and 128-bit tags only, so the 66 cases of that group are
 * run; every case of another key or nonce size is checked to be refused by the wrapper's length checks.
 * No `acceptable` cases in the file.
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { aes256GcmOpen, aes256GcmSeal } from '../../src/crypto/aes-gcm.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('aes_gcm_test.json');

describe('AES-256-GCM against Wycheproof aes_gcm', () => {
  it('seals every valid 256-bit/96-bit case to ct ‖ tag, opens it, and refuses every invalid one', () => {
    const file = loadWycheproof(VECTORS, 'aead_test_schema_v1.json');
    expect(countByResult(file).acceptable).toBe(0);
    const failures: string[] = [];
    let checked = 0;
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const [key, iv, aad, msg] = [hexDecode(test.key), hexDecode(test.iv), hexDecode(test.aad), hexDecode(test.msg)];
        if (group.keySize !== 256 || group.ivSize !== 96) {
          expect(() => aes256GcmSeal(key, iv, aad, msg), `tcId ${test.tcId}`).toThrow(RangeError);
          continue;
        }
        expect(group.tagSize).toBe(128);
        checked++;
        const sealed = concatBytes(hexDecode(test.ct), hexDecode(test.tag));
        const opened = aes256GcmOpen(key, iv, aad, sealed);
        if (test.result === 'valid') {
          const out = hexEncode(aes256GcmSeal(key, iv, aad, msg));
          if (out !== test.ct + test.tag) failures.push(`tcId ${test.tcId}: sealed to ${out}`);
          if (opened === undefined || hexEncode(opened) !== test.msg) failures.push(`tcId ${test.tcId}: opened to ${opened ? hexEncode(opened) : 'a refusal'}`);
        } else if (opened !== undefined) failures.push(`tcId ${test.tcId}: opened an invalid case (${test.flags.join(', ')})`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(66);
  });

  it('refuses input shorter than a tag without throwing', () => {
    expect(aes256GcmOpen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(0), new Uint8Array(15))).toBeUndefined();
  });
});
