/**
 * This browser's device identity at rest: who it is (account, device id, role, public keys) and its
 * private keys, each WRAPPED under the vault's data key (AES-GCM key wrap of its PKCS#8 form, bound to
 * the account and the key's purpose). They are imported extractable once, at creation, only so that
 * wrapKey can take them; after that they exist here only wrapped, and unlocking unwraps them with
 * `extractable: false`: the page can sign and decrypt with them, never read them (WebCrypto §14.3.9).
 *
 *   signing     Ed25519, usage sign: login signatures, the JWS inside hybrid envelopes, device lists
 *   decryption  RSA-OAEP with SHA-256, usages decrypt/unwrapKey: the JWE key of hybrid envelopes
 *
 * Unlocked, they are the client's DeviceSecrets (device-secrets.ts webCryptoDeviceSecrets, which checks
 * each pairing once). The PQXDH identity key is the ratchet store's, wrapped the same way
 * (idb-ratchet-store.ts). The record itself is sealed like every other (record-sealer.ts), under the
 * meta store's key 'identity'.
 */
import type { Ed25519PrivateJwk, Ed25519PublicJwk, RsaPrivateJwk, RsaPublicJwk, UserKeyPairs } from '../../crypto/keys.js';
import { base64urlDecode, base64urlEncode } from '../../crypto/bytes.js';
import { ed25519PublicOf, RSA_MODULUS_BITS, rsaPublicOf } from '../../crypto/keys.js';
import { PRIMARY_DEVICE } from '../address.js';
import type { ClientIdentity } from '../chat-client-types.js';
import { webCryptoDeviceSecrets, type DeviceSecrets, type WebCryptoDeviceKeys } from '../device-secrets.js';
import { BrowserAccountError } from './browser-account-error.js';
import { STORES } from './account-database.js';
import { requestResult, transact } from './idb.js';
import type { SealedRow } from './record-rows.js';
import type { Vault, WrappedKey } from './vault.js';

const IDENTITY = 'identity';

export interface PublicKeys {
  readonly signingKey: Ed25519PublicJwk;
  readonly encryptionKey: RsaPublicJwk;
}

interface IdentityRecordV1 {
  readonly v: 1;
  readonly username: string;
  readonly device: number;
  readonly role: 'primary' | 'linked';
  readonly createdAt: number;
  /** The account's public keys (the primary's are its own). */
  readonly account: PublicKeys;
  readonly public: PublicKeys;
  readonly wrapped: { readonly signing: WrappedKey; readonly decryption: WrappedKey };
}

/** The unlocked identity: public facts, and the private keys as DeviceSecrets over non-extractable CryptoKeys. */
export interface BrowserIdentity {
  readonly username: string;
  readonly device: number;
  readonly role: 'primary' | 'linked';
  readonly createdAt: number;
  readonly account: PublicKeys;
  readonly public: PublicKeys;
  readonly secrets: DeviceSecrets;
}

/** What ChatClient.connect takes as `identity`: this device's secrets, and the account's keys on a linked device. */
export function clientIdentityOf(identity: BrowserIdentity): ClientIdentity {
  return {
    username: identity.username,
    device: identity.device,
    keys: identity.secrets,
    ...(identity.role === 'linked' && { account: identity.account }),
  };
}

const ED25519 = { name: 'Ed25519' } as const;
const RSA_OAEP_256 = { name: 'RSA-OAEP', hash: 'SHA-256' } as const;

/**
 * What the account gets at creation or when this browser is linked: its keys as generated, and who it is.
 * The keys are a JWK pair (generateUserKeyPairs) or WebCrypto keys whose private halves are EXTRACTABLE
 * (generateWrappableDeviceKeys): wrapKey takes nothing else. They are wrapped here and should be dropped
 * by the caller afterwards; from then on only the non-extractable unwrapped copies exist.
 */
export interface NewBrowserIdentity {
  readonly username: string;
  /** Default 1, the primary. */
  readonly device?: number;
  readonly keys: UserKeyPairs | WebCryptoDeviceKeys;
  /** The account's public keys, for a linked device; absent for the primary (its keys are the account's). */
  readonly account?: PublicKeys;
  readonly createdAt?: number;
}

async function importExtractable(jwk: Ed25519PrivateJwk | RsaPrivateJwk): Promise<CryptoKey> {
  // Extractable only so that wrapKey accepts it; this CryptoKey is dropped when the wrap is done.
  return jwk.kty === 'OKP'
    ? crypto.subtle.importKey('jwk', { ...jwk, key_ops: ['sign'] }, ED25519, true, ['sign'])
    : crypto.subtle.importKey('jwk', { ...jwk, alg: 'RSA-OAEP-256', key_ops: ['decrypt', 'unwrapKey'] }, RSA_OAEP_256, true, ['decrypt', 'unwrapKey']);
}

const isJwkPair = (keys: UserKeyPairs | WebCryptoDeviceKeys): keys is UserKeyPairs => 'd' in keys.signing;

/** The private keys to wrap, and the public keys they go with. */
async function keysToWrap(keys: UserKeyPairs | WebCryptoDeviceKeys): Promise<{ signing: CryptoKey; decryption: CryptoKey; own: PublicKeys }> {
  if (isJwkPair(keys)) {
    const own = { signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption) };
    return { signing: await importExtractable(keys.signing), decryption: await importExtractable(keys.encryption), own };
  }
  if (!keys.signing.privateKey.extractable || !keys.encryption.privateKey.extractable) {
    throw new TypeError('the private CryptoKeys must be extractable to be wrapped (generateWrappableDeviceKeys); they come back non-extractable at unlock');
  }
  const own: PublicKeys = { signingKey: { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(keys.signing.publicKey) }, encryptionKey: rsaPublicOf(keys.encryption.publicJwk) };
  return { signing: keys.signing.privateKey, decryption: keys.encryption.privateKey, own };
}

/**
 * Fresh device keys for storeIdentity, made by WebCrypto. Their private halves are extractable ONLY so
 * that storeIdentity can wrap them (wrapKey refuses anything else); keep them in memory until then (a link
 * in progress signs with them) and drop them after: the account's copies are non-extractable.
 */
export async function generateWrappableDeviceKeys(): Promise<WebCryptoDeviceKeys> {
  const signing = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  const encryption = (await crypto.subtle.generateKey({ ...RSA_OAEP_256, modulusLength: RSA_MODULUS_BITS, publicExponent: new Uint8Array([1, 0, 1]) }, true, ['encrypt', 'decrypt'])) as CryptoKeyPair;
  const publicJwk = await crypto.subtle.exportKey('jwk', encryption.publicKey);
  return {
    signing: { privateKey: signing.privateKey, publicKey: new Uint8Array(await crypto.subtle.exportKey('raw', signing.publicKey)) },
    encryption: { privateKey: encryption.privateKey, publicJwk: { kty: 'RSA', n: publicJwk.n!, e: publicJwk.e! } },
  };
}

/**
 * Stores this browser's identity, its private keys wrapped under the vault's data key. Refuses an
 * account that has one already (BrowserAccountError 'account_exists'): keys are never replaced silently.
 */
export async function storeIdentity(db: IDBDatabase, vault: Vault, identity: NewBrowserIdentity): Promise<BrowserIdentity> {
  const device = identity.device ?? PRIMARY_DEVICE;
  const { signing, decryption, own } = await keysToWrap(identity.keys);
  const record: IdentityRecordV1 = {
    v: 1,
    username: identity.username,
    device,
    role: device === PRIMARY_DEVICE ? 'primary' : 'linked',
    createdAt: identity.createdAt ?? Date.now(),
    account: identity.account ?? own,
    public: own,
    wrapped: {
      signing: await vault.wrapPrivateKey(signing, 'identity/signing'),
      decryption: await vault.wrapPrivateKey(decryption, 'identity/decryption'),
    },
  };
  if (identity.username !== vault.username) throw new RangeError(`the identity of ${identity.username} cannot go into the vault of ${vault.username}`);
  const row: SealedRow = { name: IDENTITY, rev: 1, data: await vault.sealer.seal(STORES.meta, IDENTITY, record) };
  try {
    await transact(db, STORES.meta, 'readwrite', (tx) => requestResult(tx.objectStore(STORES.meta).add(row, IDENTITY)));
  } catch (cause) {
    if ((cause as DOMException | undefined)?.name === 'ConstraintError') throw new BrowserAccountError('account_exists', `${identity.username} already has keys in this browser`, { cause });
    throw cause;
  }
  return unwrapIdentity(vault, record);
}

async function unwrapIdentity(vault: Vault, record: IdentityRecordV1): Promise<BrowserIdentity> {
  const { wrapped: _wrapped, v: _v, ...facts } = record;
  const secrets = await webCryptoDeviceSecrets({
    signing: { privateKey: await vault.unwrapPrivateKey(record.wrapped.signing, 'identity/signing', ED25519, ['sign']), publicKey: base64urlDecode(record.public.signingKey.x) },
    encryption: { privateKey: await vault.unwrapPrivateKey(record.wrapped.decryption, 'identity/decryption', RSA_OAEP_256, ['decrypt', 'unwrapKey']), publicJwk: record.public.encryptionKey },
  });
  return { ...facts, secrets };
}

/** This browser's identity, unlocked; undefined before one was stored (an account created, a link not finished). */
export async function loadIdentity(db: IDBDatabase, vault: Vault): Promise<BrowserIdentity | undefined> {
  const row = await transact(db, STORES.meta, 'readonly', (tx) => requestResult<SealedRow | undefined>(tx.objectStore(STORES.meta).get(IDENTITY)));
  if (!row) return undefined;
  const record = await vault.sealer.open<IdentityRecordV1>(STORES.meta, IDENTITY, row.data);
  if (record.v !== 1) throw new BrowserAccountError('unsupported', `the identity of ${vault.username} has version ${String(record.v)}; this app reads version 1`);
  return unwrapIdentity(vault, record);
}
