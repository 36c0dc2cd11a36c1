/**
 * What the client persists, as interfaces: the library is runtime-neutral and the Node CLI, a browser
 * or a test each supply their own implementation (see memory-stores.ts and node/file-stores.ts).
 */
import type { Ed25519PublicJwk, RsaPublicJwk } from '../crypto/keys.js';
import type { Envelope } from '../protocol/schemas.js';

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

export type MessageStatus =
  /** outgoing: waiting in the outbox for the server's ack */
  | 'outbox'
  /** outgoing: the server stored it and pushed it to a connected device of the recipient */
  | 'sent'
  /** outgoing: the server stored it for a recipient who is offline */
  | 'queued'
  /** outgoing: the recipient's device acknowledged it (delivery receipt) */
  | 'delivered'
  /** outgoing: the server refused it for good (unknown user, quota) */
  | 'failed'
  /** incoming */
  | 'received';

/** One message in the local history, in either direction. */
export interface HistoryRecord {
  /** The message's own id, chosen by its sender and signed inside the envelope. */
  id: string;
  direction: 'in' | 'out';
  peer: string;
  body: string;
  /** The sender's clock (ms since epoch). */
  sentAt: number;
  /** The server's id and clock, once known. */
  serverId?: string;
  serverTime?: number;
  status: MessageStatus;
}

/** An envelope sealed for its recipient, waiting for the server to accept it. */
export interface OutboxEntry {
  id: string;
  to: string;
  envelope: Envelope;
  createdAt: number;
}

/**
 * Local history, seen ids and the outbox. The ids of incoming messages are the seen-id set: a message
 * whose id is already recorded is a duplicate (a redelivery) or a replay, and is never shown twice.
 */
export interface MessageStore {
  /** Records an incoming message unless its id is known; atomic. */
  recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'>;
  /** Puts a sealed envelope in the outbox and its plaintext in the history, in one step. */
  addOutgoing(entry: OutboxEntry, record: HistoryRecord): Promise<void>;
  /** Outbox entries, oldest first. */
  outbox(): Promise<OutboxEntry[]>;
  /** The server answered for an outbox entry: remove it and record the outcome. */
  settleOutgoing(id: string, status: 'sent' | 'queued' | 'failed', server?: { id: string; time: number }): Promise<void>;
  /** A delivery receipt arrived for an outgoing message. */
  markDelivered(id: string): Promise<void>;
  /** Incoming messages recorded but not yet shown, oldest first. */
  undisplayed(): Promise<HistoryRecord[]>;
  markDisplayed(ids: readonly string[]): Promise<void>;
  /** The newest `limit` messages (optionally with one peer), oldest first. */
  history(options?: { peer?: string; limit?: number }): Promise<HistoryRecord[]>;
  get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined>;
}

