/**
 * Where a client keeps its ratchet-mode secrets: its X25519 identity and prekeys (one versioned pickle)
 * and one session per peer (the e2ee session-record pickle plus the server ids it has decrypted, so a
 * redelivered envelope is recognised as a duplicate once its message key is gone). Stores keep JSON
 * only; persistent implementations must encrypt it at rest (node/sqlite-ratchet-store.ts does).
 *
 * Every entry carries a version, and saves are compare-and-swap: two processes of one user (a `receive`
 * and a `send`, say) share one store, and a session saved over a newer one would reuse message keys
 * (both processes encrypting with the same chain step) or forget a DH ratchet step. A save that lost the
 * race returns false and the caller redoes its work on the fresh entry (session-manager.ts).
 */
import type { SessionRecordPickle } from '../e2ee/ratchet/pickle.js';
import type { LocalKeysPickle } from './local-prekeys.js';

export interface PeerSessionPickle {
  readonly v: 1;
  readonly record: SessionRecordPickle;
  /** [server id, message id] of envelopes this session decrypted, oldest first (bounded). */
  readonly delivered: readonly (readonly [string, string])[];
}

/** A stored value and its version: 1 after the first save, one more after each. 0 means "absent". */
export interface Versioned<T> {
  readonly value: T;
  readonly version: number;
}

export interface RatchetStore {
  loadKeys(): Promise<Versioned<LocalKeysPickle> | undefined>;
  /** First save: if keys exist already (another process won the race), keeps them and returns them. */
  createKeys(keys: LocalKeysPickle): Promise<Versioned<LocalKeysPickle>>;
  /** Saves if the stored version is still `expected`; false (and nothing written) otherwise. */
  saveKeys(keys: LocalKeysPickle, expected: number): Promise<boolean>;
  loadSession(peer: string): Promise<Versioned<PeerSessionPickle> | undefined>;
  /** Saves if the stored version is still `expected` (0: no session yet); false otherwise. */
  saveSession(peer: string, session: PeerSessionPickle, expected: number): Promise<boolean>;
}

/** In-memory reference store; keeps JSON text, as a persistent store would, so no live object leaks in. */
export class MemoryRatchetStore implements RatchetStore {
  readonly #entries = new Map<string, { json: string; version: number }>();

  #load<T>(name: string): Versioned<T> | undefined {
    const entry = this.#entries.get(name);
    return entry && { value: JSON.parse(entry.json) as T, version: entry.version };
  }
  #save(name: string, value: unknown, expected: number): boolean {
    if ((this.#entries.get(name)?.version ?? 0) !== expected) return false;
    this.#entries.set(name, { json: JSON.stringify(value), version: expected + 1 });
    return true;
  }

  async loadKeys() {
    return this.#load<LocalKeysPickle>('keys');
  }
  async createKeys(keys: LocalKeysPickle) {
    this.#save('keys', keys, 0);
    return this.#load<LocalKeysPickle>('keys')!;
  }
  async saveKeys(keys: LocalKeysPickle, expected: number) {
    return this.#save('keys', keys, expected);
  }
  async loadSession(peer: string) {
    return this.#load<PeerSessionPickle>(`session:${peer}`);
  }
  async saveSession(peer: string, session: PeerSessionPickle, expected: number) {
    return this.#save(`session:${peer}`, session, expected);
  }
}
