/**
 * X25519 Diffie-Hellman (RFC 7748 §5, §6.1) for PQXDH and the Double Ratchet.
 *
 * Backends, in order of preference: a native implementation when the runtime entry point installed one
 * (native.ts; node:crypto on Node), WebCrypto's "X25519" algorithm when the runtime has it (Node
 * >= 20, current browsers), else @noble/curves. Measured on this project's machine: a derivation costs
 * ~35 µs native, ~80 µs WebCrypto, ~1400 µs pure JS; a fresh key pair ~50 µs, ~130 µs, ~530 µs. The
 * ratchet does two derivations and one key generation per DH ratchet step. All backends pass the same
 * Wycheproof vectors (test/crypto/x25519.test.ts).
 *
 * Low-order points: RFC 7748 §6.1 allows checking for an all-zero shared secret. We always reject it:
 * both backends refuse low-order inputs themselves, and agree() checks the output once more in
 * constant time, so no protocol key is ever derived from an all-zero DH output.
 *
 * Live key pairs keep the secret in a private field; toJSON and Node's inspect show the public key only.
 */
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { base64urlDecode, base64urlEncode, constantTimeEqual, hexEncode, type Bytes } from './bytes.js';
import { nativeCrypto, type NativeCrypto, type NativePrivateKey, type NativePublicKey } from './native.js';
import { defaultRandom, type RandomSource } from './random.js';

export const X25519_KEY_LENGTH = 32;
export type X25519Backend = 'native' | 'webcrypto' | 'noble';

export class InvalidX25519KeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InvalidX25519KeyError';
  }
}

const subtle = globalThis.crypto?.subtle;
const ALG = { name: 'X25519' } as const;
/** RFC 7748 §4.1 base point u = 9, used only to probe the runtime. */
const BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));
/** PKCS#8 PrivateKeyInfo prefix for an X25519 key (RFC 8410 §7), followed by the 32 secret bytes. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

let forced: X25519Backend | undefined;
let probed: Promise<X25519Backend> | undefined;

/** The backend in use: forced by useX25519Backend, else native if installed, else WebCrypto if a probe import succeeds. */
export function x25519Backend(): Promise<X25519Backend> {
  if (forced) return Promise.resolve(forced);
  if (nativeCrypto()) return Promise.resolve('native');
  probed ??= (async (): Promise<X25519Backend> => {
    try {
      await subtle.importKey('raw', BASE_POINT, ALG, false, []);
      return 'webcrypto';
    } catch {
      return 'noble';
    }
  })();
  return probed;
}

/** For tests and benchmarks: pin a backend, or `undefined` to return to automatic choice. */
export function useX25519Backend(backend: X25519Backend | undefined): void {
  if (backend === 'native' && !nativeCrypto()) throw new Error('no native X25519 implementation is installed');
  forced = backend;
}

function native(): NativeCrypto {
  const curves = nativeCrypto();
  if (!curves) throw new Error('the native X25519 implementation was removed while in use');
  return curves;
}

function checkKey(value: Uint8Array, name: string): void {
  if (!(value instanceof Uint8Array) || value.length !== X25519_KEY_LENGTH) throw new RangeError(`"${name}" expected Uint8Array of length 32`);
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]!;
  return acc === 0;
}

/** A peer public key with its imported handles cached, for several derivations against it. */
export class X25519PublicKey {
  readonly bytes: Bytes;
  #handle: Promise<CryptoKey> | undefined;
  #native: NativePublicKey | undefined;
  constructor(bytes: Uint8Array) {
    checkKey(bytes, 'publicKey');
    this.bytes = Uint8Array.from(bytes);
  }
  /** @internal */
  handle(): Promise<CryptoKey> {
    this.#handle ??= subtle.importKey('raw', this.bytes, ALG, false, []);
    return this.#handle;
  }
  /** @internal */
  nativeHandle(): NativePublicKey {
    this.#native ??= native().x25519ImportPublic(this.bytes);
    return this.#native;
  }
}

async function deriveWebCrypto(privateKey: CryptoKey, peer: X25519PublicKey): Promise<Bytes> {
  return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: await peer.handle() }, privateKey, 256));
}

export class X25519KeyPair {
  readonly publicKey: Bytes;
  /** Absent for a pair held by WebCrypto (fromCryptoKey), whose secret JavaScript never sees. */
  readonly #secretKey: Bytes | undefined;
  /** The WebCrypto handle, imported on first use. */
  #handle: Promise<CryptoKey> | undefined;
  /** The native handle, imported on first use. */
  #native: NativePrivateKey | undefined;

  private constructor(publicKey: Bytes, secretKey: Bytes | undefined, handle: { webcrypto?: CryptoKey; native?: NativePrivateKey } = {}) {
    this.publicKey = publicKey;
    this.#secretKey = secretKey;
    if (handle.webcrypto) this.#handle = Promise.resolve(handle.webcrypto);
    this.#native = handle.native;
  }

  /**
   * A fresh key pair: a 32-byte secret (RFC 7748 §6.1: a random scalar, clamped by the X25519 function)
   * from the injected `random`, else from the platform CSPRNG.
   */
  static async generate(random?: RandomSource): Promise<X25519KeyPair> {
    const backend = await x25519Backend();
    if (random === undefined && backend === 'native') {
      const pair = native().x25519Generate();
      return new X25519KeyPair(pair.publicKey, pair.secretKey, { native: pair.handle });
    }
    // WebCrypto gets an imported random secret, not generateKey: on Node 20 exporting a key whose
    // generation job the garbage collector is finalising can deadlock (see node/node-crypto.ts).
    const secret = (random ?? defaultRandom)(X25519_KEY_LENGTH);
    try {
      return await X25519KeyPair.fromSecretKey(secret);
    } finally {
      secret.fill(0);
    }
  }

  /** Recomputes the public key X25519(secret, 9) (RFC 7748 §6.1). */
  static async fromSecretKey(secretKey: Uint8Array): Promise<X25519KeyPair> {
    checkKey(secretKey, 'secretKey');
    const secret = Uint8Array.from(secretKey);
    const backend = await x25519Backend();
    if (backend === 'native') {
      const imported = native().x25519Import(secret);
      return new X25519KeyPair(imported.publicKey, secret, { native: imported.handle });
    }
    if (backend === 'webcrypto') {
      const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + X25519_KEY_LENGTH);
      pkcs8.set(PKCS8_PREFIX);
      pkcs8.set(secret, PKCS8_PREFIX.length);
      const handle = await subtle.importKey('pkcs8', pkcs8, ALG, true, ['deriveBits']);
      pkcs8.fill(0);
      const jwk = await subtle.exportKey('jwk', handle);
      return new X25519KeyPair(base64urlDecode(jwk.x!), secret, { webcrypto: handle });
    }
    return new X25519KeyPair(nobleX25519.getPublicKey(secret) as Bytes, secret);
  }

  /**
   * Restores a pair saved earlier without recomputing the public key. The WebCrypto and native backends
   * check the pair when they first import it (a mismatch then fails agree()); the noble backend trusts it.
   */
  static restore(secretKey: Uint8Array, publicKey: Uint8Array): X25519KeyPair {
    checkKey(secretKey, 'secretKey');
    checkKey(publicKey, 'publicKey');
    return new X25519KeyPair(Uint8Array.from(publicKey), Uint8Array.from(secretKey));
  }

  /**
   * A pair whose secret WebCrypto holds (a non-extractable key, as a browser keeps its identity key): it
   * agrees through WebCrypto whatever backend the others use, and cannot be exported. A non-extractable
   * private key cannot give its public key back, so the caller supplies it; a mismatched pair is caught
   * here by one derivation against the base point compared with `publicKey`.
   */
  static async fromCryptoKey(privateKey: CryptoKey, publicKey: Uint8Array): Promise<X25519KeyPair> {
    if (privateKey.type !== 'private' || privateKey.algorithm.name !== 'X25519' || !privateKey.usages.includes('deriveBits')) {
      throw new TypeError('expected an X25519 private CryptoKey with usage "deriveBits"');
    }
    checkKey(publicKey, 'publicKey');
    const pair = new X25519KeyPair(Uint8Array.from(publicKey), undefined, { webcrypto: privateKey });
    // X25519(k, 9) is the public key (RFC 7748 §6.1): the one derivation that proves the pairing.
    const derived = await deriveWebCrypto(privateKey, new X25519PublicKey(BASE_POINT));
    if (!constantTimeEqual(derived, pair.publicKey)) throw new InvalidX25519KeyError('the private CryptoKey is not the private half of "publicKey"');
    return pair;
  }

  /** Whether the secret can be exported (false for a pair held by WebCrypto). */
  get extractable(): boolean {
    return this.#secretKey !== undefined;
  }

  /** Overwrites the secret and drops the cached handle; the pair is unusable afterwards (best effort in JS). */
  destroy(): void {
    this.#secretKey?.fill(0);
    this.#handle = Promise.reject(new InvalidX25519KeyError('key pair was destroyed'));
    this.#handle.catch(() => undefined);
    this.#native = undefined;
  }

  /** A copy of the 32 secret bytes, for persistence only. */
  exportSecretKey(): Bytes {
    if (!this.#secretKey) throw new InvalidX25519KeyError('this key pair is held by WebCrypto and cannot be exported');
    return Uint8Array.from(this.#secretKey);
  }

  /** DH(this, peer): the 32-byte X25519 output; throws InvalidX25519KeyError for low-order peers. */
  async agree(peer: Uint8Array | X25519PublicKey): Promise<Bytes> {
    const peerKey = peer instanceof X25519PublicKey ? peer : new X25519PublicKey(peer);
    let shared: Bytes;
    try {
      const secret = this.#secretKey;
      const backend = await x25519Backend();
      if (!secret) {
        shared = await deriveWebCrypto(await this.#handle!, peerKey);
      } else if (isAllZero(secret)) {
        throw new InvalidX25519KeyError('key pair was destroyed');
      } else if (backend === 'native') {
        shared = native().x25519Derive(this.#nativeHandle(), peerKey.nativeHandle());
      } else if (backend === 'webcrypto') {
        this.#handle ??= subtle.importKey(
          'jwk',
          { kty: 'OKP', crv: 'X25519', d: base64urlEncode(secret), x: base64urlEncode(this.publicKey) },
          ALG,
          false,
          ['deriveBits'],
        );
        shared = await deriveWebCrypto(await this.#handle, peerKey);
      } else {
        shared = nobleX25519.getSharedSecret(secret, peerKey.bytes) as Bytes;
      }
    } catch (cause) {
      throw new InvalidX25519KeyError('X25519 failed: low-order or invalid public key', { cause });
    }
    if (isAllZero(shared)) throw new InvalidX25519KeyError('X25519 produced the all-zero shared secret (low-order public key)');
    return shared;
  }

  #nativeHandle(): NativePrivateKey {
    if (!this.#native) {
      const imported = native().x25519Import(this.#secretKey!);
      if (!constantTimeEqual(imported.publicKey, this.publicKey)) throw new InvalidX25519KeyError('restored key pair: public key does not match the secret');
      this.#native = imported.handle;
    }
    return this.#native;
  }

  toJSON(): { type: 'X25519KeyPair'; publicKey: string } {
    return { type: 'X25519KeyPair', publicKey: hexEncode(this.publicKey) };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `X25519KeyPair { publicKey: ${hexEncode(this.publicKey)} }`;
  }
}

/** X25519(k, u) as one call, for vector tests: the same checks as X25519KeyPair.agree. */
export async function x25519SharedSecret(secretKey: Uint8Array, publicKey: Uint8Array): Promise<Bytes> {
  return (await X25519KeyPair.fromSecretKey(secretKey)).agree(publicKey);
}
