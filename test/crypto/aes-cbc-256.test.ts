/**
 * AES-256-CBC with PKCS#7 as implemented by src/crypto/aes-cbc.ts (used by the Double Ratchet: @noble/ciphers,
 * or node:crypto once installed) against Wycheproof. test/crypto/aes-cbc.test.ts covers WebCrypto with the same file.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/aes_cbc_pkcs5_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, in test/vectors/wycheproof/ (Apache-2.0).
 * Our wrapper accepts 256-bit keys only, so only the 72 cases of the 256-bit group are run; the 128/192
 * groups are checked to be rejected by the wrapper's key-length check. No `acceptable` cases.
 */
import { describe, expect, it } from 'vitest';
import { hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { aes256CbcDecrypt, aes256CbcEncrypt } from '../../src/crypto/aes-cbc.js';
import { loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

const VECTORS = wycheproofFile('aes_cbc_pkcs5_test.json');

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('AES-256-CBC (PKCS#7) via $name, against Wycheproof aes_cbc_pkcs5', ({ install }) => {
  it('encrypts every valid 256-bit case to ct, decrypts it to msg, and rejects every bad padding', () => {
    install();
    const file = loadWycheproof(VECTORS, 'ind_cpa_test_schema_v1.json');
    const failures: string[] = [];
    let checked = 0;
    for (const group of file.testGroups) {
      for (const test of group.tests) {
        const key = hexDecode(test.key);
        const iv = hexDecode(test.iv);
        if (group.keySize !== 256) {
          expect(() => aes256CbcEncrypt(key, iv, hexDecode(test.msg))).toThrow(RangeError);
          continue;
        }
        checked++;
        let decrypted: string | undefined;
        try {
          decrypted = hexEncode(aes256CbcDecrypt(key, iv, hexDecode(test.ct)));
        } catch {
          decrypted = undefined;
        }
        if (test.result === 'valid') {
          const ct = hexEncode(aes256CbcEncrypt(key, iv, hexDecode(test.msg)));
          if (ct !== test.ct) failures.push(`tcId ${test.tcId}: encrypted to ${ct}`);
          if (decrypted !== test.msg) failures.push(`tcId ${test.tcId}: decrypted to ${decrypted ?? 'a rejection'}`);
        } else if (decrypted !== undefined) failures.push(`tcId ${test.tcId}: accepted bad padding`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(72);
  });
});
