/**
 * The e2ee PreKeyStore that pqxdhRespond sees when an initial message arrives: each lookup reads the one
 * record it names from the RatchetStore (the message names its signed prekey, one-time X25519 and ML-KEM
 * ids), nothing else. Its writes are held, not applied: decryptMessage asks to delete the used one-time
 * keys as soon as the initial ciphertext decrypts, but the session that message created is not saved yet;
 * deleting first would make a crash (or a lost session race, which redoes the work) turn the message into
 * a refusal. SessionManager applies them with `commit()` once the session is saved.
 */
import { lastResortUseId, type LastResortUse, type PreKeyStore } from '../e2ee/pqxdh/stores.js';
import type { KemPreKeyRecord, OneTimePreKeyRecord, SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { ChatError } from '../protocol/errors.js';
import { kemFromPickle, oneTimeFromPickle, signedFromPickle } from './local-prekeys.js';
import type { RatchetStore } from './ratchet-store.js';

export class ResponderPreKeys implements PreKeyStore {
  #oneTime: number | undefined;
  #kem: number | undefined;
  #lastResortUse: LastResortUse | undefined;
  /** Ids of the one-time ML-KEM keys this view loaded: a last-resort key is never deleted here. */
  readonly #kemOneTimeLoaded = new Set<number>();

  constructor(private readonly store: RatchetStore) {}

  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined> {
    const p = await this.store.loadPreKey('signed', id);
    return p && signedFromPickle(p);
  }
  async getOneTimePreKey(id: number): Promise<OneTimePreKeyRecord | undefined> {
    const p = await this.store.loadPreKey('oneTime', id);
    return p && oneTimeFromPickle(p);
  }
  async getKemPreKey(id: number): Promise<KemPreKeyRecord | undefined> {
    const p = await this.store.loadPreKey('kem', id);
    if (p?.kind === 'one-time') this.#kemOneTimeLoaded.add(id);
    return p && kemFromPickle(p);
  }
  async isLastResortUseRecorded(use: LastResortUse): Promise<boolean> {
    return this.store.isLastResortUseRecorded(lastResortUseId(use));
  }

  // Held until commit() (see the file comment).
  async removeOneTimePreKey(id: number): Promise<void> {
    this.#oneTime = id;
  }
  async removeKemPreKey(id: number): Promise<void> {
    if (this.#kemOneTimeLoaded.has(id)) this.#kem = id; // a last-resort key stays until it is replaced
  }
  async recordLastResortUse(use: LastResortUse): Promise<void> {
    this.#lastResortUse = use;
  }

  // The responder never adds keys: PreKeyPublisher does, with ids reserved from the store.
  saveSignedPreKey(): Promise<void> {
    return Promise.reject(new ChatError('internal', 'the responder view of the prekeys cannot add keys'));
  }
  saveOneTimePreKey(): Promise<void> {
    return this.saveSignedPreKey();
  }
  saveKemPreKey(): Promise<void> {
    return this.saveSignedPreKey();
  }

  /** Whether the held writes used up a one-time key (time to check the server's stock). */
  get usedOneTime(): boolean {
    return this.#oneTime !== undefined || this.#kem !== undefined;
  }

  /**
   * Applies the held writes, each to one record: one-time keys deleted (exactly once across processes:
   * a key another process already deleted stays deleted), the last-resort use recorded.
   */
  async commit(): Promise<void> {
    if (this.#oneTime !== undefined) await this.store.removePreKey('oneTime', this.#oneTime);
    if (this.#kem !== undefined) await this.store.removePreKey('kem', this.#kem);
    if (this.#lastResortUse) {
      const use = this.#lastResortUse;
      await this.store.recordLastResortUse(lastResortUseId(use), use.kemPreKeyId, use.signedPreKeyId);
    }
  }
}
