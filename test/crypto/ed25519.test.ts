/**
 * The project's ed25519Verify (src/crypto/ed25519.ts, strict RFC 8032 mode) against Wycheproof. PQXDH
 * uses it for every prekey signature and for the identity binding.
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/ed25519_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Decision on `acceptable` cases: none at the pinned commit (counts pinned below). Strict RFC 8032 §5.1.7
 * verification must accept every `valid` case and reject every `invalid` one (non-canonical R/S, S >= L,
 * truncated or extended signatures).
 */
import { describe, expect, it } from 'vitest';
import { hexDecode } from '../../src/crypto/bytes.js';
import { ed25519Verify } from '../../src/crypto/ed25519.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { IMPLEMENTATIONS, uninstallNativeAfterAll } from './implementations.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('ed25519_test.json');
const load = () => loadWycheproof(VECTORS, 'eddsa_verify_schema_v1.json');

uninstallNativeAfterAll();

describe.each(IMPLEMENTATIONS)('ed25519Verify (strict RFC 8032) via $name against Wycheproof ed25519_test', ({ install }) => {
  it('reads the pinned vector file: 151 cases (88 valid, 63 invalid, 0 acceptable)', () => {
    const file = load();
    expect(file.numberOfTests).toBe(151);
    expect(countByResult(file)).toEqual({ valid: 88, invalid: 63, acceptable: 0 });
  });

  it('accepts every valid signature and rejects every invalid one', () => {
    install();
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

describe.each(IMPLEMENTATIONS)('ed25519Verify via $name: keys strict RFC 8032 refuses', ({ install }) => {
  const identity = hexDecode(`01${'00'.repeat(31)}`);
  /** y = p + 1: the identity point again, encoded non-canonically. */
  const identityNonCanonical = hexDecode(`ee${'ff'.repeat(30)}7f`);
  /** R = identity, S = 0: satisfies the verification equation for every message when A has small order. */
  const trivialSignature = new Uint8Array(64);
  trivialSignature.set(identity, 0);

  it('refuses a small-order public key even with a signature that satisfies the equation', () => {
    install();
    expect(ed25519Verify(trivialSignature, new Uint8Array([1, 2, 3]), identity)).toBe(false);
  });

  it('refuses a non-canonical public key encoding (y >= p)', () => {
    install();
    expect(ed25519Verify(trivialSignature, new Uint8Array([1, 2, 3]), identityNonCanonical)).toBe(false);
  });
});

describe('node:crypto and @noble/curves agree', () => {
  it('produce the same deterministic signatures, and each verifies the other', async () => {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    for (let i = 0; i < 20; i++) {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const message = crypto.getRandomValues(new Uint8Array(i * 7));
      const viaNode = nodeCrypto.ed25519Sign(message, secret);
      expect(viaNode).toEqual(ed25519.sign(message, secret));
      expect(ed25519.verify(viaNode, message, ed25519.getPublicKey(secret), { zip215: false })).toBe(true);
      expect(nodeCrypto.ed25519Verify(viaNode, message, ed25519.getPublicKey(secret))).toBe(true);
    }
  });
});
