/**
 * ML-KEM-1024 (NIST FIPS 203, parameter set of Table 2: k=4, η1=η2=2, du=11, dv=5) from
 * @noble/post-quantum. Sizes (FIPS 203 Table 3): encapsulation key 1568 bytes, decapsulation key 3168,
 * ciphertext 1568, shared secret 32.
 *
 * Input checks required by FIPS 203 §7.2 (encapsulation-key modulus check) and §7.3 (decapsulation-key
 * hash check, ciphertext length) are performed by the library and surface here as thrown errors.
 * Decapsulation of a well-formed but wrong ciphertext does NOT throw: it returns the implicit-rejection
 * key (FIPS 203 Algorithm 18 step 9-10), so callers notice only through the KDF output being different.
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

/** ML-KEM.KeyGen_internal(d, z) from a 64-byte seed d || z (FIPS 203 Algorithm 16). */
export function mlkem1024KeyPairFromSeed(seed: Uint8Array): MlKem1024KeyPair {
  if (!(seed instanceof Uint8Array) || seed.length !== MLKEM1024_SEED_LENGTH) throw new RangeError('"seed" expected Uint8Array of length 64');
  const { publicKey, secretKey } = ml_kem1024.keygen(seed);
  return { publicKey: publicKey as Bytes, secretKey: secretKey as Bytes };
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
  const { cipherText, sharedSecret } = ml_kem1024.encapsulate(publicKey, m);
  return { ciphertext: cipherText as Bytes, sharedSecret: sharedSecret as Bytes };
}

/** ML-KEM.Decaps (FIPS 203 Algorithm 21). Throws on wrong lengths or a decapsulation key failing its hash check. */
export function mlkem1024Decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Bytes {
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length !== MLKEM1024_CIPHERTEXT_LENGTH) throw new RangeError('"ciphertext" expected Uint8Array of length 1568');
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== MLKEM1024_SECRET_KEY_LENGTH) throw new RangeError('"secretKey" expected Uint8Array of length 3168');
  return ml_kem1024.decapsulate(ciphertext, secretKey) as Bytes;
}
