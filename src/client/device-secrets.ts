/**
 * This device's long-term secrets behind the two operations the client needs (sign, and decrypt in the
 * hybrid mode), so that the client never reads a secret's bytes. The CLI keeps its keys as JWKs in its
 * folder (deviceSecretsFromJwks); a browser keeps them as non-extractable WebCrypto keys
 * (webCryptoDeviceSecrets), usable by the page but never readable by a script. ChatClient takes either
 * (ClientIdentity.keys) and works only through this interface.
 *
 * The PQXDH identity key IK (X25519, `agree`) is not here: it lives with the prekeys in the ratchet store,
 * as an X25519KeyPair that may itself be held by WebCrypto (X25519KeyPair.fromCryptoKey).
 */
import { base64urlDecode, base64urlEncode, constantTimeEqual, type Bytes } from '../crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf, type Ed25519PublicJwk, type RsaPublicJwk, type UserKeyPairs } from '../crypto/keys.js';
import { ed25519SigningKeyFromSeed, webCryptoSigningKey, type Ed25519SigningKey } from '../crypto/signing-key.js';
import { importEncryptionKey } from '../e2ee/hybrid-envelope.js';

export interface DeviceSecrets {
  /** Ed25519: this device's signing key (on the primary, the account key). */
  readonly signing: Ed25519SigningKey;
  readonly signingPublicJwk: Ed25519PublicJwk;
  /** RSA-2048 public key for the hybrid mode (RSA-OAEP-256). */
  readonly encryptionPublicJwk: RsaPublicJwk;
  /** The RSA-OAEP-256 private key, for opening hybrid envelopes. */
  decryptionKey(): Promise<CryptoKey>;
}

/** Whether `keys` is a DeviceSecrets object rather than the JWK pair the CLI's folder stores. */
export function isDeviceSecrets(keys: UserKeyPairs | DeviceSecrets): keys is DeviceSecrets {
  return typeof (keys as DeviceSecrets).decryptionKey === 'function';
}

/** The secrets of a JWK pair (the CLI's identity.json): the seed and the RSA JWK stay in this object. */
export function deviceSecretsFromJwks(keys: UserKeyPairs): DeviceSecrets {
  const signing = ed25519SigningKeyFromSeed(base64urlDecode(keys.signing.d));
  const encryption = keys.encryption;
  let decryption: Promise<CryptoKey> | undefined;
  return {
    signing,
    signingPublicJwk: ed25519PublicOf(keys.signing),
    encryptionPublicJwk: rsaPublicOf(keys.encryption),
    decryptionKey: () => (decryption ??= importEncryptionKey(encryption)),
  };
}

/** Either form, as DeviceSecrets (JWKs are wrapped once; secrets objects pass through). */
export function deviceSecretsOf(keys: UserKeyPairs | DeviceSecrets): DeviceSecrets {
  return isDeviceSecrets(keys) ? keys : deviceSecretsFromJwks(keys);
}

/** Private keys held by WebCrypto (non-extractable is the point), with their public halves. */
export interface WebCryptoDeviceKeys {
  readonly signing: { readonly privateKey: CryptoKey; readonly publicKey: Uint8Array };
  readonly encryption: { readonly privateKey: CryptoKey; readonly publicJwk: RsaPublicJwk };
}

/**
 * Secrets whose private halves WebCrypto holds. The signing pair is checked by one signature
 * (webCryptoSigningKey); the RSA key must be an RSA-OAEP SHA-256 private key, as the hybrid mode's JWE
 * (RSA-OAEP-256) needs.
 */
export async function webCryptoDeviceSecrets(keys: WebCryptoDeviceKeys): Promise<DeviceSecrets> {
  const { privateKey, publicJwk } = keys.encryption;
  const algorithm = privateKey.algorithm as RsaHashedKeyAlgorithm;
  if (privateKey.type !== 'private' || algorithm.name !== 'RSA-OAEP' || algorithm.hash?.name !== 'SHA-256' || !privateKey.usages.includes('decrypt')) {
    throw new TypeError('expected an RSA-OAEP (SHA-256) private CryptoKey with usage "decrypt"');
  }
  const signing = await webCryptoSigningKey(keys.signing.privateKey, keys.signing.publicKey);
  // One RSA-OAEP round trip proves the pairing: a mismatched pair would leave every hybrid message
  // addressed to this device unreadable, found only when the first one arrives.
  const probe = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const sealed = await globalThis.crypto.subtle.encrypt({ name: 'RSA-OAEP' }, await importEncryptionKey(rsaPublicOf(publicJwk)), probe);
  const opened = new Uint8Array(await globalThis.crypto.subtle.decrypt({ name: 'RSA-OAEP' }, privateKey, sealed).catch(() => new ArrayBuffer(0)));
  if (!constantTimeEqual(opened, probe)) throw new TypeError('the RSA private CryptoKey is not the private half of "publicJwk"');
  return {
    signing,
    signingPublicJwk: { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(signing.publicKey as Bytes) },
    encryptionPublicJwk: rsaPublicOf(publicJwk),
    decryptionKey: () => Promise.resolve(privateKey),
  };
}
