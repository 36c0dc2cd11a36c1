/**
 * Where session records live between messages (libsignal's SessionStore), as an async interface keyed by
 * the peer's stable identifier. Stores hold versioned pickles (pickle.ts), never live objects, so a
 * persistent implementation only has to keep JSON (encrypted at rest by the client layer).
 */
import type { SessionRecordPickle } from './pickle.js';

export interface SessionStore {
  loadSession(peer: string): Promise<SessionRecordPickle | undefined>;
  storeSession(peer: string, record: SessionRecordPickle): Promise<void>;
  deleteSession(peer: string): Promise<void>;
}

export class InMemorySessionStore implements SessionStore {
  readonly #records = new Map<string, string>();
  async loadSession(peer: string): Promise<SessionRecordPickle | undefined> {
    const json = this.#records.get(peer);
    return json === undefined ? undefined : (JSON.parse(json) as SessionRecordPickle);
  }
  async storeSession(peer: string, record: SessionRecordPickle): Promise<void> {
    this.#records.set(peer, JSON.stringify(record));
  }
  async deleteSession(peer: string): Promise<void> {
    this.#records.delete(peer);
  }
}
