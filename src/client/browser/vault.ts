/**
 * The account's vault in the browser: a random AES-256-GCM data key that seals every record
 * (record-sealer.ts) and wraps the identity's private keys (browser-identity.ts), kept at rest only
 * wrapped under a key derived from the passphrase (scrypt, crypto/passphrase-seal.ts: the CLI's KDF; its
 * parameters and salt are stored beside the wrapped key so they can be raised later). Beside it an
 * HMAC-SHA-256 name key, wrapped under the data key, names records without showing who or what they are.
 *
 * Unlocking unwraps both with `extractable: false`: from then on the page holds CryptoKeys whose bytes no
 * script, ours or an injected one, can read back (WebCrypto §14.3.9); it can use them while the page is
 * open, not carry them away. A wrong passphrase fails the AES-GCM unwrap: WrongPassphraseError, and
 * nothing is written. Changing the passphrase rewraps the data key only; no record is touched.
 */
import { base64urlDecode, base64urlEncode, utf8Encode, type Bytes } from '../../crypto/bytes.js';
import { checkScryptParams, derivePassphraseKey, SCRYPT_DEFAULTS, WrongPassphraseError, type ScryptParams } from '../../crypto/passphrase-seal.js';
import { BrowserAccountError } from './browser-account-error.js';
import { requestResult, transact } from './idb.js';
import { STORES } from './account-database.js';
import { RecordSealer } from './record-sealer.js';

export const VAULT_KEY = 'vault';

interface Wrapped {
  readonly iv: string;
  readonly key: string;
}

export interface VaultRecord {
  readonly v: 1;
  readonly kdf: { readonly name: 'scrypt'; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  /** The data key (raw), AES-GCM-wrapped under the passphrase key. */
  readonly dataKey: Wrapped;
  /** The name key (raw), AES-GCM-wrapped under the data key. */
  readonly nameKey: Wrapped;
  readonly createdAt: number;
}

const DATA_KEY_ALGORITHM = { name: 'AES-GCM', length: 256 } as const;
const NAME_KEY_ALGORITHM = { name: 'HMAC', hash: 'SHA-256', length: 256 } as const;
const DATA_KEY_USAGES: KeyUsage[] = ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'];

/** Associated data of each wrap: a wrapped key does not open as another account's or in another role. */
const wrapContext = (username: string, what: string): Bytes => utf8Encode(`e2ee-chat/v1/browser-vault/${username}/${what}`);

const subtle = () => globalThis.crypto.subtle;

async function wrap(format: 'raw' | 'pkcs8', key: CryptoKey, wrappingKey: CryptoKey, context: Bytes): Promise<Wrapped> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const wrapped = await subtle().wrapKey(format, key, wrappingKey, { name: 'AES-GCM', iv, additionalData: context });
  return { iv: base64urlEncode(iv), key: base64urlEncode(new Uint8Array(wrapped)) };
}

function unwrap(
  format: 'raw' | 'pkcs8',
  wrapped: Wrapped,
  wrappingKey: CryptoKey,
  context: Bytes,
  algorithm: AlgorithmIdentifier | RsaHashedImportParams | HmacImportParams | AesKeyAlgorithm,
  extractable: boolean,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  return subtle().unwrapKey(format, base64urlDecode(wrapped.key), wrappingKey, { name: 'AES-GCM', iv: base64urlDecode(wrapped.iv), additionalData: context }, algorithm, extractable, usages);
}

const readVault = (db: IDBDatabase): Promise<VaultRecord | undefined> =>
  transact(db, STORES.meta, 'readonly', (tx) => requestResult<VaultRecord | undefined>(tx.objectStore(STORES.meta).get(VAULT_KEY)));

/** The passphrase key of `record`, for wrapping and unwrapping the data key only. */
function passphraseKey(record: Pick<VaultRecord, 'kdf'>, passphrase: string): Promise<CryptoKey> {
  checkScryptParams(record.kdf);
  return derivePassphraseKey(passphrase, base64urlDecode(record.kdf.salt), record.kdf, ['wrapKey', 'unwrapKey']);
}

/**
 * The data key under `passphrase` as an EXTRACTABLE key, for rewrapping it (changePassphrase) and nothing
 * else; WrongPassphraseError when it does not unwrap (a wrong passphrase and an altered record look alike).
 */
async function unwrapDataKeyForRewrap(record: VaultRecord, username: string, passphrase: string): Promise<CryptoKey> {
  const kek = await passphraseKey(record, passphrase);
  try {
    return await unwrap('raw', record.dataKey, kek, wrapContext(username, 'data-key'), DATA_KEY_ALGORITHM, true, DATA_KEY_USAGES);
  } catch {
    throw new WrongPassphraseError();
  }
}

async function kdfFor(passphrase: string, params: ScryptParams): Promise<{ kdf: VaultRecord['kdf']; kek: CryptoKey }> {
  const kdf = { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: base64urlEncode(crypto.getRandomValues(new Uint8Array(16))) } as const;
  return { kdf, kek: await passphraseKey({ kdf }, passphrase) };
}

export class Vault {
  private constructor(
    readonly username: string,
    private readonly dataKey: CryptoKey,
    readonly sealer: RecordSealer,
  ) {}

  /**
   * Makes the account's vault: fresh data and name keys, wrapped, stored; returns it unlocked. The keys
   * are generated extractable only because wrapKey needs that; the vault returned holds their
   * non-extractable unwrapped copies, and the extractable ones are dropped here.
   */
  static async create(db: IDBDatabase, username: string, passphrase: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<Vault> {
    if (passphrase.length === 0) throw new RangeError('"passphrase" expected a non-empty string');
    const { kdf, kek } = await kdfFor(passphrase, params);
    const dataKey = await subtle().generateKey(DATA_KEY_ALGORITHM, true, DATA_KEY_USAGES);
    const nameKey = await subtle().generateKey(NAME_KEY_ALGORITHM, true, ['sign']);
    const record: VaultRecord = {
      v: 1,
      kdf,
      dataKey: await wrap('raw', dataKey, kek, wrapContext(username, 'data-key')),
      nameKey: await wrap('raw', nameKey, dataKey, wrapContext(username, 'name-key')),
      createdAt: Date.now(),
    };
    try {
      // add, not put: of two tabs creating at once, one vault wins and the other learns it.
      await transact(db, STORES.meta, 'readwrite', (tx) => requestResult(tx.objectStore(STORES.meta).add(record, VAULT_KEY)));
    } catch (cause) {
      if ((cause as DOMException | undefined)?.name === 'ConstraintError') throw new BrowserAccountError('account_exists', `${username} already has an account in this browser`, { cause });
      throw cause;
    }
    // Unwrapped from the record just stored, with the passphrase key already derived (scrypt once, not twice).
    return Vault.unlocked(record, username, kek);
  }

  private static async unlocked(record: VaultRecord, username: string, kek: CryptoKey): Promise<Vault> {
    let dataKey: CryptoKey;
    try {
      dataKey = await unwrap('raw', record.dataKey, kek, wrapContext(username, 'data-key'), DATA_KEY_ALGORITHM, false, DATA_KEY_USAGES);
    } catch {
      throw new WrongPassphraseError();
    }
    const nameKey = await unwrap('raw', record.nameKey, dataKey, wrapContext(username, 'name-key'), NAME_KEY_ALGORITHM, false, ['sign']);
    return new Vault(username, dataKey, new RecordSealer(dataKey, nameKey));
  }

  /** The vault unlocked; WrongPassphraseError when `passphrase` does not unwrap it, BrowserAccountError 'no_account' when there is none. */
  static async unlock(db: IDBDatabase, username: string, passphrase: string): Promise<Vault> {
    const record = await readVault(db);
    if (!record) throw new BrowserAccountError('no_account', `no account ${username} in this browser`);
    if (record.v !== 1) throw new BrowserAccountError('unsupported', `the vault of ${username} has version ${String(record.v)}; this app reads version 1`);
    return Vault.unlocked(record, username, await passphraseKey(record, passphrase));
  }

  /**
   * Wraps the data key under `next` instead of `current` (WrongPassphraseError if `current` is wrong:
   * nothing changes). The data key is unwrapped extractable here, and only here, because wrapKey needs
   * that; the copy is dropped when this returns. Compare-and-swap on the record: a change racing another
   * (a second tab) fails rather than leave a vault neither passphrase opens.
   */
  static async changePassphrase(db: IDBDatabase, username: string, current: string, next: string, params: ScryptParams = SCRYPT_DEFAULTS): Promise<void> {
    if (next.length === 0) throw new RangeError('"next" expected a non-empty string');
    const record = await readVault(db);
    if (!record) throw new BrowserAccountError('no_account', `no account ${username} in this browser`);
    const dataKey = await unwrapDataKeyForRewrap(record, username, current);
    const { kdf, kek } = await kdfFor(next, params);
    const rewrapped: VaultRecord = { ...record, kdf, dataKey: await wrap('raw', dataKey, kek, wrapContext(username, 'data-key')) };
    await transact(db, STORES.meta, 'readwrite', async (tx) => {
      const meta = tx.objectStore(STORES.meta);
      const now = await requestResult<VaultRecord | undefined>(meta.get(VAULT_KEY));
      if (now?.dataKey.key !== record.dataKey.key) throw new BrowserAccountError('conflict', 'the passphrase was changed meanwhile (another tab); try again');
      await requestResult(meta.put(rewrapped, VAULT_KEY));
    });
  }

  /** Wraps a private key (PKCS#8) under the data key, bound to `purpose` (e.g. 'identity/signing'). */
  wrapPrivateKey(key: CryptoKey, purpose: string): Promise<Wrapped> {
    return wrap('pkcs8', key, this.dataKey, wrapContext(this.username, purpose));
  }

  /** Unwraps a private key wrapped by wrapPrivateKey, non-extractable: usable for `usages`, never readable. */
  unwrapPrivateKey(wrapped: Wrapped, purpose: string, algorithm: AlgorithmIdentifier | RsaHashedImportParams, usages: KeyUsage[]): Promise<CryptoKey> {
    return unwrap('pkcs8', wrapped, this.dataKey, wrapContext(this.username, purpose), algorithm, false, usages);
  }

  toJSON() {
    return { type: 'Vault', username: this.username };
  }
}

export type { Wrapped as WrappedKey };
