/**
 * RSA-OAEP-256 (JWE key management for the hybrid envelope: RSAES-OAEP with SHA-256 and MGF1-SHA-256,
 * RSA-2048) as WebCrypto performs it, checked against Wycheproof.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/rsa_oaep_2048_sha256_mgf1sha256_test.json,
 * commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Decision on `acceptable` cases: this file has none at the pinned commit (the first test pins the
 * counts, so a vector update that introduces some fails loudly and forces a fresh look). If any did appear,
 * the rule coded below is: decryption may either throw or succeed, but if it succeeds the plaintext must be
 * exactly `msg` — an acceptable case may never decrypt to anything else.
 */
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { countByResult, loadWycheproof, type RsaesOaepDecryptGroup } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('rsa_oaep_2048_sha256_mgf1sha256_test.json');
const load = () => loadWycheproof(VECTORS, 'rsaes_oaep_decrypt_schema_v1.json');

const RSA_OAEP_256 = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;

type KeyEncoding = 'pkcs8' | 'jwk';

function importPrivateKey(group: RsaesOaepDecryptGroup, encoding: KeyEncoding): Promise<CryptoKey> {
  if (encoding === 'pkcs8') {
    return globalThis.crypto.subtle.importKey('pkcs8', hexDecode(group.privateKeyPkcs8), RSA_OAEP_256, false, ['decrypt']);
  }
  // The JWK carries alg "RSA-OAEP-256" and a kid; WebCrypto checks alg against the requested hash.
  return globalThis.crypto.subtle.importKey('jwk', group.privateKeyJwk, RSA_OAEP_256, false, ['decrypt']);
}

type Outcome = { ok: true; plaintext: Uint8Array } | { ok: false; error: unknown };

async function decrypt(key: CryptoKey, ct: string, label: string): Promise<Outcome> {
  try {
    const plaintext = new Uint8Array(
      await globalThis.crypto.subtle.decrypt({ name: 'RSA-OAEP', label: hexDecode(label) }, key, hexDecode(ct)),
    );
    return { ok: true, plaintext };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('RSA-OAEP-256 via WebCrypto, against Wycheproof rsa_oaep_2048_sha256_mgf1sha256', () => {
  it('reads the pinned vector file: 37 cases (18 valid, 19 invalid, 0 acceptable) for one RSA-2048 SHA-256/MGF1-SHA-256 key', () => {
    const file = load();
    expect(file.algorithm).toBe('RSAES-OAEP');
    expect(file.numberOfTests).toBe(37);
    expect(countByResult(file)).toEqual({ valid: 18, invalid: 19, acceptable: 0 });
    expect(file.testGroups).toHaveLength(1);
    for (const g of file.testGroups) {
      expect({ keySize: g.keySize, sha: g.sha, mgf: g.mgf, mgfSha: g.mgfSha }).toEqual({
        keySize: 2048,
        sha: 'SHA-256',
        mgf: 'MGF1',
        mgfSha: 'SHA-256',
      });
      expect(g.privateKeyJwk.alg).toBe('RSA-OAEP-256');
    }
  });

  it.each<KeyEncoding>(['pkcs8', 'jwk'])(
    'accepts every valid Wycheproof RSA-OAEP-256 case and rejects every invalid one (private key imported as %s)',
    async (encoding) => {
      const file = load();
      const failures: string[] = [];
      let checked = 0;
      for (const group of file.testGroups) {
        const key = await importPrivateKey(group, encoding);
        expect(key.algorithm).toMatchObject({ name: 'RSA-OAEP', modulusLength: 2048, hash: { name: 'SHA-256' } });
        for (const test of group.tests) {
          checked++;
          const out = await decrypt(key, test.ct, test.label);
          const expected = hexDecode(test.msg);
          const matches = out.ok && constantTimeEqual(out.plaintext, expected);
          const where = `tcId ${test.tcId} (${test.result}; ${test.flags.join(',')}; ${test.comment || 'no comment'})`;
          switch (test.result) {
            case 'valid':
              if (!out.ok) failures.push(`${where}: rejected a valid ciphertext: ${String(out.error)}`);
              else if (!matches) failures.push(`${where}: decrypted to ${hexEncode(out.plaintext)}, expected ${test.msg}`);
              break;
            case 'invalid':
              if (out.ok) failures.push(`${where}: accepted an invalid ciphertext, got ${hexEncode(out.plaintext)}`);
              break;
            case 'acceptable':
              // See the decision at the top of the file: either outcome, but never a wrong plaintext.
              if (out.ok && !matches) failures.push(`${where}: acceptable case decrypted to a wrong plaintext`);
              break;
          }
        }
      }
      expect(failures).toEqual([]);
      expect(checked).toBe(file.numberOfTests);
    },
  );

  it('rejects every invalid case with the same error name and message, so the error reveals nothing about the padding (Manger)', async () => {
    const file = load();
    const errors = new Map<string, number[]>();
    for (const group of file.testGroups) {
      const key = await importPrivateKey(group, 'pkcs8');
      for (const test of group.tests) {
        if (test.result !== 'invalid' || !test.flags.includes('InvalidOaepPadding')) continue;
        const out = await decrypt(key, test.ct, test.label);
        expect(out.ok, `tcId ${test.tcId} must be rejected`).toBe(false);
        if (out.ok) continue;
        const e = out.error as { name?: unknown; message?: unknown };
        const shape = `${String(e.name)}: ${String(e.message)}`;
        errors.set(shape, [...(errors.get(shape) ?? []), test.tcId]);
      }
    }
    // Exactly one distinguishable error shape across all InvalidOaepPadding cases.
    expect([...errors.keys()]).toHaveLength(1);
    expect([...errors.values()][0]).toHaveLength(
      file.testGroups.flatMap((g) => g.tests).filter((t) => t.flags.includes('InvalidOaepPadding')).length,
    );
  });

  it('binds the label: a valid labelled ciphertext is rejected without its label or with another one', async () => {
    const file = load();
    let checked = 0;
    for (const group of file.testGroups) {
      const key = await importPrivateKey(group, 'pkcs8');
      for (const test of group.tests) {
        if (test.result !== 'valid' || test.label === '') continue;
        checked++;
        expect((await decrypt(key, test.ct, test.label)).ok, `tcId ${test.tcId} with its label`).toBe(true);
        expect((await decrypt(key, test.ct, '')).ok, `tcId ${test.tcId} without label`).toBe(false);
        const other = hexDecode(test.label);
        other[0] = other[0]! ^ 0x01;
        expect((await decrypt(key, test.ct, hexEncode(other))).ok, `tcId ${test.tcId} with a changed label`).toBe(false);
      }
    }
    expect(checked).toBeGreaterThan(0);
  });
});
