/**
 * This device's PQXDH keys: the X25519 identity key bound to the user's Ed25519 key, signed prekeys
 * (current plus recently rotated ones), one-time X25519 prekeys and ML-KEM-1024 prekeys (one-time plus
 * the last-resort one). A live `LocalKeys` implements the e2ee PreKeyStore for the responder; its
 * persistent form is a versioned pickle (v1, bytes as base64url) that the RatchetStore seals at rest.
 */
import { base64urlDecode as d, base64urlEncode as e } from '../crypto/bytes.js';
import { X25519KeyPair } from '../crypto/x25519.js';
import { LocalIdentity } from '../e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateSignedPreKey, KemPreKeyRecord, type KemPreKeyKind, type OneTimePreKeyRecord, type SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { lastResortUseId, type LastResortUse, type PreKeyStore } from '../e2ee/pqxdh/stores.js';
import { ChatError } from '../protocol/errors.js';
import type { RatchetStore } from './ratchet-store.js';

interface KeyPairPickle {
  readonly id: number;
  readonly publicKey: string;
  readonly secretKey: string;
}

export interface LocalKeysPickle {
  readonly v: 1;
  readonly identity: { readonly publicKey: string; readonly secretKey: string; readonly binding: string };
  readonly signed: readonly (KeyPairPickle & { readonly signature: string; readonly createdAt: number })[];
  readonly currentSignedId: number;
  readonly oneTime: readonly KeyPairPickle[];
  readonly kem: readonly (KeyPairPickle & { readonly kind: KemPreKeyKind; readonly signature: string; readonly createdAt: number })[];
  readonly lastResortId: number;
  /** Next unused ids: ids are never reused, so a late initial message never meets a different key. */
  readonly nextIds: { readonly signed: number; readonly oneTime: number; readonly kem: number };
  /** lastResortUseId of every initial message accepted under a last-resort ML-KEM key (absent before 0.1.1). */
  readonly lastResortUses?: readonly string[];
}

/**
 * Recorded last-resort uses kept at most: beyond it the oldest go (their replays would be accepted once
 * more). Entries whose prekeys are gone are dropped anyway: a replay needs them.
 */
export const MAX_LAST_RESORT_USES = 10_000;

const pair = (p: { publicKey: string; secretKey: string }) => X25519KeyPair.restore(d(p.secretKey), d(p.publicKey));

export class LocalKeys implements PreKeyStore {
  readonly signed = new Map<number, SignedPreKeyRecord>();
  readonly oneTime = new Map<number, OneTimePreKeyRecord>();
  readonly kem = new Map<number, KemPreKeyRecord>();
  /** lastResortUseId → [kem id, signed prekey id], oldest first. */
  readonly lastResortUses = new Map<string, readonly [number, number]>();

  private constructor(
    readonly identity: LocalIdentity,
    public currentSignedId: number,
    public lastResortId: number,
    public nextIds: { signed: number; oneTime: number; kem: number },
  ) {}

  /** A new identity key, signed prekey 1 and last-resort ML-KEM prekey 1 (one-time keys come later). */
  static async generate(signingSecretKey: Uint8Array, now: number): Promise<LocalKeys> {
    const identity = await LocalIdentity.generate(signingSecretKey);
    const keys = new LocalKeys(identity, 1, 1, { signed: 2, oneTime: 1, kem: 2 });
    keys.signed.set(1, await generateSignedPreKey(identity, 1, { clock: () => now }));
    keys.kem.set(1, generateKemPreKey(identity, 1, 'last-resort', { clock: () => now }));
    return keys;
  }

  static restore(p: LocalKeysPickle, signingSecretKey: Uint8Array): LocalKeys {
    if (p.v !== 1) throw new TypeError(`unsupported local keys pickle version ${String(p.v)}`);
    const identity = LocalIdentity.restore(signingSecretKey, pair(p.identity), d(p.identity.binding));
    const keys = new LocalKeys(identity, p.currentSignedId, p.lastResortId, { ...p.nextIds });
    for (const s of p.signed) keys.signed.set(s.id, { id: s.id, keyPair: pair(s), signature: d(s.signature), createdAt: s.createdAt });
    for (const o of p.oneTime) keys.oneTime.set(o.id, { id: o.id, keyPair: pair(o) });
    for (const k of p.kem) {
      keys.kem.set(k.id, new KemPreKeyRecord({ id: k.id, kind: k.kind, publicKey: d(k.publicKey), secretKey: d(k.secretKey), signature: d(k.signature), createdAt: k.createdAt }));
    }
    for (const id of p.lastResortUses ?? []) {
      const [kemId, signedId] = id.split(':').map(Number) as [number, number];
      keys.lastResortUses.set(id, [kemId, signedId]);
    }
    return keys;
  }

  pickle(): LocalKeysPickle {
    const kp = (id: number, p: X25519KeyPair) => ({ id, publicKey: e(p.publicKey), secretKey: e(p.exportSecretKey()) });
    return {
      v: 1,
      identity: { publicKey: e(this.identity.dhKeyPair.publicKey), secretKey: e(this.identity.dhKeyPair.exportSecretKey()), binding: e(this.identity.binding) },
      signed: [...this.signed.values()].map((s) => ({ ...kp(s.id, s.keyPair), signature: e(s.signature), createdAt: s.createdAt })),
      currentSignedId: this.currentSignedId,
      oneTime: [...this.oneTime.values()].map((o) => kp(o.id, o.keyPair)),
      kem: [...this.kem.values()].map((k) => ({ id: k.id, kind: k.kind, publicKey: e(k.publicKey), secretKey: e(k.exportSecretKey()), signature: e(k.signature), createdAt: k.createdAt })),
      lastResortId: this.lastResortId,
      nextIds: { ...this.nextIds },
      lastResortUses: [...this.lastResortUses.keys()],
    };
  }

  get currentSignedPreKey(): SignedPreKeyRecord {
    return this.signed.get(this.currentSignedId)!;
  }

  get lastResortKemPreKey(): KemPreKeyRecord {
    return this.kem.get(this.lastResortId)!;
  }

  // ---- PreKeyStore (read by pqxdhRespond; removals after the initial ciphertext decrypted) ----
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
  }
  async getKemPreKey(id: number) {
    return this.kem.get(id);
  }
  async saveKemPreKey(record: KemPreKeyRecord) {
    this.kem.set(record.id, record);
  }
  async removeKemPreKey(id: number) {
    if (this.kem.get(id)?.kind === 'one-time') this.kem.delete(id);
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

async function loadOrCreateVersioned(store: RatchetStore, signingSecretKey: Uint8Array, now: number): Promise<{ keys: LocalKeys; version: number }> {
  const saved = (await store.loadKeys()) ?? (await store.createKeys((await LocalKeys.generate(signingSecretKey, now)).pickle()));
  return { keys: LocalKeys.restore(saved.value, signingSecretKey), version: saved.version };
}

/** The stored keys, or new ones saved first-writer-wins (two processes of one user agree on one set). */
export async function loadOrCreateLocalKeys(store: RatchetStore, signingSecretKey: Uint8Array, now: number): Promise<LocalKeys> {
  return (await loadOrCreateVersioned(store, signingSecretKey, now)).keys;
}

/** Attempts before a read-modify-write gives up; each lost race means another process saved meanwhile. */
export const MAX_STORE_ATTEMPTS = 10;

/**
 * Read-modify-write of the local keys that another process of the same user cannot undo: `change` edits
 * a freshly loaded copy and says whether to save it; a save that lost the race (compare-and-swap,
 * ratchet-store.ts) runs `change` again on the newer keys.
 */
export async function updateLocalKeys<T>(
  store: RatchetStore,
  signingSecretKey: Uint8Array,
  now: number,
  change: (keys: LocalKeys) => Promise<{ save: boolean; result: T }>,
): Promise<T> {
  for (let attempt = 0; attempt < MAX_STORE_ATTEMPTS; attempt++) {
    const { keys, version } = await loadOrCreateVersioned(store, signingSecretKey, now);
    const { save, result } = await change(keys);
    if (!save || (await store.saveKeys(keys.pickle(), version))) return result;
  }
  throw new ChatError('internal', `local keys kept changing under us (${MAX_STORE_ATTEMPTS} attempts)`);
}
