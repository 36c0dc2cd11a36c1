/**
 * AES-CBC with PKCS#7 padding as WebCrypto performs it (the cipher inside A256CBC-HS512), checked
 * against Wycheproof.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/aes_cbc_pkcs5_test.json,
 * commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Key sizes: the file has 128-, 192- and 256-bit groups. Only 256 bits matter to the project
 * (A256CBC-HS512 uses a 256-bit ENC_KEY), but Node's WebCrypto supports all three AES key sizes, so every
 * group is tested; the test fails if any group's key cannot be imported rather than skipping it.
 *
 * Decision on `acceptable` cases: none at the pinned commit (the counts are pinned below). If any appeared,
 * the coded rule is: decryption may throw or succeed, but a success must yield exactly `msg`.
 *
 * Note on what "invalid" means here: AES-CBC is unauthenticated; a bad-padding rejection is a format
 * check, not integrity. In the project, the HMAC of A256CBC-HS512 is verified before any padding is looked
 * at, so these rejections are never the line of defence against tampering.
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hexDecode, hexEncode, type Bytes } from '../../src/crypto/bytes.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('aes_cbc_pkcs5_test.json');
const load = () => loadWycheproof(VECTORS, 'ind_cpa_test_schema_v1.json');

const subtle = globalThis.crypto.subtle;

function importAesCbc(key: Bytes): Promise<CryptoKey> {
  return subtle.importKey('raw', key, 'AES-CBC', false, ['encrypt', 'decrypt']);
}

async function tryDecrypt(key: CryptoKey, iv: Bytes, ct: Bytes): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-CBC', iv }, key, ct));
  } catch {
    return undefined;
  }
}

describe('AES-CBC (PKCS#7) via WebCrypto, against Wycheproof aes_cbc_pkcs5', () => {
  it('reads the pinned vector file: 216 cases (72 valid, 144 invalid, 0 acceptable) in 128-, 192- and 256-bit groups', () => {
    const file = load();
    expect(file.algorithm).toBe('AES-CBC-PKCS5');
    expect(file.numberOfTests).toBe(216);
    expect(countByResult(file)).toEqual({ valid: 72, invalid: 144, acceptable: 0 });
    expect(file.testGroups.map((g) => [g.keySize, g.ivSize, g.tests.length])).toEqual([
      [128, 128, 72],
      [192, 128, 72],
      [256, 128, 72],
    ]);
  });

  it.each([128, 192, 256])(
    'encrypts every valid %i-bit Wycheproof AES-CBC case to ct, decrypts it to msg, and rejects every invalid (bad padding) one',
    async (keySize) => {
      const file = load();
      const groups = file.testGroups.filter((g) => g.keySize === keySize);
      expect(groups.length, `no ${keySize}-bit group in the vector file`).toBeGreaterThan(0);
      const failures: string[] = [];
      let checked = 0;
      for (const group of groups) {
        for (const test of group.tests) {
          checked++;
          const where = `tcId ${test.tcId} (${test.result}; ${test.flags.join(',')}; ${test.comment || 'no comment'})`;
          const keyBytes = hexDecode(test.key);
          expect(keyBytes.length * 8, `${where}: key size`).toBe(keySize);
          const key = await importAesCbc(keyBytes);
          const iv = hexDecode(test.iv);
          const msg = hexDecode(test.msg);
          const ct = hexDecode(test.ct);
          const decrypted = await tryDecrypt(key, iv, ct);
          switch (test.result) {
            case 'valid': {
              const encrypted = new Uint8Array(await subtle.encrypt({ name: 'AES-CBC', iv }, key, msg));
              if (!constantTimeEqual(encrypted, ct)) failures.push(`${where}: encrypted to ${hexEncode(encrypted)}, expected ${test.ct}`);
              if (decrypted === undefined) failures.push(`${where}: rejected a valid ciphertext`);
              else if (!constantTimeEqual(decrypted, msg)) failures.push(`${where}: decrypted to ${hexEncode(decrypted)}, expected ${test.msg}`);
              break;
            }
            case 'invalid':
              if (decrypted !== undefined) failures.push(`${where}: accepted a ciphertext with bad or missing padding, got ${hexEncode(decrypted)}`);
              break;
            case 'acceptable':
              if (decrypted !== undefined && !constantTimeEqual(decrypted, msg)) failures.push(`${where}: acceptable case decrypted to a wrong plaintext`);
              break;
          }
        }
      }
      expect(failures).toEqual([]);
      expect(checked).toBe(72);
    },
  );
});
