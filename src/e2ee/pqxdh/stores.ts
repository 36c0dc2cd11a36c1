/**
 * Stores PQXDH needs, as async interfaces (libsignal's IdentityKeyStore / PreKeyStore /
 * SignedPreKeyStore / KyberPreKeyStore), with in-memory reference implementations for tests.
 * Persistent implementations (files, SQLite, IndexedDB) belong to the client layer.
 */
import type { LocalIdentity } from './identity.js';
import { hexEncode } from '../../crypto/bytes.js';
import type { KemPreKeyRecord, OneTimePreKeyRecord, SignedPreKeyRecord } from './prekeys.js';

/**
 * An initial message accepted under a last-resort ML-KEM prekey: which prekeys, and the initiator's
 * ephemeral (base) key EK_A. Such a message stays valid as long as those prekeys exist, so without a
 * record of it a replay would start the session again (PQXDH §4.2); libsignal keeps the same record.
 */
export interface LastResortUse {
  readonly kemPreKeyId: number;
  readonly signedPreKeyId: number;
  readonly baseKey: Uint8Array;
}

/** A stable string for a LastResortUse, for sets and persistence. */
export function lastResortUseId(use: LastResortUse): string {
  return `${use.kemPreKeyId}:${use.signedPreKeyId}:${hexEncode(use.baseKey)}`;
}

export interface IdentityStore {
  getLocalIdentity(): Promise<LocalIdentity>;
}

export interface PreKeyStore {
  getSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined>;
  saveSignedPreKey(record: SignedPreKeyRecord): Promise<void>;
  getOneTimePreKey(id: number): Promise<OneTimePreKeyRecord | undefined>;
  saveOneTimePreKey(record: OneTimePreKeyRecord): Promise<void>;
  removeOneTimePreKey(id: number): Promise<void>;
  getKemPreKey(id: number): Promise<KemPreKeyRecord | undefined>;
  saveKemPreKey(record: KemPreKeyRecord): Promise<void>;
  /** Only for one-time KEM prekeys; a last-resort key stays until it is replaced. */
  removeKemPreKey(id: number): Promise<void>;
  /** Whether recordLastResortUse saw this use before: the initial message is then a replay. */
  isLastResortUseRecorded(use: LastResortUse): Promise<boolean>;
  recordLastResortUse(use: LastResortUse): Promise<void>;
}

export class InMemoryIdentityStore implements IdentityStore {
  constructor(private readonly identity: LocalIdentity) {}
  getLocalIdentity(): Promise<LocalIdentity> {
    return Promise.resolve(this.identity);
  }
}

export class InMemoryPreKeyStore implements PreKeyStore {
  readonly #signed = new Map<number, SignedPreKeyRecord>();
  readonly #oneTime = new Map<number, OneTimePreKeyRecord>();
  readonly #kem = new Map<number, KemPreKeyRecord>();
  readonly #lastResortUses = new Set<string>();

  async getSignedPreKey(id: number) {
    return this.#signed.get(id);
  }
  async saveSignedPreKey(record: SignedPreKeyRecord) {
    this.#signed.set(record.id, record);
  }
  async getOneTimePreKey(id: number) {
    return this.#oneTime.get(id);
  }
  async saveOneTimePreKey(record: OneTimePreKeyRecord) {
    this.#oneTime.set(record.id, record);
  }
  async removeOneTimePreKey(id: number) {
    this.#oneTime.delete(id);
  }
  async getKemPreKey(id: number) {
    return this.#kem.get(id);
  }
  async saveKemPreKey(record: KemPreKeyRecord) {
    this.#kem.set(record.id, record);
  }
  async removeKemPreKey(id: number) {
    this.#kem.delete(id);
  }
  async isLastResortUseRecorded(use: LastResortUse) {
    return this.#lastResortUses.has(lastResortUseId(use));
  }
  async recordLastResortUse(use: LastResortUse) {
    this.#lastResortUses.add(lastResortUseId(use));
  }
  /** Test helper: how many one-time prekeys of each kind remain. */
  counts(): { oneTime: number; kemOneTime: number; kemLastResort: number } {
    const kem = [...this.#kem.values()];
    return { oneTime: this.#oneTime.size, kemOneTime: kem.filter((k) => k.kind === 'one-time').length, kemLastResort: kem.filter((k) => k.kind === 'last-resort').length };
  }
}
