/**
 * The e2ee PreKeyStore that pqxdhRespond sees when an initial message arrives: each lookup reads the one
 * record it names from the RatchetStore (the message names its signed prekey, one-time X25519 and ML-KEM
 * ids), nothing else. Its writes are held, not applied: decryptMessage asks to delete the used one-time
 * keys as soon as the initial ciphertext decrypts, but the session that message created is not saved yet;
 * deleting first would make a crash (or a lost session race, which redoes the work) turn the message into
 * a refusal. SessionManager hands them (`used`) to the store's saveSession, which applies them in the
 * transaction that saves that session: the keys are gone exactly when the session exists.
 */
import { lastResortUseId, type LastResortUse, type PreKeyStore } from '../e2ee/pqxdh/stores.js';
import type { KemPreKeyRecord, OneTimePreKeyRecord, SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { ChatError } from '../protocol/errors.js';
import { kemFromPickle, oneTimeFromPickle, signedFromPickle } from './local-prekeys.js';
import { readLocal } from './local-store-error.js';
import type { PreKeysUsed, RatchetStore } from './ratchet-store.js';

export class ResponderPreKeys implements PreKeyStore {
  #oneTime: number | undefined;
  #kem: number | undefined;
  #lastResortUse: LastResortUse | undefined;
  /** Ids of the one-time ML-KEM keys this view loaded: a last-resort key is never deleted here. */
  readonly #kemOneTimeLoaded = new Set<number>();

  constructor(private readonly store: RatchetStore) {}

  async getSignedPreKey(id: number): Promise<SignedPreKeyRecord | undefined> {
    const p = await readLocal(`signed prekey ${id}`, () => this.store.loadPreKey('signed', id));
    return p && signedFromPickle(p);
  }
  async getOneTimePreKey(id: number): Promise<OneTimePreKeyRecord | undefined> {
    const p = await readLocal(`one-time prekey ${id}`, () => this.store.loadPreKey('oneTime', id));
    return p && oneTimeFromPickle(p);
  }
  async getKemPreKey(id: number): Promise<KemPreKeyRecord | undefined> {
    const p = await readLocal(`ML-KEM prekey ${id}`, () => this.store.loadPreKey('kem', id));
    if (p?.kind === 'one-time') this.#kemOneTimeLoaded.add(id);
    return p && kemFromPickle(p);
  }
  async isLastResortUseRecorded(use: LastResortUse): Promise<boolean> {
    return readLocal('last-resort use record', () => this.store.isLastResortUseRecorded(lastResortUseId(use)));
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

  /** The held writes, for saveSession; undefined when there are none (a plain message). */
  get used(): PreKeysUsed | undefined {
    const use = this.#lastResortUse;
    if (this.#oneTime === undefined && this.#kem === undefined && !use) return undefined;
    return {
      ...(this.#oneTime !== undefined && { oneTimeId: this.#oneTime }),
      ...(this.#kem !== undefined && { kemOneTimeId: this.#kem }),
      ...(use && { lastResortUse: { useId: lastResortUseId(use), kemPreKeyId: use.kemPreKeyId, signedPreKeyId: use.signedPreKeyId } }),
    };
  }
}
