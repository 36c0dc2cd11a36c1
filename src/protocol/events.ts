/**
 * The event contract between server and client, typed once and shared, so both sides agree at compile
 * time. Every client event carries an ack callback; every ack is an `Ack<T>`.
 */
import type { ErrorCode, RejectReason } from './errors.js';
import type { Ed25519PublicJwkWire, Envelope, Rsa2048PublicJwkWire } from './schemas.js';

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: { code: ErrorCode; message: string } };

export interface UserKeys {
  username: string;
  signingKey: Ed25519PublicJwkWire;
  encryptionKey: Rsa2048PublicJwkWire;
  registeredAt: number;
}

export interface ChallengeResult { challenge: string }
export interface SessionResult {
  username: string;
  registered: boolean;
  /** The server's limits that a client must respect before sending (absent from servers before 0.2). */
  limits?: ServerLimits;
}
export interface ServerLimits {
  /** Largest envelope (its JSON text, in bytes) `send` accepts; larger ones get `envelope_too_large`. */
  maxEnvelopeBytes: number;
  /** Largest file (before padding) the blob store takes (docs/PROTOCOL.md §20); absent from servers without files. */
  maxAttachmentBytes?: number;
}
export interface UsersResult { users: string[] }
export interface SendResult {
  id: string;
  sentAt: number;
  /**
   * Where the stored envelope went (not whether it was read: that is the receipt's job).
   * delivered: pushed at once to a connected device of the recipient (the wire value predates the
   * receipt statuses; read it as "pushed"); queued: stored for a recipient who is offline or whose
   * delivery window is full.
   */
  status: 'delivered' | 'queued';
  /** Present and true when this client message id had been accepted before: nothing new was stored. */
  duplicate?: true;
}
export interface AckResult { acknowledged: number }

export { REJECT_REASONS, type RejectReason } from './errors.js';

/**
 * Server → client: a device of the recipient settled an envelope this user sent. `status` delivered: it
 * stored the message; unreadable: it could not read it (`reason` says why). Absent `status` (servers
 * before 0.2) means delivered.
 */
export interface ReceiptEvent {
  /** The server id of the envelope. */
  id: string;
  /** The sender's id of the message (the `id` given to `send`). */
  clientId: string;
  to: string;
  deliveredAt: number;
  status?: 'delivered' | 'unreadable';
  reason?: RejectReason;
}

/**
 * Server → client: this user's stock of one-time prekeys fell below PREKEY_LOW_THRESHOLD (a bundle
 * fetch took one): a running client refills without waiting for its next login.
 */
export interface PreKeysLowEvent {
  oneTime: number;
  kemOneTime: number;
}

/**
 * Server → client, once per logged-in connection: every envelope queued for this user when the
 * connection logged in has now been pushed on it (`count` pushes went out before this event). Only the
 * server's word: the client cannot check it, and a lying server can send it early or never.
 */
export interface BacklogEndEvent {
  count: number;
}

/** Server → client: an envelope routed to this user. `from`, `id` and `sentAt` are stamped by the server. */
export interface IncomingMessage {
  id: string;
  from: string;
  to: string;
  sentAt: number;
  envelope: Envelope;
}

export interface PresenceEvent {
  username: string;
  online: boolean;
}

export interface ProtocolErrorEvent {
  event: string;
  error: { code: ErrorCode; message: string };
}

/** Client → server event names. */
export const CLIENT_EVENTS = ['challenge', 'register', 'login', 'keys', 'users', 'send', 'ack', 'prekeys.upload', 'prekeys.count', 'prekeys.bundle', 'blob.create'] as const;
export type ClientEventName = (typeof CLIENT_EVENTS)[number];

/** Events a connection may use before it has logged in. */
export const UNAUTHENTICATED_EVENTS: ReadonlySet<string> = new Set(['challenge', 'register', 'login']);

export interface ServerToClientEvents {
  message: (m: IncomingMessage) => void;
  presence: (p: PresenceEvent) => void;
  receipt: (r: ReceiptEvent) => void;
  /** Only to a connection that asked for batches in its handshake (receipt-batches.ts, PROTOCOL.md §7.12). */
  receipts: (b: { receipts: ReceiptEvent[] }) => void;
  'prekeys.low': (p: PreKeysLowEvent) => void;
  'backlog.end': (b: BacklogEndEvent) => void;
  protocol_error: (e: ProtocolErrorEvent) => void;
}
