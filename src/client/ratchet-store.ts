/**
 * Where a client keeps its ratchet-mode secrets: its X25519 identity and prekeys (one versioned pickle)
 * and one session per peer (the e2ee session-record pickle plus the server ids it has decrypted, so a
 * redelivered envelope is recognised as a duplicate once its message key is gone). Stores keep JSON
 * only; persistent implementations must encrypt it at rest (node/sqlite-ratchet-store.ts does).
 */
import type { SessionRecordPickle } from '../e2ee/ratchet/pickle.js';
import type { LocalKeysPickle } from './local-prekeys.js';

export interface PeerSessionPickle {
  readonly v: 1;
  readonly record: SessionRecordPickle;
  /** [server id, message id] of envelopes this session decrypted, oldest first (bounded). */
  readonly delivered: readonly (readonly [string, string])[];
}

export interface RatchetStore {
  loadKeys(): Promise<LocalKeysPickle | undefined>;
  /** First save: if keys exist already (another process won the race), keeps them and returns them. */
  createKeys(keys: LocalKeysPickle): Promise<LocalKeysPickle>;
  saveKeys(keys: LocalKeysPickle): Promise<void>;
  loadSession(peer: string): Promise<PeerSessionPickle | undefined>;
  saveSession(peer: string, session: PeerSessionPickle): Promise<void>;
}

/** In-memory reference store; keeps JSON text, as a persistent store would, so no live object leaks in. */
export class MemoryRatchetStore implements RatchetStore {
  #keys: string | undefined;
  readonly #sessions = new Map<string, string>();

  async loadKeys() {
    return this.#keys === undefined ? undefined : (JSON.parse(this.#keys) as LocalKeysPickle);
  }
  async createKeys(keys: LocalKeysPickle) {
    this.#keys ??= JSON.stringify(keys);
    return JSON.parse(this.#keys) as LocalKeysPickle;
  }
  async saveKeys(keys: LocalKeysPickle) {
    this.#keys = JSON.stringify(keys);
  }
  async loadSession(peer: string) {
    const json = this.#sessions.get(peer);
    return json === undefined ? undefined : (JSON.parse(json) as PeerSessionPickle);
  }
  async saveSession(peer: string, session: PeerSessionPickle) {
    this.#sessions.set(peer, JSON.stringify(session));
  }
}
