/**
 * ML-KEM-1024 (NIST FIPS 203, parameter set of Table 2: k=4, η1=η2=2, du=11, dv=5) from
 * @noble/post-quantum. Sizes (FIPS 203 Table 3): encapsulation key 1568 bytes, decapsulation key 3168,
 * ciphertext 1568, shared secret 32.
 *
 * Input checks required by FIPS 203 §7.2 (encapsulation-key modulus check) and §7.3 (decapsulation-key
 * hash check, ciphertext length) are performed by the library and surface here as thrown errors.
 * Decapsulation of a well-formed but wrong ciphertext does NOT throw: it returns the implicit-rejection
 * key (FIPS 203 Algorithm 18 step 9-10), so callers notice only through the KDF output being different.
 *
 * The arithmetic runs in an installable implementation, like the primitives of native.ts: @noble's pure
 * JS by default (runtime-neutral), or liboqs in WebAssembly (mlkem-liboqs.ts, ~9× faster), which the Node
 * entry points install (node/node-crypto.ts). Both take the same inputs, FIPS 203 key formats included,
 * and pass the same Wycheproof files, so keys stored under one open under the other.
 */
import { ml_kem1024 } from '@noble/post-quantum/ml-kem.js';
import type { Bytes } from './bytes.js';
import { defaultRandom, type RandomSource } from './random.js';

export const MLKEM1024_PUBLIC_KEY_LENGTH = 1568;
export const MLKEM1024_SECRET_KEY_LENGTH = 3168;
export const MLKEM1024_CIPHERTEXT_LENGTH = 1568;
export const MLKEM1024_SHARED_SECRET_LENGTH = 32;
/** FIPS 203 Algorithm 19: d || z, 32 bytes each. */
export const MLKEM1024_SEED_LENGTH = 64;
/** FIPS 203 Algorithm 20: the 32-byte message m. */
export const MLKEM1024_ENCAPS_RANDOMNESS_LENGTH = 32;

export interface MlKem1024KeyPair {
  readonly publicKey: Bytes;
  readonly secretKey: Bytes;
}

/**
 * The deterministic core of ML-KEM-1024 (FIPS 203 Algorithms 16, 17 and 18 with their input checks); all
 * randomness comes from the caller. Argument lengths are checked before an implementation is called.
 */
export interface MlKem1024Implementation {
  readonly name: string;
  /** ML-KEM.KeyGen_internal(d, z) from seed = d || z; the secret key is the 3168-byte expanded dk. */
  keyPairFromSeed(seed: Uint8Array): MlKem1024KeyPair;
  /** ML-KEM.Encaps_internal(ek, m); throws if ek fails the FIPS 203 §7.2 modulus check. */
  encapsulate(publicKey: Uint8Array, m: Uint8Array): { ciphertext: Bytes; sharedSecret: Bytes };
  /** ML-KEM.Decaps; throws if dk fails the §7.3 hash check, implicit rejection otherwise. */
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Bytes;
}

export const nobleMlKem1024: MlKem1024Implementation = {
  name: '@noble/post-quantum (pure JS)',
  keyPairFromSeed(seed) {
    const { publicKey, secretKey } = ml_kem1024.keygen(seed);
    return { publicKey: publicKey as Bytes, secretKey: secretKey as Bytes };
  },
  encapsulate(publicKey, m) {
    const { cipherText, sharedSecret } = ml_kem1024.encapsulate(publicKey, m);
    return { ciphertext: cipherText as Bytes, sharedSecret: sharedSecret as Bytes };
  },
  decapsulate(ciphertext, secretKey) {
    return ml_kem1024.decapsulate(ciphertext, secretKey) as Bytes;
  },
};

let installed: MlKem1024Implementation = nobleMlKem1024;

/** Installs (or, with `undefined`, goes back to @noble for) the ML-KEM-1024 implementation of this process. */
export function installMlKem1024(implementation: MlKem1024Implementation | undefined): void {
  installed = implementation ?? nobleMlKem1024;
}

/** The implementation in use, e.g. for a benchmark's label. */
export function mlkem1024Implementation(): MlKem1024Implementation {
  return installed;
}

/** ML-KEM.KeyGen_internal(d, z) from a 64-byte seed d || z (FIPS 203 Algorithm 16). */
export function mlkem1024KeyPairFromSeed(seed: Uint8Array): MlKem1024KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== MLKEM1024_SEED_LENGTH) throw new RangeError('"seed" expected Uint8Array of length 64');
  return installed.keyPairFromSeed(seed);
}

export function mlkem1024GenerateKeyPair(random: RandomSource = defaultRandom): MlKem1024KeyPair {
  const seed = random(MLKEM1024_SEED_LENGTH);
  try {
    return mlkem1024KeyPairFromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

/**
 * ML-KEM.Encaps (FIPS 203 Algorithm 20, with m from `random`). Throws if the encapsulation key has the
 * wrong length or fails the modulus check.
 */
export function mlkem1024Encapsulate(publicKey: Uint8Array, random: RandomSource = defaultRandom): { ciphertext: Bytes; sharedSecret: Bytes } {
  return mlkem1024EncapsulateDeterministic(publicKey, random(MLKEM1024_ENCAPS_RANDOMNESS_LENGTH));
}

/** ML-KEM.Encaps_internal(ek, m) (FIPS 203 Algorithm 17); for known-answer tests. */
export function mlkem1024EncapsulateDeterministic(publicKey: Uint8Array, m: Uint8Array): { ciphertext: Bytes; sharedSecret: Bytes } {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== MLKEM1024_PUBLIC_KEY_LENGTH) throw new RangeError('"publicKey" expected Uint8Array of length 1568');
  if (!(m instanceof Uint8Array) || m.length !== MLKEM1024_ENCAPS_RANDOMNESS_LENGTH) throw new RangeError('"m" expected Uint8Array of length 32');
  return installed.encapsulate(publicKey, m);
}

/** ML-KEM.Decaps (FIPS 203 Algorithm 21). Throws on wrong lengths or a decapsulation key failing its hash check. */
export function mlkem1024Decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Bytes {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== MLKEM1024_CIPHERTEXT_LENGTH) throw new RangeError('"ciphertext" expected Uint8Array of length 1568');
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== MLKEM1024_SECRET_KEY_LENGTH) throw new RangeError('"secretKey" expected Uint8Array of length 3168');
  return installed.decapsulate(ciphertext, secretKey);
}
