/**
 * An Ed25519 signing key as the protocol uses it: a public key and an asynchronous `sign`, and nothing
 * that hands out the secret. Everything above the crypto layer signs through this interface (login,
 * registration, identity bindings, prekeys, device lists, hybrid JWS), so a device may keep its secret as
 * raw bytes (the CLI's folder, sealed at rest) or as a non-extractable WebCrypto key (a browser, where the
 * page can use the key but no script can read it out).
 *
 * Both kinds produce the same RFC 8032 signatures (Ed25519 is deterministic), which
 * test/crypto/signing-key.test.ts checks byte for byte.
 */
import { concatBytes, hexEncode, type Bytes, utf8Encode } from './bytes.js';
import { ed25519PublicKeyFromSecret } from './ed25519-keygen.js';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SECRET_KEY_LENGTH, ed25519Sign, ed25519Verify } from './ed25519.js';

export interface Ed25519SigningKey {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Bytes;
  /** RFC 8032 Ed25519 signature of `message` (64 bytes). */
  sign(message: Uint8Array): Promise<Bytes>;
  /**
   * The key as a WebCrypto CryptoKey (algorithm Ed25519, usage sign, non-extractable), for jose's JWS in
   * the hybrid mode, which takes CryptoKeys only.
   */
  cryptoKey(): Promise<CryptoKey>;
}

/** PKCS#8 PrivateKeyInfo prefix for an Ed25519 key (RFC 8410 §7), followed by the 32-byte seed. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const ALG = { name: 'Ed25519' } as const;

/** Raw-seed signing key (RFC 8032 §5.1.5): signs with the native backend when installed, else @noble. */
class SeedSigningKey implements Ed25519SigningKey {
  readonly publicKey: Bytes;
  readonly #seed: Bytes;
  #cryptoKey: Promise<CryptoKey> | undefined;

  constructor(seed: Uint8Array) {
    if (!(seed instanceof Uint8Array) || seed.length !== ED25519_SECRET_KEY_LENGTH) throw new RangeError('"seed" expected Uint8Array of length 32');
    this.#seed = Uint8Array.from(seed);
    this.publicKey = ed25519PublicKeyFromSecret(this.#seed);
  }

  sign(message: Uint8Array): Promise<Bytes> {
    return Promise.resolve(ed25519Sign(message, this.#seed) as Bytes);
  }

  cryptoKey(): Promise<CryptoKey> {
    this.#cryptoKey ??= (async () => {
      const pkcs8 = concatBytes(PKCS8_PREFIX, this.#seed);
      try {
        return await globalThis.crypto.subtle.importKey('pkcs8', pkcs8, ALG, false, ['sign']);
      } finally {
        pkcs8.fill(0);
      }
    })();
    return this.#cryptoKey;
  }

  /** Logs and JSON show the public key only. */
  toJSON(): { type: 'Ed25519SigningKey'; publicKey: string } {
    return { type: 'Ed25519SigningKey', publicKey: hexEncode(this.publicKey) };
  }
}

/** A signing key from its 32-byte seed (the `d` of its JWK). The seed is copied. */
export function ed25519SigningKeyFromSeed(seed: Uint8Array): Ed25519SigningKey {
  return new SeedSigningKey(seed);
}

/** A signing key held by WebCrypto: the secret never reaches JavaScript when the key is non-extractable. */
class WebCryptoSigningKey implements Ed25519SigningKey {
  readonly publicKey: Bytes;
  readonly #key: CryptoKey;

  constructor(publicKey: Bytes, key: CryptoKey) {
    this.publicKey = publicKey;
    this.#key = key;
  }

  async sign(message: Uint8Array): Promise<Bytes> {
    return new Uint8Array(await globalThis.crypto.subtle.sign(ALG, this.#key, message as Uint8Array<ArrayBuffer>));
  }

  cryptoKey(): Promise<CryptoKey> {
    return Promise.resolve(this.#key);
  }

  toJSON(): { type: 'Ed25519SigningKey'; publicKey: string } {
    return { type: 'Ed25519SigningKey', publicKey: hexEncode(this.publicKey) };
  }
}

/** Signed once when a WebCrypto key is adopted, to prove it is the private half of `publicKey`. */
const PAIRING_PROBE = utf8Encode('e2ee-chat signing key pairing probe');

/**
 * Adopts a WebCrypto Ed25519 private key (non-extractable is the point) with its public key. A
 * non-extractable private key cannot give its public key back, so the caller supplies it, and this
 * signs a probe and verifies it under `publicKey`: a mismatched pair fails here, not at the server.
 */
export async function webCryptoSigningKey(privateKey: CryptoKey, publicKey: Uint8Array): Promise<Ed25519SigningKey> {
  if (privateKey.type !== 'private' || privateKey.algorithm.name !== 'Ed25519' || !privateKey.usages.includes('sign')) {
    throw new TypeError('expected an Ed25519 private CryptoKey with usage "sign"');
  }
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_PUBLIC_KEY_LENGTH) throw new RangeError('"publicKey" expected Uint8Array of length 32');
  const key = new WebCryptoSigningKey(Uint8Array.from(publicKey), privateKey);
  if (!ed25519Verify(await key.sign(PAIRING_PROBE), PAIRING_PROBE, key.publicKey)) throw new TypeError('the private CryptoKey is not the private half of "publicKey"');
  return key;
}

/**
 * A fresh Ed25519 key pair held by WebCrypto, the private half non-extractable. The public key is read
 * from the public CryptoKey (always extractable).
 */
export async function generateWebCryptoSigningKey(): Promise<Ed25519SigningKey> {
  const pair = (await globalThis.crypto.subtle.generateKey(ALG, false, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await globalThis.crypto.subtle.exportKey('raw', pair.publicKey));
  return new WebCryptoSigningKey(publicKey, pair.privateKey);
}
