/**
 * The Wycheproof loader (test/vectors/wycheproof.ts) must fail loudly, never skip: a suite that finds no
 * vectors has to go red. Vector source for the positive case: Wycheproof (C2SP/wycheproof),
 * testvectors_v1/hmac_sha256_test.json, commit dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, in
 * test/vectors/wycheproof/.
 */
import { describe, expect, it } from 'vitest';
import { loadWycheproof } from '../vectors/wycheproof.js';
import { wycheproofFile } from '../vectors/wycheproof-dir.js';

describe('Wycheproof loader', () => {
  it('fails with a clear message naming the expected folder when the vectors folder is missing', () => {
    const missing = new URL('../vectors/no-such-wycheproof-folder/hmac_sha256_test.json', import.meta.url);
    expect(() => loadWycheproof(missing, 'mac_test_schema_v1.json')).toThrow(/Wycheproof vectors folder is missing: .*no-such-wycheproof-folder does not exist/);
  });

  it('fails when the file is missing from an existing vectors folder', () => {
    const missing = wycheproofFile('no_such_test.json');
    expect(() => loadWycheproof(missing, 'mac_test_schema_v1.json')).toThrow(/file is missing/);
  });

  it('fails when the file does not have the expected schema', () => {
    const hmac = wycheproofFile('hmac_sha256_test.json');
    expect(() => loadWycheproof(hmac, 'ind_cpa_test_schema_v1.json')).toThrow(/schema is mac_test_schema_v1.json, expected ind_cpa_test_schema_v1.json/);
    expect(loadWycheproof(hmac, 'mac_test_schema_v1.json').numberOfTests).toBe(174);
  });
});
