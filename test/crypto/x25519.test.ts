/**
 * X25519 (src/crypto/x25519.ts) against Wycheproof, on every backend (node:crypto, WebCrypto, @noble/curves).
 *
 * Vector source: Wycheproof (C2SP/wycheproof), testvectors_v1/x25519_test.json, commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, copied unchanged to test/vectors/wycheproof/
 * (Apache-2.0; see README.md and LICENSE there).
 *
 * Decision on `acceptable` cases (254 at the pinned commit: twist points, non-canonical encodings,
 * low-order points, edge-case arithmetic):
 *  - if the expected shared secret is all zero (flag ZeroSharedSecret; every LowOrderPublic case), we MUST
 *    reject: RFC 7748 §6.1's check is mandatory in this project, because PQXDH and the ratchet would
 *    otherwise derive keys from a value the attacker knows;
 *  - otherwise we MUST accept and produce exactly `shared`: RFC 7748 §5 defines X25519 on twist points
 *    and non-canonical u (top bit masked, value reduced mod p), and §7 recommends accepting them.
 * `valid` cases must produce `shared`; there are no `invalid` cases at this commit (counts pinned).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { hexDecode, hexEncode } from '../../src/crypto/bytes.js';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { InvalidX25519KeyError, useX25519Backend, x25519Backend, x25519SharedSecret, X25519KeyPair, type X25519Backend } from '../../src/crypto/x25519.js';
import { countByResult, loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

const VECTORS = wycheproofFile('x25519_test.json');
const load = () => loadWycheproof(VECTORS, 'xdh_comp_schema_v1.json');

afterAll(() => {
  useX25519Backend(undefined);
  installNativeCrypto(undefined);
});
const BACKENDS: X25519Backend[] = ['native', 'webcrypto', 'noble'];

describe('X25519 against Wycheproof x25519_test', () => {
  it('reads the pinned vector file: 518 cases (264 valid, 254 acceptable, 0 invalid), one curve25519 group', () => {
    const file = load();
    expect(file.numberOfTests).toBe(518);
    expect(countByResult(file)).toEqual({ valid: 264, invalid: 0, acceptable: 254 });
    expect(file.testGroups.map((g) => g.curve)).toEqual(['curve25519']);
  });

  it('uses WebCrypto by default on Node 20, the native implementation once the Node entry installs it', async () => {
    expect(await x25519Backend()).toBe('webcrypto');
    installNativeCrypto(nodeCrypto);
    expect(await x25519Backend()).toBe('native');
  });

  it.each<X25519Backend>(BACKENDS)('%s: computes every valid and non-zero acceptable case exactly, rejects every all-zero one', async (backend) => {
    useX25519Backend(backend);
    const failures: string[] = [];
    let rejectedZero = 0;
    for (const test of load().testGroups[0]!.tests) {
      const where = `tcId ${test.tcId} (${test.result}; ${test.flags.join(',')})`;
      const zero = /^(00)+$/.test(test.shared);
      let got: string | undefined;
      try {
        got = hexEncode(await x25519SharedSecret(hexDecode(test.private), hexDecode(test.public)));
      } catch {
        got = undefined;
      }
      if (zero) {
        if (got !== undefined) failures.push(`${where}: accepted an all-zero shared secret`);
        else rejectedZero++;
      } else if (got !== test.shared) failures.push(`${where}: got ${got ?? 'rejection'}, expected ${test.shared}`);
    }
    expect(failures).toEqual([]);
    expect(rejectedZero).toBeGreaterThanOrEqual(31);
  });

  it('all backends agree on key generation from the same secret and on the shared secret', async () => {
    const secret = hexDecode('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'); // RFC 7748 §6.1 Alice
    const bobPublic = hexDecode('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const results: string[] = [];
    for (const backend of BACKENDS) {
      useX25519Backend(backend);
      const pair = await X25519KeyPair.fromSecretKey(secret);
      expect(hexEncode(pair.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
      results.push(hexEncode(await pair.agree(bobPublic)));
    }
    expect(results).toEqual(Array(3).fill('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'));
  });

  it.each<X25519Backend>(['native', 'webcrypto'])('%s: a generated pair agrees with noble on its public key and shared secrets', async (backend) => {
    useX25519Backend(backend);
    const pair = await X25519KeyPair.generate();
    const peer = await X25519KeyPair.generate();
    useX25519Backend('noble');
    const again = await X25519KeyPair.fromSecretKey(pair.exportSecretKey());
    expect(hexEncode(again.publicKey)).toBe(hexEncode(pair.publicKey));
    const viaNoble = hexEncode(await again.agree(peer.publicKey));
    useX25519Backend(backend);
    expect(hexEncode(await pair.agree(peer.publicKey))).toBe(viaNoble);
  });

  it.each<X25519Backend>(['native', 'webcrypto'])('%s: a restored pair whose public key does not match its secret cannot agree', async (backend) => {
    useX25519Backend(backend);
    const pair = await X25519KeyPair.generate();
    const other = await X25519KeyPair.generate();
    const forged = X25519KeyPair.restore(pair.exportSecretKey(), other.publicKey);
    await expect(forged.agree(other.publicKey)).rejects.toThrow(InvalidX25519KeyError);
  });

  it.each<X25519Backend>(BACKENDS)('%s: a destroyed pair cannot agree', async (backend) => {
    useX25519Backend(backend);
    const pair = await X25519KeyPair.generate();
    const peer = await X25519KeyPair.generate();
    pair.destroy();
    await expect(pair.agree(peer.publicKey)).rejects.toThrow(InvalidX25519KeyError);
  });

  it('a live key pair never shows its secret through JSON or inspect', async () => {
    useX25519Backend(undefined);
    const pair = await X25519KeyPair.generate();
    const secretHex = hexEncode(pair.exportSecretKey());
    const { inspect } = await import('node:util');
    expect(JSON.stringify(pair)).not.toContain(secretHex);
    expect(inspect(pair, { showHidden: true, depth: 5 })).not.toContain(secretHex);
    expect(JSON.stringify(pair)).toContain(hexEncode(pair.publicKey));
  });
});
