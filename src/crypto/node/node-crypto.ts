/**
 * The Node.js implementation of NativeCrypto (../native.ts): node:crypto's synchronous OpenSSL calls.
 * Keys move in and out as JWK because node:crypto imports a JWK an order of magnitude faster than the
 * equivalent PKCS#8 DER (measured here: ~30 µs against ~540 µs).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPair,
  randomFillSync,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { Bytes } from '../bytes.js';
import { installMlKem1024, type MlKem1024Implementation } from '../mlkem.js';
import { installNativeCrypto, type NativeCrypto, type NativePrivateKey, type NativePublicKey } from '../native.js';

const KEY_LENGTH = 32;
const SIGNATURE_LENGTH = 64;
/**
 * node:crypto requires the JWK member "x" on a private key but derives the public key from "d" itself
 * (test/crypto/x25519.test.ts and ed25519.test.ts compare with @noble/curves); this placeholder only
 * satisfies that requirement.
 */
const PLACEHOLDER_X = Buffer.alloc(KEY_LENGTH).toString('base64url');

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function unb64(text: string): Bytes {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/** A plain Uint8Array copy: callers wipe and compare results and must not see Buffer's pooled memory. */
function toBytes(buffer: Buffer | ArrayBuffer): Bytes {
  if (!Buffer.isBuffer(buffer)) return new Uint8Array(buffer); // an ArrayBuffer of its own (hkdfSync)
  const copy = new Uint8Array(buffer.byteLength);
  copy.set(buffer);
  return copy;
}

function randomBytesSync(length: number): Bytes {
  return randomFillSync(new Uint8Array(length));
}

function keyObject(handle: NativePrivateKey): KeyObject {
  return handle as unknown as KeyObject;
}

function asHandle(key: KeyObject): NativePrivateKey {
  return key as unknown as NativePrivateKey;
}

function check(value: Uint8Array, length: number, name: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw new RangeError(`"${name}" expected Uint8Array of length ${length}`);
}

function importX25519(secretKey: Uint8Array): { publicKey: Bytes; handle: NativePrivateKey } {
  check(secretKey, KEY_LENGTH, 'secretKey');
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64(secretKey), x: PLACEHOLDER_X }, format: 'jwk' });
  return { publicKey: unb64(key.export({ format: 'jwk' }).x!), handle: asHandle(key) };
}

export const nodeCrypto: NativeCrypto = {
  name: 'node:crypto',
  hkdfMaxInfoLength: 1024,

  x25519Generate() {
    // Not generateKeyPairSync: on Node 20 a garbage collection that finalises its key-generation job
    // while that job's key is being exported deadlocks the process (seen here: a futex wait forever in
    // ~KeyGenJob under ExportJWKEdKey). 32 random bytes are a valid X25519 secret (RFC 7748 §5 clamps).
    const secretKey = randomBytesSync(KEY_LENGTH);
    return { ...importX25519(secretKey), secretKey };
  },

  x25519Import: importX25519,

  x25519ImportPublic(publicKey) {
    check(publicKey, KEY_LENGTH, 'publicKey');
    return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64(publicKey) }, format: 'jwk' }) as unknown as NativePublicKey;
  },

  x25519Derive(handle, peer) {
    // OpenSSL fails the derivation itself when the output is all zero (a low-order peer).
    return toBytes(diffieHellman({ privateKey: keyObject(handle), publicKey: peer as unknown as KeyObject }));
  },

  ed25519Sign(message, secretKey) {
    check(secretKey, KEY_LENGTH, 'secretKey');
    const key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64(secretKey), x: PLACEHOLDER_X }, format: 'jwk' });
    return toBytes(sign(null, message, key));
  },

  ed25519Verify(signature, message, publicKey) {
    if (signature.length !== SIGNATURE_LENGTH || publicKey.length !== KEY_LENGTH) return false;
    try {
      const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64(publicKey) }, format: 'jwk' });
      return verify(null, message, key, signature);
    } catch {
      return false;
    }
  },

  rsaGenerateJwk(modulusBits) {
    // Exported inside the generation job's callback, while the job is still referenced and cannot be
    // finalised: the Node 20 deadlock described at x25519Generate (an export racing the job's
    // finalisation) cannot happen here.
    return new Promise((resolve, reject) => {
      generateKeyPair('rsa', { modulusLength: modulusBits, publicExponent: 0x10001 }, (err, _publicKey, privateKey) => {
        if (err) return reject(err);
        const k = privateKey.export({ format: 'jwk' });
        resolve({ kty: 'RSA', n: k.n!, e: k.e!, d: k.d!, p: k.p!, q: k.q!, dp: k.dp!, dq: k.dq!, qi: k.qi! });
      });
    });
  },

  aes256CbcEncrypt(key, iv, plaintext) {
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    return toBytes(Buffer.concat([cipher.update(plaintext), cipher.final()]));
  },

  aes256CbcDecrypt(key, iv, ciphertext) {
    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    return toBytes(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  },

  hmacSha256(key, parts) {
    const mac = createHmac('sha256', key);
    for (const part of parts) mac.update(part);
    return toBytes(mac.digest());
  },

  hkdfSha256(ikm, salt, info, length) {
    return toBytes(hkdfSync('sha256', ikm, salt, info, length));
  },

  // Outputs are views of node's Buffers, not copies: these carry up to gigabytes of attachment data,
  // and their callers neither keep nor wipe them (incremental.ts).
  incremental: {
    aes256CbcEncryptor(key, iv) {
      const cipher = createCipheriv('aes-256-cbc', key, iv);
      return { update: (data) => view(cipher.update(data)), final: () => view(cipher.final()) };
    },
    aes256CbcDecryptor(key, iv) {
      const decipher = createDecipheriv('aes-256-cbc', key, iv);
      return { update: (data) => view(decipher.update(data)), final: () => view(decipher.final()) };
    },
    hmacSha256(key) {
      const mac = createHmac('sha256', key);
      return { update: (data) => void mac.update(data), digest: () => toBytes(mac.digest()) };
    },
    sha256() {
      const hash = createHash('sha256');
      return { update: (data) => void hash.update(data), digest: () => toBytes(hash.digest()) };
    },
  },
};

function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

let liboqs: Promise<MlKem1024Implementation | undefined> | undefined;

/**
 * Makes this process use node:crypto for the primitives of NativeCrypto, at once, and liboqs
 * (WebAssembly, ../mlkem-liboqs.ts) for ML-KEM-1024 as soon as its module is instantiated (idempotent).
 *
 * Why a synchronous install with an ML-KEM upgrade later, rather than an async install everyone awaits:
 * WebAssembly instantiation is asynchronous, and making it a precondition would turn every entry point's
 * import into an await (top-level await in the library's Node entry, or an async constructor), for an
 * operation whose result does not depend on it: both ML-KEM implementations compute the same FIPS 203
 * functions on the same key formats (test/crypto/mlkem-cross.test.ts), so until the module is ready
 * @noble's pure JS does the same work, only slower. The returned promise resolves once liboqs is in use;
 * no entry point awaits it (the CLI's module instantiates while it connects), and the server, which runs
 * no ML-KEM, does not load it at all (`{ mlkem: false }`). It never rejects: if the module cannot be
 * loaded or fails its self-test (a liboqs build that computes something else), @noble stays in place;
 * test/crypto/mlkem-cross.test.ts pins that on this repository's install it is liboqs.
 */
export function installNodeCrypto(options: { readonly mlkem?: boolean } = {}): Promise<void> {
  installNativeCrypto(nodeCrypto);
  if (options.mlkem === false) return Promise.resolve();
  // Imported here, not at the top: a process that does not want it loads nothing, and a missing or
  // unloadable package leaves @noble in place instead of failing this module's import.
  liboqs ??= import('../mlkem-liboqs.js').then((m) => m.loadLibOqsMlKem1024()).catch(() => undefined);
  return liboqs.then((kem) => {
    if (kem) installMlKem1024(kem);
  });
}
