/**
 * Typed loader for Wycheproof test-vector files (C2SP/wycheproof, folder testvectors_v1/).
 *
 * The vectors live in test/vectors/wycheproof/ (copied unchanged from commit
 * dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166, with their LICENSE; see the README.md beside them). Callers
 * pass the file as a URL (wycheproof-dir.ts builds it), so nothing depends on the working directory.
 *
 * A missing or malformed file is an error, never a skip: a test suite that silently checks nothing
 * would look exactly like one that passes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

export interface WycheproofTest {
  readonly tcId: number;
  readonly comment: string;
  readonly flags: readonly string[];
  readonly result: WycheproofResult;
}

export interface WycheproofGroup<T extends WycheproofTest> {
  readonly type: string;
  readonly tests: readonly T[];
}

export interface WycheproofFile<G extends WycheproofGroup<WycheproofTest>> {
  readonly algorithm: string;
  readonly schema: string;
  readonly numberOfTests: number;
  readonly header: readonly string[];
  readonly notes: Readonly<Record<string, { readonly bugType: string; readonly description: string }>>;
  readonly testGroups: readonly G[];
}

// ---- rsaes_oaep_decrypt_schema_v1.json -----------------------------------------------------------

export interface RsaesOaepDecryptTest extends WycheproofTest {
  /** Expected plaintext, hex. */
  readonly msg: string;
  /** Ciphertext, hex. */
  readonly ct: string;
  /** OAEP label, hex (empty string for no label). */
  readonly label: string;
}

export interface RsaesOaepDecryptGroup extends WycheproofGroup<RsaesOaepDecryptTest> {
  readonly type: 'RsaesOaepDecrypt';
  readonly keySize: number;
  readonly sha: string;
  readonly mgf: string;
  readonly mgfSha: string;
  /** PKCS#8 PrivateKeyInfo, DER, hex. */
  readonly privateKeyPkcs8: string;
  readonly privateKeyPem: string;
  readonly privateKeyJwk: JsonWebKey & { readonly kid?: string };
}

// ---- ind_cpa_test_schema_v1.json -----------------------------------------------------------------

export interface IndCpaTest extends WycheproofTest {
  readonly key: string;
  readonly iv: string;
  readonly msg: string;
  readonly ct: string;
}

export interface IndCpaTestGroup extends WycheproofGroup<IndCpaTest> {
  readonly type: 'IndCpaTest';
  readonly keySize: number;
  readonly ivSize: number;
}

// ---- aead_test_schema_v1.json --------------------------------------------------------------------

export interface AeadTest extends WycheproofTest {
  readonly key: string;
  readonly iv: string;
  readonly aad: string;
  readonly msg: string;
  /** Ciphertext without the tag, hex. */
  readonly ct: string;
  readonly tag: string;
}

export interface AeadTestGroup extends WycheproofGroup<AeadTest> {
  readonly type: 'AeadTest';
  readonly keySize: number;
  readonly ivSize: number;
  readonly tagSize: number;
}

// ---- mac_test_schema_v1.json ---------------------------------------------------------------------

export interface MacTest extends WycheproofTest {
  readonly key: string;
  readonly msg: string;
  readonly tag: string;
}

export interface MacTestGroup extends WycheproofGroup<MacTest> {
  readonly type: 'MacTest';
  readonly keySize: number;
  readonly tagSize: number;
}

// ---- xdh_comp_schema_v1.json ---------------------------------------------------------------------

export interface XdhCompTest extends WycheproofTest {
  /** Peer public key (raw u-coordinate), hex. */
  readonly public: string;
  /** Own private key (raw scalar), hex. */
  readonly private: string;
  /** Expected shared secret, hex. */
  readonly shared: string;
}

export interface XdhCompGroup extends WycheproofGroup<XdhCompTest> {
  readonly type: 'XdhComp';
  readonly curve: string;
}

// ---- eddsa_verify_schema_v1.json -----------------------------------------------------------------

export interface EddsaVerifyTest extends WycheproofTest {
  readonly msg: string;
  readonly sig: string;
}

export interface EddsaVerifyGroup extends WycheproofGroup<EddsaVerifyTest> {
  readonly type: 'EddsaVerify';
  readonly publicKey: { readonly type: string; readonly curve: string; readonly keySize: number; readonly pk: string };
}

// ---- hkdf_test_schema_v1.json --------------------------------------------------------------------

export interface HkdfTest extends WycheproofTest {
  readonly ikm: string;
  readonly salt: string;
  readonly info: string;
  /** Output length in bytes. */
  readonly size: number;
  readonly okm: string;
}

export interface HkdfTestGroup extends WycheproofGroup<HkdfTest> {
  readonly type: 'HkdfTest';
  readonly keySize: number;
}

// ---- ML-KEM (FIPS 203) schemas: these files have no header, and the keygen file no flags -----------

export interface MlKemTest extends WycheproofTest {
  /** d || z (64 bytes when well formed), hex; invalid cases carry other lengths. */
  readonly seed: string;
  /** Expected encapsulation key, hex (absent for some invalid cases). */
  readonly ek?: string;
  readonly c: string;
  /** Expected shared secret, hex (empty for invalid cases). */
  readonly K: string;
}

export interface MlKemTestGroup extends WycheproofGroup<MlKemTest> {
  readonly type: 'MLKEMTest';
  readonly parameterSet: string;
}

export interface MlKemEncapsTest extends WycheproofTest {
  readonly ek: string;
  /** The encapsulation randomness m, hex. */
  readonly m: string;
  readonly c: string;
  readonly K: string;
}

export interface MlKemEncapsGroup extends WycheproofGroup<MlKemEncapsTest> {
  readonly type: 'MLKEMEncapsTest';
  readonly parameterSet: string;
}

export interface MlKemKeyGenTest extends WycheproofTest {
  readonly seed: string;
  readonly ek: string;
  readonly dk: string;
}

export interface MlKemKeyGenGroup extends WycheproofGroup<MlKemKeyGenTest> {
  readonly type: 'MLKEMKeyGen';
  readonly parameterSet: string;
}

export interface MlKemDecapsValidationTest extends WycheproofTest {
  /** Expanded decapsulation key (3168 bytes for ML-KEM-1024 when well formed), hex. */
  readonly dk: string;
  readonly c: string;
  readonly ek: string;
  readonly K?: string;
}

export interface MlKemDecapsValidationGroup extends WycheproofGroup<MlKemDecapsValidationTest> {
  readonly type: 'MLKEMDecapsValidationTest';
  readonly parameterSet: string;
}

// ---- loading -------------------------------------------------------------------------------------

export interface SchemaTypes {
  'rsaes_oaep_decrypt_schema_v1.json': RsaesOaepDecryptGroup;
  'ind_cpa_test_schema_v1.json': IndCpaTestGroup;
  'aead_test_schema_v1.json': AeadTestGroup;
  'mac_test_schema_v1.json': MacTestGroup;
  'xdh_comp_schema_v1.json': XdhCompGroup;
  'eddsa_verify_schema_v1.json': EddsaVerifyGroup;
  'hkdf_test_schema_v1.json': HkdfTestGroup;
  'mlkem_test_schema.json': MlKemTestGroup;
  'mlkem_encaps_test_schema.json': MlKemEncapsGroup;
  'mlkem_keygen_seed_test_schema.json': MlKemKeyGenGroup;
  'mlkem_semi_expanded_decaps_test_schema.json': MlKemDecapsValidationGroup;
}

const GROUP_TYPE: { readonly [S in keyof SchemaTypes]: SchemaTypes[S]['type'] } = {
  'rsaes_oaep_decrypt_schema_v1.json': 'RsaesOaepDecrypt',
  'ind_cpa_test_schema_v1.json': 'IndCpaTest',
  'aead_test_schema_v1.json': 'AeadTest',
  'mac_test_schema_v1.json': 'MacTest',
  'xdh_comp_schema_v1.json': 'XdhComp',
  'eddsa_verify_schema_v1.json': 'EddsaVerify',
  'hkdf_test_schema_v1.json': 'HkdfTest',
  'mlkem_test_schema.json': 'MLKEMTest',
  'mlkem_encaps_test_schema.json': 'MLKEMEncapsTest',
  'mlkem_keygen_seed_test_schema.json': 'MLKEMKeyGen',
  'mlkem_semi_expanded_decaps_test_schema.json': 'MLKEMDecapsValidationTest',
};

/**
 * Schemas whose tests may omit `flags` (the ML-KEM key-generation file at the pinned commit has none).
 * For these only, a missing `flags` is read as an empty list; everywhere else it stays an error.
 */
const FLAGS_OPTIONAL: ReadonlySet<string> = new Set<keyof SchemaTypes>(['mlkem_keygen_seed_test_schema.json']);

const RESULTS: ReadonlySet<string> = new Set<WycheproofResult>(['valid', 'invalid', 'acceptable']);

function fail(path: string, why: string): never {
  throw new Error(`Wycheproof vector file ${path}: ${why}`);
}

/**
 * Reads a Wycheproof file and checks its envelope: the schema is the one the caller expects, every
 * group has the expected type, every test has a tcId and a known result, and the number of tests
 * matches the header's numberOfTests. Field contents are left to the caller.
 */
export function loadWycheproof<S extends keyof SchemaTypes>(file: URL, schema: S): WycheproofFile<SchemaTypes[S]> {
  const path = fileURLToPath(file);
  const folder = dirname(path);
  if (!existsSync(folder)) {
    throw new Error(
      `Wycheproof vectors folder is missing: ${folder} does not exist. ` +
        'These tests need the Wycheproof JSON files (C2SP/wycheproof testvectors_v1, commit ' +
        'dac1dd4729fd1f8dd9e1e9f3dce51d783da6c166) that the repository keeps in test/vectors/wycheproof/.',
    );
  }
  if (!existsSync(path)) fail(path, 'file is missing from the vectors folder');

  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new Error(`Wycheproof vector file ${path}: not valid JSON`, { cause });
  }
  if (typeof parsed !== 'object' || parsed === null) fail(path, 'top level is not an object');
  const doc = parsed as Partial<WycheproofFile<SchemaTypes[S]>>;
  if (doc.schema !== schema) fail(path, `schema is ${String(doc.schema)}, expected ${schema}`);
  if (typeof doc.numberOfTests !== 'number') fail(path, 'numberOfTests is missing');
  if (!Array.isArray(doc.testGroups) || doc.testGroups.length === 0) fail(path, 'testGroups is missing or empty');

  let count = 0;
  const seen = new Set<number>();
  for (const group of doc.testGroups) {
    if (group.type !== GROUP_TYPE[schema]) fail(path, `group type ${String(group.type)}, expected ${GROUP_TYPE[schema]}`);
    if (!Array.isArray(group.tests)) fail(path, 'a group has no tests array');
    for (const t of group.tests) {
      if (!Number.isInteger(t.tcId)) fail(path, 'a test has no integer tcId');
      if (seen.has(t.tcId)) fail(path, `duplicate tcId ${t.tcId}`);
      seen.add(t.tcId);
      if (!RESULTS.has(t.result)) fail(path, `tcId ${t.tcId} has unknown result ${String(t.result)}`);
      if (t.flags === undefined && FLAGS_OPTIONAL.has(schema)) (t as { flags: readonly string[] }).flags = [];
      if (!Array.isArray(t.flags)) fail(path, `tcId ${t.tcId} has no flags array`);
      count++;
    }
  }
  if (count !== doc.numberOfTests) fail(path, `holds ${count} tests but its header says numberOfTests = ${doc.numberOfTests}`);
  return doc as WycheproofFile<SchemaTypes[S]>;
}

/** Counts of tests by result, for pinning the shape of a vector file in a test. */
export function countByResult(file: WycheproofFile<WycheproofGroup<WycheproofTest>>): Record<WycheproofResult, number> {
  const counts: Record<WycheproofResult, number> = { valid: 0, invalid: 0, acceptable: 0 };
  for (const g of file.testGroups) for (const t of g.tests) counts[t.result]++;
  return counts;
}
