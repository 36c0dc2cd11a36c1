/**
 * An RSA-2048 public key as its 256-byte modulus, the form the signed device list carries (docs/PROTOCOL.md
 * §17.2), and back to the JWK the hybrid envelope encrypts to. The public exponent is always 65537, so
 * the modulus alone names the key. A JWK's `n` is the base64url of the big-endian modulus without
 * leading zeros (RFC 7518 §6.3.1.1); a 2048-bit modulus has its top bit set, so that is exactly 256 bytes.
 */
import { base64urlDecode, base64urlEncode, type Bytes } from '../crypto/bytes.js';
import type { RsaPublicJwk } from '../crypto/keys.js';
import { ChatError } from './errors.js';

export const RSA_MODULUS_BYTES = 256;
/** 65537 as a JWK base64urlUInt. */
const RSA_EXPONENT_65537 = 'AQAB';

/**
 * Why these bytes are not a modulus we accept, or undefined: 256 bytes, first byte ≥ 0x80 (exactly 2048
 * bits) and odd (a product of two odd primes). The same rules as the registered key's JWK (schemas.ts).
 */
export function rsaModulusProblem(modulus: Uint8Array): string | undefined {
  if (modulus.length !== RSA_MODULUS_BYTES) return `RSA modulus must be ${RSA_MODULUS_BYTES} bytes`;
  if (modulus[0]! < 0x80) return 'RSA modulus must be exactly 2048 bits (first byte at least 0x80)';
  if ((modulus[RSA_MODULUS_BYTES - 1]! & 1) === 0) return 'RSA modulus must be odd';
  return undefined;
}

/** The modulus of an RSA-2048 public JWK with e = 65537; bad_request for anything else. */
export function rsaModulusFromJwk(jwk: RsaPublicJwk): Bytes {
  if (jwk.kty !== 'RSA' || jwk.e !== RSA_EXPONENT_65537) throw new ChatError('bad_request', 'RSA key must have public exponent 65537');
  let modulus: Bytes;
  try {
    modulus = base64urlDecode(jwk.n);
  } catch (cause) {
    throw new ChatError('bad_request', 'RSA key: n is not base64url', { cause });
  }
  const problem = rsaModulusProblem(modulus);
  if (problem) throw new ChatError('bad_request', problem);
  return modulus;
}

/** The public JWK (e = 65537) of a modulus; bad_request if the modulus breaks a rule of rsaModulusProblem. */
export function rsaPublicJwkFromModulus(modulus: Uint8Array): RsaPublicJwk {
  const problem = rsaModulusProblem(modulus);
  if (problem) throw new ChatError('bad_request', problem);
  return { kty: 'RSA', n: base64urlEncode(modulus), e: RSA_EXPONENT_65537 };
}
