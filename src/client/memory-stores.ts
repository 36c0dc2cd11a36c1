/** In-memory reference stores: for tests, and for clients that choose to keep nothing. */
import { SEEN_IDS_CAPACITY } from '../protocol/limits.js';
import type { PeerKeyStore, PinnedPeer, SeenIdStore } from './stores.js';

export class MemoryPeerKeyStore implements PeerKeyStore {
  private readonly peers = new Map<string, PinnedPeer>();
  async get(username: string) {
    return this.peers.get(username);
  }
  async put(peer: PinnedPeer) {
    this.peers.set(peer.username, peer);
  }
}

/** Remembers the most recent `capacity` ids; a Set keeps insertion order, so the oldest go first. */
export class MemorySeenIdStore implements SeenIdStore {
  protected readonly ids = new Set<string>();
  constructor(private readonly capacity = SEEN_IDS_CAPACITY) {}
  async has(id: string) {
    return this.ids.has(id);
  }
  async add(id: string) {
    this.ids.add(id);
    while (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!);
  }
}
