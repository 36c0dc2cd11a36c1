/**
 * This device's PQXDH keys: the X25519 identity key bound to the user's Ed25519 key, signed prekeys
 * (current plus recently rotated ones), one-time X25519 prekeys and ML-KEM-1024 prekeys (one-time plus
 * the last-resort one). The RatchetStore keeps them one record per key (ratchet-store.ts); this file
 * converts records to live keys and back, creates a new user's first keys, and keeps `LocalKeys`: the
 * whole set in memory, in the v1 pickle layout that 0.1 and 0.2 stored as one sealed row (read once, when
 * an old file is migrated, and by tests and benchmarks that look at everything at once).
 *
 * Bounded against a hostile peer or server (issue 9): a one-time key that the server no longer lists
 * (it handed it out) but no initial message ever used is deleted ONE_TIME_PREKEY_GRACE_MS after the client
 * first noticed, and each kind of local one-time key is capped (MAX_LOCAL_*), the oldest handed-out first
 * (prekey-hygiene.ts).
 */
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { base64urlDecode as d, base64urlEncode as e } from '../crypto/bytes.js';
import { X25519KeyPair } from '../crypto/x25519.js';
import { LocalIdentity } from '../e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateSignedPreKey, KemPreKeyRecord, type OneTimePreKeyRecord, type SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { lastResortUseId, type LastResortUse, type PreKeyStore } from '../e2ee/pqxdh/stores.js';
import { DEFAULT_QUEUE_TTL_MS } from '../protocol/limits.js';
import {
  lastResortUsePrekeys,
  MAX_LAST_RESORT_USES,
  type IdentityKeyPickle,
  type KemPreKeyPickle,
  type KeySetImport,
  type OneTimePreKeyPickle,
  type RatchetStore,
  type SignedPreKeyPickle,
  type StoredIdentityKey,
} from './ratchet-store.js';

export { MAX_LAST_RESORT_USES };

/** The keys as 0.1 and 0.2 stored them: one versioned pickle (bytes as base64url). */
export interface LocalKeysPickle extends KeySetImport {
  readonly v: 1;
}

/**
 * How long a one-time key the server handed out may wait for the initial message that uses it, counted
 * from when this client first noticed it gone from the server's list (never earlier than the hand-out).
 * The initiator sends at once, or from its outbox when it next reaches the server: we allow a week for
 * that. The server then keeps the message up to its queue TTL (DEFAULT_QUEUE_TTL_MS, 30 days): past both,
 * no initial message naming the key can still arrive, and keeping the key only helps an attacker who
 * drains our keys fill our store.
 */
export const ONE_TIME_PREKEY_OUTBOX_ALLOWANCE_MS = 7 * 24 * 60 * 60 * 1000;
export const ONE_TIME_PREKEY_GRACE_MS = DEFAULT_QUEUE_TTL_MS + ONE_TIME_PREKEY_OUTBOX_ALLOWANCE_MS;

/**
 * Local one-time X25519 keys kept at most (~110 B each stored): three times the refill target
 * (ONE_TIME_PREKEY_TARGET, 100), so 200 handed-out keys can wait out their grace period beside a full stock.
 */
export const MAX_LOCAL_ONE_TIME_PREKEYS = 300;

/**
 * Local one-time ML-KEM keys kept at most: ~6.4 KB each stored, twice the refill target
 * (KEM_ONE_TIME_PREKEY_TARGET, 40): a full stock plus 40 handed-out keys waiting for their initial
 * messages. Records are read one at a time now, so the cap bounds the file, not the cost of a message
 * (0.1 reached 2.4 MB under a drain). Beyond it the oldest handed-out keys go first (their initial
 * messages, if any, then fail and are reported unreadable).
 */
export const MAX_LOCAL_KEM_ONE_TIME_PREKEYS = 80;

// ---- records ↔ live keys ----

const pair = (p: { publicKey: string; secretKey: string }) => X25519KeyPair.restore(d(p.secretKey), d(p.publicKey));
const pairPickle = (id: number, p: X25519KeyPair): OneTimePreKeyPickle => ({ id, publicKey: e(p.publicKey), secretKey: e(p.exportSecretKey()) });

export const identityFromPickle = (p: IdentityKeyPickle, signingKey: Ed25519SigningKey): LocalIdentity =>
  LocalIdentity.restore(signingKey, pair(p), d(p.binding));
/** The identity as any store gives it back: bytes, or a WebCrypto key whose pairing is checked here. */
export async function identityFromStored(p: StoredIdentityKey, signingKey: Ed25519SigningKey): Promise<LocalIdentity> {
  if (!('privateKey' in p)) return identityFromPickle(p, signingKey);
  return LocalIdentity.restore(signingKey, await X25519KeyPair.fromCryptoKey(p.privateKey, d(p.publicKey)), d(p.binding));
}
export const identityToPickle = (i: LocalIdentity): IdentityKeyPickle => ({
  publicKey: e(i.dhKeyPair.publicKey),
  secretKey: e(i.dhKeyPair.exportSecretKey()),
  binding: e(i.binding),
});
export const signedFromPickle = (s: SignedPreKeyPickle): SignedPreKeyRecord => ({ id: s.id, keyPair: pair(s), signature: d(s.signature), createdAt: s.createdAt });
export const signedToPickle = (s: SignedPreKeyRecord): SignedPreKeyPickle => ({ ...pairPickle(s.id, s.keyPair), signature: e(s.signature), createdAt: s.createdAt });
export const oneTimeFromPickle = (o: OneTimePreKeyPickle): OneTimePreKeyRecord => ({ id: o.id, keyPair: pair(o) });
export const oneTimeToPickle = (o: OneTimePreKeyRecord): OneTimePreKeyPickle => pairPickle(o.id, o.keyPair);
export const kemFromPickle = (k: KemPreKeyPickle): KemPreKeyRecord =>
  new KemPreKeyRecord({ id: k.id, kind: k.kind, publicKey: d(k.publicKey), secretKey: d(k.secretKey), signature: d(k.signature), createdAt: k.createdAt });
export const kemToPickle = (k: KemPreKeyRecord): KemPreKeyPickle => ({
  id: k.id,
  kind: k.kind,
  publicKey: e(k.publicKey),
  secretKey: e(k.exportSecretKey()),
  signature: e(k.signature),
  createdAt: k.createdAt,
});

/** The whole key set in memory (the v1 pickle's model); also an in-memory e2ee PreKeyStore. */
export class LocalKeys implements PreKeyStore {
  readonly signed = new Map<number, SignedPreKeyRecord>();
  readonly oneTime = new Map<number, OneTimePreKeyRecord>();
  readonly kem = new Map<number, KemPreKeyRecord>();
  /** lastResortUseId → [kem id, signed prekey id], oldest first. */
  readonly lastResortUses = new Map<string, readonly [number, number]>();
  /** One-time key id → when we first noticed the server no longer lists it (handed out), per kind. */
  readonly handedOut = { oneTime: new Map<number, number>(), kem: new Map<number, number>() };

  private constructor(
    readonly identity: LocalIdentity,
    public currentSignedId: number,
    public lastResortId: number,
    public nextIds: { signed: number; oneTime: number; kem: number },
  ) {}

  /** A new identity key, signed prekey 1 and last-resort ML-KEM prekey 1 (one-time keys come later). */
  static async generate(signingKey: Ed25519SigningKey, now: number): Promise<LocalKeys> {
    const identity = await LocalIdentity.generate(signingKey);
    const keys = new LocalKeys(identity, 1, 1, { signed: 2, oneTime: 1, kem: 2 });
    keys.signed.set(1, await generateSignedPreKey(identity, 1, { clock: () => now }));
    keys.kem.set(1, await generateKemPreKey(identity, 1, 'last-resort', { clock: () => now }));
    return keys;
  }

  static restore(p: LocalKeysPickle, signingKey: Ed25519SigningKey): LocalKeys {
    return LocalKeys.withIdentity(identityFromPickle(p.identity, signingKey), p);
  }

  /** The records of `p` around an identity already restored (one a store holds in WebCrypto has no pickle). */
  static withIdentity(identity: LocalIdentity, p: Omit<LocalKeysPickle, 'identity'>): LocalKeys {
    if (p.v !== 1) throw new TypeError(`unsupported local keys pickle version ${String(p.v)}`);
    const keys = new LocalKeys(identity, p.currentSignedId, p.lastResortId, { ...p.nextIds });
    for (const s of p.signed) keys.signed.set(s.id, signedFromPickle(s));
    for (const o of p.oneTime) keys.oneTime.set(o.id, oneTimeFromPickle(o));
    for (const k of p.kem) keys.kem.set(k.id, kemFromPickle(k));
    for (const id of p.lastResortUses ?? []) keys.lastResortUses.set(id, lastResortUsePrekeys(id));
    for (const [id, since] of p.handedOut?.oneTime ?? []) keys.handedOut.oneTime.set(id, since);
    for (const [id, since] of p.handedOut?.kem ?? []) keys.handedOut.kem.set(id, since);
    return keys;
  }

  pickle(): LocalKeysPickle {
    return {
      v: 1,
      identity: identityToPickle(this.identity),
      signed: [...this.signed.values()].map(signedToPickle),
      currentSignedId: this.currentSignedId,
      oneTime: [...this.oneTime.values()].map(oneTimeToPickle),
      kem: [...this.kem.values()].map(kemToPickle),
      lastResortId: this.lastResortId,
      nextIds: { ...this.nextIds },
      lastResortUses: [...this.lastResortUses.keys()],
      handedOut: {
        oneTime: [...this.handedOut.oneTime].filter(([id]) => this.oneTime.has(id)),
        kem: [...this.handedOut.kem].filter(([id]) => this.kem.has(id)),
      },
    };
  }

  get currentSignedPreKey(): SignedPreKeyRecord {
    return this.signed.get(this.currentSignedId)!;
  }

  get lastResortKemPreKey(): KemPreKeyRecord {
    return this.kem.get(this.lastResortId)!;
  }

  // ---- PreKeyStore ----
  async getSignedPreKey(id: number) {
    return this.signed.get(id);
  }
  async saveSignedPreKey(record: SignedPreKeyRecord) {
    this.signed.set(record.id, record);
  }
  async getOneTimePreKey(id: number) {
    return this.oneTime.get(id);
  }
  async saveOneTimePreKey(record: OneTimePreKeyRecord) {
    this.oneTime.set(record.id, record);
  }
  async removeOneTimePreKey(id: number) {
    this.oneTime.delete(id);
    this.handedOut.oneTime.delete(id);
  }
  async getKemPreKey(id: number) {
    return this.kem.get(id);
  }
  async saveKemPreKey(record: KemPreKeyRecord) {
    this.kem.set(record.id, record);
  }
  async removeKemPreKey(id: number) {
    if (this.kem.get(id)?.kind !== 'one-time') return;
    this.kem.delete(id);
    this.handedOut.kem.delete(id);
  }
  async isLastResortUseRecorded(use: LastResortUse) {
    return this.lastResortUses.has(lastResortUseId(use));
  }
  async recordLastResortUse(use: LastResortUse) {
    this.lastResortUses.set(lastResortUseId(use), [use.kemPreKeyId, use.signedPreKeyId]);
    for (const [id, [kemId, signedId]] of this.lastResortUses) {
      if (!this.kem.has(kemId) || !this.signed.has(signedId)) this.lastResortUses.delete(id);
    }
    while (this.lastResortUses.size > MAX_LAST_RESORT_USES) this.lastResortUses.delete(this.lastResortUses.keys().next().value!);
  }

  toJSON() {
    return { type: 'LocalKeys', identity: this.identity.toJSON(), signed: this.signed.size, oneTime: this.oneTime.size, kem: this.kem.size };
  }
}

/**
 * This device's identity, creating the user's first keys when there are none (first writer wins: two
 * processes of one user starting at once agree on one set). Reads the identity record only.
 */
export async function loadOrCreateIdentity(store: RatchetStore, signingKey: Ed25519SigningKey, now: number): Promise<LocalIdentity> {
  const saved = (await store.loadIdentity()) ?? (await store.createKeys((await LocalKeys.generate(signingKey, now)).pickle()));
  return identityFromStored(saved, signingKey);
}

/**
 * Every record at once, as a LocalKeys (for tests, benchmarks and inspection; nothing on the message
 * path calls it). Creates the first keys like loadOrCreateIdentity.
 */
export async function exportLocalKeys(store: RatchetStore, signingKey: Ed25519SigningKey, now: number): Promise<LocalKeys> {
  const identity = await loadOrCreateIdentity(store, signingKey, now);
  const state = (await store.loadKeyState())!;
  const load = async <K extends 'signed' | 'oneTime' | 'kem'>(kind: K, ids: readonly number[]) =>
    (await Promise.all(ids.map((id) => store.loadPreKey(kind, id)))).filter((r) => r !== undefined);
  const oneTime = await store.listOneTimePreKeys('oneTime');
  const kem = await store.listOneTimePreKeys('kem');
  const marks = (entries: typeof oneTime) => entries.filter((x) => x.handedOutSince !== undefined).map((x) => [x.id, x.handedOutSince!] as const);
  return LocalKeys.withIdentity(identity, {
      v: 1,
      signed: await load('signed', await store.listSignedPreKeyIds()),
      oneTime: await load('oneTime', oneTime.map((x) => x.id)),
      kem: await load('kem', [state.lastResortId, ...kem.map((x) => x.id)]),
      currentSignedId: state.currentSignedId,
      lastResortId: state.lastResortId,
      nextIds: state.nextIds,
      handedOut: { oneTime: marks(oneTime), kem: marks(kem) },
  });
}
