/**
 * The incremental AES-256-CBC, HMAC-SHA-256 and SHA-256 behind attachments, on both implementations,
 * against Wycheproof, with every input cut into pieces: the output over the pieces must be the one-shot
 * output of the whole.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/aes_cbc_pkcs5_test.json and
 * hmac_sha256_test.json, commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to
 * test/vectors/wycheproof/ (Apache-2.0; see README.md and LICENSE there). Only the 256-bit AES group
 * applies (the attachment cipher is AES-256), and only full-length HMAC tags (it never truncates).
 */
import { describe, expect, it } from 'vitest';
import { concatBytes, constantTimeEqual, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { aes256CbcDecryptor, aes256CbcEncryptor, hmacSha256Incremental, sha256Incremental, type IncrementalCipher } from '../../src/crypto/incremental.js';
import { sha256 } from '../../src/crypto/sha.js';
import { loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';

uninstallNativeAfterAll();

/** `data` cut at `cuts` (sorted offsets), so pieces of every length, empty ones included, are fed. */
function pieces(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const cut of cuts) {
    out.push(data.subarray(from, Math.min(cut, data.length)));
    from = Math.min(cut, data.length);
  }
  out.push(data.subarray(from));
  return out;
}

/** Cuttings of a message of `length`: whole, byte by byte, and across block edges. */
function cuttings(length: number): number[][] {
  return [[], Array.from({ length }, (_, i) => i), [0, 0, 1], [15, 16, 17], [7, 33], [length - 1]].map((c) => c.filter((x) => x >= 0));
}

function run(cipher: IncrementalCipher, parts: readonly Uint8Array[]): Uint8Array {
  // Copied as they come: outputs may be views the next call reuses.
  const out = parts.map((p) => Uint8Array.from(cipher.update(p)));
  return concatBytes(...out, Uint8Array.from(cipher.final()));
}

describe.each(IMPLEMENTATIONS)('incremental primitives, $name', (impl) => {
  it('AES-256-CBC over any cutting of the input matches every valid Wycheproof case, and refuses every bad padding at final', () => {
    impl.install();
    const file = loadWycheproof(wycheproofFile('aes_cbc_pkcs5_test.json'), 'ind_cpa_test_schema_v1.json');
    const groups = file.testGroups.filter((g) => g.keySize === 256);
    const failures: string[] = [];
    let checked = 0;
    for (const test of groups.flatMap((g) => g.tests)) {
      checked++;
      const [key, iv, msg, ct] = [test.key, test.iv, test.msg, test.ct].map(hexDecode) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
      for (const cuts of cuttings(Math.max(msg.length, ct.length))) {
        const where = `tcId ${test.tcId} (${test.result}) cut at ${cuts.slice(0, 5).join(',')}`;
        if (test.result === 'valid') {
          const encrypted = run(aes256CbcEncryptor(key, iv), pieces(msg, cuts));
          if (!constantTimeEqual(encrypted, ct)) failures.push(`${where}: encrypted to ${hexEncode(encrypted)}`);
          const decrypted = run(aes256CbcDecryptor(key, iv), pieces(ct, cuts));
          if (!constantTimeEqual(decrypted, msg)) failures.push(`${where}: decrypted to ${hexEncode(decrypted)}`);
        } else {
          let refused = false;
          try {
            run(aes256CbcDecryptor(key, iv), pieces(ct, cuts));
          } catch {
            refused = true;
          }
          if (!refused) failures.push(`${where}: accepted bad padding`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(72);
  });

  it('HMAC-SHA-256 over any cutting of the message gives every valid full-length Wycheproof tag and no invalid one', () => {
    impl.install();
    const file = loadWycheproof(wycheproofFile('hmac_sha256_test.json'), 'mac_test_schema_v1.json');
    const failures: string[] = [];
    let checked = 0;
    for (const test of file.testGroups.filter((g) => g.tagSize === 256).flatMap((g) => g.tests)) {
      checked++;
      const msg = hexDecode(test.msg);
      for (const cuts of cuttings(msg.length)) {
        const mac = hmacSha256Incremental(hexDecode(test.key));
        for (const p of pieces(msg, cuts)) mac.update(p);
        const match = constantTimeEqual(mac.digest(), hexDecode(test.tag));
        if (match !== (test.result === 'valid')) failures.push(`tcId ${test.tcId} (${test.result}) cut at ${cuts.slice(0, 5).join(',')}`);
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(87);
  });

  it('SHA-256 over pieces is the one-shot SHA-256 of their concatenation (FIPS 180-4 "abc" and a 1 MiB input)', () => {
    impl.install();
    const abc = sha256Incremental();
    for (const c of ['a', 'b', 'c']) abc.update(new TextEncoder().encode(c));
    expect(hexEncode(abc.digest())).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 31) & 0xff);
    const h = sha256Incremental();
    for (const p of pieces(big, [1, 64, 65, 100_000, 500_001])) h.update(p);
    expect(hexEncode(h.digest())).toBe(hexEncode(sha256(big)));
  });
});
