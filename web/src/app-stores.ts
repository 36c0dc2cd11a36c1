/**
 * Where the web app keeps a user's state: the one place to change when the stores become durable.
 *
 * Today every store is the library's in-memory one: keys, pinned peers, sessions and history live in this
 * tab and are gone when it closes or reloads. The passphrase is taken now so that the call does not
 * change when the IndexedDB stores (sealed under it) replace these; the memory stores have nothing to
 * seal, so they do not use it.
 */
import type { MessageStore, PeerKeyStore, RatchetStore } from '../../src/client/index.js';
import { MemoryMessageStore, MemoryPeerKeyStore, MemoryRatchetStore } from '../../src/client/index.js';
import type { StoredIdentity } from './device-keys.js';

export interface AppStores {
  peers: PeerKeyStore;
  messages: MessageStore;
  ratchet: RatchetStore;
  /** This browser's keys for the user, once made. */
  identity: IdentityStore;
  /** False while everything is lost with the tab: the UI says so. */
  readonly durable: boolean;
  close(): Promise<void>;
}

/** The user's own keys on this device (private halves non-extractable CryptoKeys: device-keys.ts). */
export interface IdentityStore {
  load(): Promise<StoredIdentity | undefined>;
  save(identity: StoredIdentity): Promise<void>;
}

class MemoryIdentityStore implements IdentityStore {
  private identity: StoredIdentity | undefined;
  async load() {
    return this.identity;
  }
  async save(identity: StoredIdentity) {
    this.identity = identity;
  }
}

export async function openStores(username: string, passphrase: string): Promise<AppStores> {
  void username;
  void passphrase;
  return {
    peers: new MemoryPeerKeyStore(),
    messages: new MemoryMessageStore(),
    ratchet: new MemoryRatchetStore(),
    identity: new MemoryIdentityStore(),
    durable: false,
    close: async () => undefined,
  };
}
