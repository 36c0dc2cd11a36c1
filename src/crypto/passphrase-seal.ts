/**
 * Encryption of local secrets under a passphrase: scrypt (RFC 7914) derives a 256-bit key, AES-256-GCM
 * seals the data. The parameters travel with the sealed box so they can be raised later without
 * breaking old files.
 */
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { base64urlDecode, base64urlEncode, randomBytes, utf8Encode, type Bytes } from './bytes.js';

/** OWASP's scrypt recommendation (N=2^17, r=8, p=1): 128 MiB and roughly half a second per unlock. */
export const SCRYPT_DEFAULTS = { N: 2 ** 17, r: 8, p: 1 } as const;
/** Refuse to open files whose cost parameters would exhaust memory (a hostile file could ask for any N). */
const SCRYPT_MAX_N = 2 ** 20;

export interface SealedBox {
  readonly v: 1;
  readonly kdf: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: string;
  readonly cipher: 'A256GCM';
  readonly iv: string;
  readonly ct: string;
}

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Refuses cost parameters outside what we would ever write (a hostile or damaged record could ask for any). */
export function checkScryptParams({ N, r, p }: ScryptParams): void {
  if (!(N > 1 && N <= SCRYPT_MAX_N && (N & (N - 1)) === 0) || r < 1 || r > 32 || p < 1 || p > 16) {
    throw new RangeError('out-of-range scrypt parameters');
  }
}

/**
 * The passphrase's key: scrypt over the NFKC-normalised passphrase, imported as a non-extractable
 * AES-256-GCM key with `usages`. Exported so the browser vault wraps its data key under the same KDF
 * (client/browser/vault.ts) instead of a second one.
 */
export async function derivePassphraseKey(passphrase: string, salt: Uint8Array, params: ScryptParams, usages: KeyUsage[]): Promise<CryptoKey> {
  const raw = await scryptAsync(utf8Encode(passphrase.normalize('NFKC')), salt, { N: params.N, r: params.r, p: params.p, dkLen: 32, maxmem: 2 ** 31 });
  const key = await globalThis.crypto.subtle.importKey('raw', raw, 'AES-GCM', false, usages);
  raw.fill(0);
  return key;
}

const deriveKey = (passphrase: string, salt: Uint8Array, N: number, r: number, p: number): Promise<CryptoKey> =>
  derivePassphraseKey(passphrase, salt, { N, r, p }, ['encrypt', 'decrypt']);

/** `context` is bound as associated data so a box cannot be moved to another slot (another user's file). */
export async function sealWithPassphrase(
  plaintext: Bytes,
  passphrase: string,
  context: string,
  params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS,
): Promise<SealedBox> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(passphrase, salt, params.N, params.r, params.p);
  const ct = new Uint8Array(
    await globalThis.crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: utf8Encode(context) }, key, plaintext),
  );
  return { v: 1, kdf: 'scrypt', N: params.N, r: params.r, p: params.p, salt: base64urlEncode(salt), cipher: 'A256GCM', iv: base64urlEncode(iv), ct: base64urlEncode(ct) };
}

export class WrongPassphraseError extends Error {
  constructor() {
    super('wrong passphrase, or the file was altered');
    this.name = 'WrongPassphraseError';
  }
}

export async function openWithPassphrase(box: SealedBox, passphrase: string, context: string): Promise<Bytes> {
  if (box.v !== 1 || box.kdf !== 'scrypt' || box.cipher !== 'A256GCM') throw new TypeError('unsupported sealed box');
  try {
    checkScryptParams(box);
  } catch {
    throw new RangeError('sealed box has out-of-range scrypt parameters');
  }
  const key = await deriveKey(passphrase, base64urlDecode(box.salt), box.N, box.r, box.p);
  try {
    const pt = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: base64urlDecode(box.iv), additionalData: utf8Encode(context) },
      key,
      base64urlDecode(box.ct),
    );
    return new Uint8Array(pt);
  } catch {
    throw new WrongPassphraseError();
  }
}
