/**
 * This browser's device keys, made by WebCrypto with their private halves non-extractable from the
 * start: the page can sign and decrypt with them, but no script (its own, or one injected into it) can
 * read them out. The library takes them as DeviceSecrets (webCryptoDeviceSecrets, which checks each
 * pairing); StoredIdentity is the form a store keeps (CryptoKeys survive structured cloning, into
 * IndexedDB too).
 */
import { webCryptoDeviceSecrets, type ClientIdentity, type WebCryptoDeviceKeys } from '../../src/client/index.js';

/** The protocol's RSA size for the hybrid mode's RSA-OAEP-256 (docs/PROTOCOL.md; the CLI makes the same). */
const RSA_MODULUS_BITS = 2048;
const RSA_PUBLIC_EXPONENT = new Uint8Array([1, 0, 1]);

/** A device's identity as a store keeps it: names, and the keys as WebCrypto holds them. */
export interface StoredIdentity {
  username: string;
  /** This device's id in the account's list; absent: the primary (device 1). */
  device?: number;
  /** The account's public keys, for a linked device (ClientIdentity.account). */
  account?: ClientIdentity['account'];
  keys: WebCryptoDeviceKeys;
}

export async function generateDeviceKeys(): Promise<WebCryptoDeviceKeys> {
  const { subtle } = globalThis.crypto;
  const signing = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const encryption = (await subtle.generateKey(
    { name: 'RSA-OAEP', modulusLength: RSA_MODULUS_BITS, publicExponent: RSA_PUBLIC_EXPONENT, hash: 'SHA-256' },
    false,
    ['encrypt', 'decrypt'],
  )) as CryptoKeyPair;
  // Public halves are always extractable: they are what the server and peers get.
  const publicJwk = (await subtle.exportKey('jwk', encryption.publicKey)) as JsonWebKey;
  if (publicJwk.n === undefined || publicJwk.e === undefined) throw new Error('WebCrypto exported an RSA public key without n or e');
  return {
    signing: { privateKey: signing.privateKey, publicKey: new Uint8Array(await subtle.exportKey('raw', signing.publicKey)) },
    encryption: { privateKey: encryption.privateKey, publicJwk: { kty: 'RSA', n: publicJwk.n, e: publicJwk.e } },
  };
}

/** The identity the ChatClient takes, from the stored one. */
export async function clientIdentity(stored: StoredIdentity): Promise<ClientIdentity> {
  return {
    username: stored.username,
    ...(stored.device !== undefined && { device: stored.device }),
    ...(stored.account && { account: stored.account }),
    keys: await webCryptoDeviceSecrets(stored.keys),
  };
}
