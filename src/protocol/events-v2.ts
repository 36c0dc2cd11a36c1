/**
 * The event contract of protocol 2 (docs/design/devices-v2.md §5, §6.3), typed once for server and
 * client as events.ts does for protocol 1. A connection speaks the protocol its login chose (§5.1); the
 * events v2 leaves as they were keep their v1 types.
 */
import type { BlobCreateResult } from './blob-schemas.js';
import type { DeviceListWire } from './device-list-wire.js';
import type { ErrorCode } from './errors.js';
import type { AckResult, BacklogEndEvent, IncomingMessage, PreKeysLowEvent, PresenceEvent, ReceiptEvent, ServerLimits, UserKeys, UsersResult } from './events.js';
import type {
  GroupCommitResult,
  GroupCreateResult,
  GroupEpochStaleDetails,
  GroupInfoResult,
  GroupMessageEvent,
  GroupSendResult,
  GroupSyncResult,
  GroupWelcomeEvent,
  KeyPackagesClaimResult,
  KeyPackagesCountResult,
  KeyPackagesLowEvent,
  KeyPackagesUploadResult,
} from './group-schemas.js';
import type { KemPreKeyWire, OneTimePreKeyWire, PreKeyCountResult, SignedPreKeyWire } from './prekey-schemas.js';

/** The protocols this code speaks; a connection is one of them from its login on. */
export const PROTOCOL_VERSIONS = [1, 2] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

/**
 * Client → server event names of a protocol-2 connection: v1's (protocol 2 only adds), the device and link
 * events, and the MLS Delivery Service's (docs/design/groups-mls.md §5).
 */
export const CLIENT_EVENTS_V2 = [
  'challenge',
  'register',
  'login',
  'keys',
  'users',
  'send',
  'ack',
  'prekeys.upload',
  'prekeys.count',
  'prekeys.bundle',
  'blob.create',
  'devices.list',
  'devices.publish',
  'link.open',
  'link.join',
  'link.send',
  'link.close',
  'mls.keypackages.upload',
  'mls.keypackages.count',
  'mls.keypackages.claim',
  'group.create',
  'group.commit',
  'group.send',
  'group.sync',
  'group.info',
] as const satisfies readonly string[];
export type ClientEventNameV2 = (typeof CLIENT_EVENTS_V2)[number];

/** Events a connection may use before it has logged in, in protocol 2: `link.open` joins v1's three (§6.3). */
export const UNAUTHENTICATED_EVENTS_V2: ReadonlySet<string> = new Set(['challenge', 'register', 'login', 'link.open']);
/** Events a *linking* connection (one that opened a link slot) may use until it logs in (§6.3). */
export const LINKING_EVENTS: ReadonlySet<string> = new Set(['challenge', 'login', 'link.open', 'link.send', 'link.close']);

/** `details` of a `devices_changed` refusal (§5.5.4): one entry per user of the send or bundle request. */
export interface DevicesChangedDetails {
  users: DeviceSetChange[];
}
export interface DeviceSetChange {
  username: string;
  /** Devices of the current list the request did not name. */
  missing: number[];
  /** Devices the request named that the current list does not hold. */
  stale: number[];
  /** The current signed list, or null for a user without one (served as device 1 alone). */
  deviceList: DeviceListWire | null;
}
/** `details` of `quota_exceeded` and `sender_quota_exceeded` (§9.4): whose queue is full. */
export interface QuotaDetails {
  to: string;
  device: number;
}
export type ErrorDetails = DevicesChangedDetails | QuotaDetails | GroupEpochStaleDetails;

/** The error object of a refusal in protocol 2: v1's, with `details` for the codes that carry some. */
export interface WireErrorV2 {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}
export type AckV2<T> = ({ ok: true } & T) | { ok: false; error: WireErrorV2 };

/** The `challenge` answer names the protocols the server speaks (absent from 0.1 servers). */
export interface ChallengeResultV2 {
  challenge: string;
  protocols: number[];
}

export interface ServerLimitsV2 extends ServerLimits {
  maxDevicesPerUser: number;
  maxEnvelopesPerSend: number;
}
/** Answer to a v2 `register` or `login`: the connection is now this address, speaking protocol 2. */
export interface SessionResultV2 {
  username: string;
  device: number;
  protocol: 2;
  registered: boolean;
  limits: ServerLimitsV2;
}

export interface DeviceLastSeen {
  device: number;
  /** When the server last saw this device log in or acknowledge (its word, unsigned). */
  at: number;
}
export interface DevicesListResult {
  username: string;
  deviceList: DeviceListWire | null;
  /** Only when the caller asked about itself: peers do not learn when someone was online. */
  lastSeen?: DeviceLastSeen[];
}
export interface DevicesPublishResult {
  version: number;
}

/** One device's copy of a v2 `send`, answered in the order of `messages`. */
export interface Delivery {
  to: string;
  device: number;
  id: string;
  sentAt: number;
  status: 'delivered' | 'queued';
  duplicate?: true;
}
export interface SendResultV2 {
  deliveries: Delivery[];
}

/** One device's bundle: v1's bundle for that device, `identity.signingKey` being the device's own key. */
export interface DeviceBundleWire {
  device: number;
  identity: { signingKey: string; dhKey: string; binding: string };
  signedPreKey: SignedPreKeyWire;
  kemPreKey: KemPreKeyWire;
  oneTimePreKey?: OneTimePreKeyWire;
}
export interface PreKeyBundlesResult {
  username: string;
  bundles: DeviceBundleWire[];
}

export interface LinkOpenResult {
  slot: string;
  expiresAt: number;
}
export interface LinkJoinResult {
  slot: string;
  /** The new device's `sid` (16 bytes, base64url), the second half of CPace's session id. */
  sid: string;
}
/** The answer of events whose success says nothing more (`link.send`, `link.close`). */
export type EmptyResult = Record<string, never>;

/** The members of each event's ok-answer on a protocol-2 connection. */
export interface ClientEventResultsV2 {
  challenge: ChallengeResultV2;
  register: SessionResultV2;
  login: SessionResultV2;
  keys: UserKeys;
  users: UsersResult;
  send: SendResultV2;
  ack: AckResult;
  'prekeys.upload': PreKeyCountResult;
  'prekeys.count': PreKeyCountResult;
  'prekeys.bundle': PreKeyBundlesResult;
  'blob.create': BlobCreateResult;
  'devices.list': DevicesListResult;
  'devices.publish': DevicesPublishResult;
  'link.open': LinkOpenResult;
  'link.join': LinkJoinResult;
  'link.send': EmptyResult;
  'link.close': EmptyResult;
  'mls.keypackages.upload': KeyPackagesUploadResult;
  'mls.keypackages.count': KeyPackagesCountResult;
  'mls.keypackages.claim': KeyPackagesClaimResult;
  'group.create': GroupCreateResult;
  'group.commit': GroupCommitResult;
  'group.send': GroupSendResult;
  'group.sync': GroupSyncResult;
  'group.info': GroupInfoResult;
}

/** Server → client: an envelope for this address, from the sending address. */
export interface IncomingMessageV2 extends IncomingMessage {
  fromDevice: number;
  toDevice: number;
}

/** Server → client: one device's copy was settled; `removed` when the device was removed before (§8.2). */
export interface ReceiptEventV2 extends Omit<ReceiptEvent, 'status'> {
  toDevice: number;
  status: 'delivered' | 'unreadable' | 'removed';
}

/** Server → client: the user's device list has a new version (to every device of the user). */
export interface DevicesChangedEvent {
  username: string;
  version: number;
}
/** Server → client: this device was removed by the list of `version`; the server disconnects it. */
export interface DeviceRemovedEvent {
  username: string;
  device: number;
  version: number;
}

/** Server → client (the new device): the primary joined its slot. */
export interface LinkJoinedEvent {
  slot: string;
  /** The primary's `sid`, the first half of CPace's session id. */
  sid: string;
  device: number;
}
/** Server → client: a frame from the other party of a slot, in the order it was sent. */
export interface LinkDataEvent {
  slot: string;
  data: string;
}
export const LINK_CLOSE_REASONS = ['closed', 'disconnected', 'expired'] as const;
export type LinkCloseReason = (typeof LINK_CLOSE_REASONS)[number];
/** Server → client: the slot is gone; `closed` by the other party, its connection dropped, or expired. */
export interface LinkClosedEvent {
  slot: string;
  reason: LinkCloseReason;
}

export interface ProtocolErrorEventV2 {
  event: string;
  error: WireErrorV2;
}

/** Server → client events of protocol 2. */
export interface ServerToClientEventsV2 {
  message: (m: IncomingMessageV2) => void;
  presence: (p: PresenceEvent) => void;
  receipt: (r: ReceiptEventV2) => void;
  /** Only to a connection that asked for batches in its handshake (receipt-batches.ts, PROTOCOL.md §7.12). */
  receipts: (b: { receipts: ReceiptEventV2[] }) => void;
  'prekeys.low': (p: PreKeysLowEvent) => void;
  /** As protocol 1's (PROTOCOL.md §7.11), for the connection's address: its device's backlog is pushed. */
  'backlog.end': (b: BacklogEndEvent) => void;
  protocol_error: (e: ProtocolErrorEventV2) => void;
  'devices.changed': (e: DevicesChangedEvent) => void;
  'device.removed': (e: DeviceRemovedEvent) => void;
  'link.joined': (e: LinkJoinedEvent) => void;
  'link.data': (e: LinkDataEvent) => void;
  'link.closed': (e: LinkClosedEvent) => void;
  /** A group's log entry through this device's queue; settled with `ack` as `message` is. */
  'group.message': (e: GroupMessageEvent) => void;
  /** The Welcome of a commit that added this device, through its queue; settled with `ack`. */
  'group.welcome': (e: GroupWelcomeEvent) => void;
  /** This device's one-time KeyPackages ran low after a claim. */
  'mls.keypackages.low': (e: KeyPackagesLowEvent) => void;
}
