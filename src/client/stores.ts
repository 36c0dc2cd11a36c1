/**
 * What the client persists, as interfaces: the library is runtime-neutral and the Node CLI, a browser
 * or a test each supply their own implementation (see memory-stores.ts and node/file-stores.ts).
 */
import type { Ed25519PublicJwk, RsaPublicJwk } from '../crypto/keys.js';

/** A peer's keys as first seen (trust on first use), or as last accepted by the user. */
export interface PinnedPeer {
  username: string;
  signingKey: Ed25519PublicJwk;
  encryptionKey: RsaPublicJwk;
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
  pinnedAt: number;
  /** The user compared fingerprints out of band (set by a later verification flow). */
  verified: boolean;
}

export interface PeerKeyStore {
  get(username: string): Promise<PinnedPeer | undefined>;
  put(peer: PinnedPeer): Promise<void>;
}

/** Ids of messages already shown, so a replayed envelope is rejected. */
export interface SeenIdStore {
  has(id: string): Promise<boolean>;
  add(id: string): Promise<void>;
}
