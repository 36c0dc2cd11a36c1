/**
 * The event contract between server and client, typed once and shared, so both sides agree at compile
 * time. Every client event carries an ack callback; every ack is an `Ack<T>`.
 */
import type { ErrorCode } from './errors.js';
import type { Ed25519PublicJwkWire, Envelope, Rsa2048PublicJwkWire } from './schemas.js';

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: { code: ErrorCode; message: string } };

export interface UserKeys {
  username: string;
  signingKey: Ed25519PublicJwkWire;
  encryptionKey: Rsa2048PublicJwkWire;
  registeredAt: number;
}

export interface ChallengeResult { challenge: string }
export interface SessionResult { username: string; registered: boolean }
export interface UsersResult { users: string[] }
export interface SendResult {
  id: string;
  sentAt: number;
  /** delivered: stored and pushed to a connected device; queued: stored for an offline recipient. */
  status: 'delivered' | 'queued';
  /** Present and true when this client message id had been accepted before: nothing new was stored. */
  duplicate?: true;
}
export interface AckResult { acknowledged: number }

/** Server → client: an envelope this user sent reached one of the recipient's devices. */
export interface ReceiptEvent {
  /** The server id of the envelope. */
  id: string;
  /** The sender's id of the message (the `id` given to `send`). */
  clientId: string;
  to: string;
  deliveredAt: number;
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
export const CLIENT_EVENTS = ['challenge', 'register', 'login', 'keys', 'users', 'send', 'ack', 'prekeys.upload', 'prekeys.count', 'prekeys.bundle'] as const;
export type ClientEventName = (typeof CLIENT_EVENTS)[number];

/** Events a connection may use before it has logged in. */
export const UNAUTHENTICATED_EVENTS: ReadonlySet<string> = new Set(['challenge', 'register', 'login']);

export interface ServerToClientEvents {
  message: (m: IncomingMessage) => void;
  presence: (p: PresenceEvent) => void;
  receipt: (r: ReceiptEvent) => void;
  protocol_error: (e: ProtocolErrorEvent) => void;
}
