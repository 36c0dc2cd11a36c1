/** The ChatClient's public types: its options, its identity and the events it emits. */
import type { DeviceSecrets } from './device-secrets.js';
import type { Ed25519PublicJwk, RsaPublicJwk, UserKeyPairs } from '../crypto/keys.js';
import type { ChatError } from '../protocol/errors.js';
import type { PresenceEvent } from '../protocol/events.js';
import type { BlobHttp } from './blob-transfer.js';
import type { HistoryReceived } from './history-inbound.js';
import type { GroupHistoryStore } from './groups/group-history.js';
import type { GroupStore } from './groups/group-store.js';
import type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from './groups/group-runtime.js';
import type { TriedLinkCodes } from './stores.js';
import type { DeliveredReceipt, ReadReceipt, ReceivedMessage, RejectedMessage, UnreadableReceipt } from './inbound.js';
import type { SentMessage } from './outbox-sender.js';
import type { CaughtUp } from './receive-loop.js';
import type { RatchetStore } from './ratchet-store.js';
import type { ConnectionOptions } from './server-connection.js';
import type { MessageStore, PeerKeyStore, PinnedPeer } from './stores.js';

export interface ClientIdentity {
  username: string;
  /** This device's id in the user's list (default 1: the primary, whose keys are the account keys). */
  device?: number;
  /**
   * This device's own keys (for the primary, the account keys): the JWK pair of the CLI's folder, or
   * DeviceSecrets (device-secrets.ts) whose private halves WebCrypto holds, as a browser keeps them. The
   * client uses either only to sign and decrypt, never reading a secret's bytes.
   */
  keys: UserKeyPairs | DeviceSecrets;
  /**
   * The account's public keys, the ones peers pin and the user's list is signed with: needed by a linked
   * device, whose own keys are not the account's. Absent: this device's keys are the account's (device 1).
   */
  account?: { signingKey: Ed25519PublicJwk; encryptionKey: RsaPublicJwk };
}

export interface ChatClientEvents {
  /** A new message, already recorded in the message store: emitted once per message id, ever. */
  message: ReceivedMessage;
  /**
   * An incoming envelope that could not be read, already recorded in the message store as an unreadable
   * record (`recordId`, undisplayed): emitted once per envelope. The sender gets an unreadable receipt.
   */
  rejected: RejectedMessage;
  /** The server accepted an outgoing message (status sent: pushed to a connected device; queued). */
  sent: SentMessage;
  /** A device of the recipient stored its copy of an outgoing message (delivery receipt), once per device. */
  delivered: DeliveredReceipt;
  /** A device of the recipient could not read an outgoing message (unreadable receipt, with the reason). */
  unreadable: UnreadableReceipt;
  /**
   * A peer's client showed them messages this user sent them (an end-to-end encrypted read receipt):
   * `ids` are recorded as read. Only messages that went to that peer, and once each.
   */
  read: ReadReceipt;
  /** An outgoing message will not go out (refused for good, or kept failing): marked failed in the outbox and history. */
  failed: { id: string; to: string; error: ChatError };
  presence: PresenceEvent;
  /**
   * The server says that everything queued for this user when this connection logged in has been pushed,
   * and every message pushed before that word has been handled here (recorded and emitted, its ack
   * queued). Once per login. It is only the server's word: a lying server can say it early (messages it
   * kept back arrive later, and are handled as usual) or never (then nothing says the backlog is over).
   */
  caughtUp: CaughtUp;
  /**
   * History from this user's primary, sent when it linked this device (docs/PROTOCOL.md §21.3.1): `items`
   * records, of which `recorded` were new here. Already in the message store, displayed: history, not new
   * messages (no `message` event for them). `id` names the history message: one seen again (redelivered
   * after a crash) comes with `recorded` 0.
   */
  history: HistoryReceived;
  /**
   * A reconnect's login was refused for good because the server binds this user's name to other keys now
   * (`username_taken`): the client stopped (no more reconnecting); its stores stay as they are.
   */
  refused: { error: ChatError };
  /** The connection dropped; it reconnects by itself, with backoff, and logs in again. */
  disconnected: { reason: string };
  /** Logged in again after a reconnect. */
  reconnected: { username: string };
  /**
   * This device was removed from its user's device list: the server said so (`device.removed` naming this
   * very address; one naming another address is only a debug event), or refused a login on a reconnect
   * with `unknown_device`. Emitted once. The client then stops for good (no more reconnects); its local
   * stores stay as they are, and sends go to the outbox as when offline. A removal found by the first
   * login is not an event: `connect` rejects with the ChatError `unknown_device`.
   */
  removed: { username: string; device: number; error: ChatError };
  /**
   * The user accepted keys for a peer (trustPeer): the pin now holds `current`. Messages kept sealed
   * while that peer's keys were refused can be opened from here.
   */
  trusted: { username: string; previous: PinnedPeer | undefined; current: PinnedPeer };
  /** A message in a group (MLS, docs/design/groups-mls.md): its sender's user and device, the group, the text. */
  groupMessage: GroupMessageEvent;
  /** A group's members changed (a commit applied), this device joined one, or left or was removed from one. */
  groupMembership: GroupMembershipEvent;
  /**
   * A group message this device refused: a handshake adding a device its user's verified list does not
   * vouch for, a sender dropped from its list, a replay, or anything that did not decrypt.
   */
  groupRefused: GroupRefusalEvent;
  /**
   * Debug detail that must not reach end users (e.g. which decryption check failed, or a listener of
   * another event that threw: listeners are isolated, and their failures are reported here).
   */
  debug: { message: string; cause?: unknown };
}

interface ChatClientCommonOptions {
  url: string;
  identity: ClientIdentity;
  peers: PeerKeyStore;
  messages: MessageStore;
  ackTimeoutMs?: number;
  /** How long received ids wait to be acknowledged in one batch. */
  ackDelayMs?: number;
  reconnect?: ConnectionOptions['reconnect'];
  /**
   * Whether markRead sends read receipts (default true). Off, the client still records and shows the
   * receipts peers send; it only sends none.
   */
  readReceipts?: boolean;
  /** Register the name at login if the server does not know it (default true); see ConnectionOptions. */
  register?: boolean;
  /** Passed to socket.io-client (e.g. transports). */
  socketOptions?: ConnectionOptions['socketOptions'];
  /**
   * The HTTP client for blobs (files): fetch by default; node:http on Node (node/node-blob-http.ts).
   * Tests pass one that breaks on cue.
   */
  blobHttp?: BlobHttp;
  /**
   * The link codes this device ran as the primary (approveDevice), so that each runs once: a durable
   * one shared by every process of the user (a file on Node). Default: kept in memory, this client only.
   */
  triedLinkCodes?: TriedLinkCodes;
}

/**
 * Groups take two stores, or none. `groups`: where this device keeps its groups (MLS states and
 * KeyPackage private halves): SqliteRatchetStore's `groups()` on Node, IdbGroupStore in a browser,
 * MemoryGroupStore for tests. `groupHistory`: what was said and changed in them (groups/group-history.ts),
 * recorded by the client before the server is told an entry was handled; SqliteGroupHistory on Node,
 * IdbGroupHistory in a browser, MemoryGroupHistory for tests. Required with `groups`, never defaulted: a
 * history in memory would lose for good, at the next start, texts the server no longer holds for this
 * device. Absent both: this client takes no part in groups (it publishes no KeyPackages, and its group
 * calls fail with `bad_request`).
 */
export type ChatClientGroupOptions = { groups?: undefined; groupHistory?: undefined } | { groups: GroupStore; groupHistory: GroupHistoryStore };

/**
 * How messages are sent: 'ratchet' (the default: PQXDH + Double Ratchet sessions, forward secret) or
 * 'hybrid' (the seed's envelope, no forward secrecy). Ratchet mode needs a RatchetStore for sessions and
 * prekeys: a durable one (SqliteRatchetStore on Node) unless losing every session with the process is
 * acceptable (MemoryRatchetStore, for tests and throwaway clients). A hybrid client given a store still
 * publishes prekeys and opens ratchet envelopes.
 */
export type ChatClientOptions = ChatClientCommonOptions &
  ChatClientGroupOptions &
  ({ mode?: 'ratchet'; ratchet: RatchetStore } | { mode: 'hybrid'; ratchet?: RatchetStore });
