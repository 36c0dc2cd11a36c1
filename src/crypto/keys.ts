/**
 * The long-term key pairs of a user, as JWKs (RFC 7517): an Ed25519 signing key and an RSA-2048
 * encryption key (RSA-OAEP-256). Generated through WebCrypto via jose so the private parts are never
 * produced by our own code.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { base64urlDecode, base64urlEncode } from './bytes.js';
import { ed25519GenerateSecretKey, ed25519PublicKeyFromSecret } from './ed25519-keygen.js';
import { nativeCrypto } from './native.js';

export interface Ed25519PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
}
export interface Ed25519PrivateJwk extends Ed25519PublicJwk {
  readonly d: string;
}
export interface RsaPublicJwk {
  readonly kty: 'RSA';
  readonly n: string;
  readonly e: string;
}
export interface RsaPrivateJwk extends RsaPublicJwk {
  readonly d: string;
  readonly p: string;
  readonly q: string;
  readonly dp: string;
  readonly dq: string;
  readonly qi: string;
}

export const RSA_MODULUS_BITS = 2048;

export interface UserKeyPairs {
  readonly signing: Ed25519PrivateJwk;
  readonly encryption: RsaPrivateJwk;
}

export async function generateUserKeyPairs(): Promise<UserKeyPairs> {
  // Ed25519 from a random seed (RFC 8032 §5.1.5), and RSA through the native slot when installed, rather
  // than a WebCrypto key-generation job followed by an export: on Node 20 exporting a key while the
  // garbage collector finalises its generation job can deadlock (src/crypto/node/node-crypto.ts).
  const seed = ed25519GenerateSecretKey();
  const signing: Ed25519PrivateJwk = { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(ed25519PublicKeyFromSecret(seed)), d: base64urlEncode(seed) };
  seed.fill(0);
  const native = nativeCrypto();
  const e = native
    ? await native.rsaGenerateJwk(RSA_MODULUS_BITS)
    : await exportJWK((await generateKeyPair('RSA-OAEP-256', { modulusLength: RSA_MODULUS_BITS, extractable: true })).privateKey);
  return {
    signing,
    encryption: { kty: 'RSA', n: e.n!, e: e.e!, d: e.d!, p: e.p!, q: e.q!, dp: e.dp!, dq: e.dq!, qi: e.qi! },
  };
}

export function ed25519PublicOf(jwk: Ed25519PublicJwk): Ed25519PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
}

export function rsaPublicOf(jwk: RsaPublicJwk): RsaPublicJwk {
  return { kty: 'RSA', n: jwk.n, e: jwk.e };
}

export function ed25519SecretBytes(jwk: Ed25519PrivateJwk): Uint8Array {
  return base64urlDecode(jwk.d);
}

export function ed25519PublicBytes(jwk: Ed25519PublicJwk): Uint8Array {
  return base64urlDecode(jwk.x);
}

/** RFC 7638 JWK thumbprint with SHA-256, base64url: the key's stable name in signatures and fingerprints. */
export function jwkThumbprint(jwk: Ed25519PublicJwk | RsaPublicJwk): Promise<string> {
  return calculateJwkThumbprint(jwk.kty === 'OKP' ? ed25519PublicOf(jwk) : rsaPublicOf(jwk), 'sha256');
}
