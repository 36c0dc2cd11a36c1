/**
 * The rows both SQL stores read (SQLite and PostgreSQL: the two schemas name and type these columns
 * alike), and their conversion to the ServerStore's records: users, device lists and devices, prekeys,
 * the queue and receipts. Only the statements differ between the stores; what a row means is here once.
 */
import type { RejectReason } from '../../protocol/events.js';
import type { IdentityKeyWire, KemPreKeyWire, PreKeyCountResult, SignedPreKeyWire } from '../../protocol/prekey-schemas.js';
import type { QueuedEnvelope, Receipt, StoredDevice, StoredDeviceList, UserRecord } from './server-store.js';

// ---- users ----

export interface UserRow {
  username: string;
  signing_key: string;
  encryption_key: string;
  signing_key_thumbprint: string;
  encryption_key_thumbprint: string;
  registered_at: number;
}

export function userFromRow(row: UserRow): UserRecord {
  return {
    username: row.username,
    signingKey: JSON.parse(row.signing_key),
    encryptionKey: JSON.parse(row.encryption_key),
    signingKeyThumbprint: row.signing_key_thumbprint,
    encryptionKeyThumbprint: row.encryption_key_thumbprint,
    registeredAt: row.registered_at,
  };
}

// ---- device lists ----

export interface ListRow {
  username: string;
  version: number;
  max_device_id: number;
  list: string;
  signature: string;
  updated_at: number;
}

export interface DeviceRow {
  device_id: number;
  signing_key: string;
  dh_key: string;
  encryption_key_n: string;
  name: string;
  added_at: number;
  last_seen_at: number | null;
}

export const deviceFromRow = (r: DeviceRow): StoredDevice => ({
  device: r.device_id,
  signingKey: r.signing_key,
  dhKey: r.dh_key,
  encryptionKeyN: r.encryption_key_n,
  name: r.name,
  addedAt: r.added_at,
  lastSeenAt: r.last_seen_at,
});

/** A user's stored device list from its list row and its device rows (SQLite and PostgreSQL alike). */
export const listFromRows = (row: ListRow, devices: readonly DeviceRow[]): StoredDeviceList => ({
  username: row.username,
  version: row.version,
  maxDeviceId: row.max_device_id,
  list: row.list,
  signature: row.signature,
  updatedAt: row.updated_at,
  devices: devices.map(deviceFromRow),
});

// ---- prekeys ----

export type PreKeyKind = 'x25519' | 'mlkem1024';

export interface IdentityRow {
  identity_key: string;
  binding: string;
  signed_prekey: string | null;
  last_resort_kem_prekey: string | null;
}

export interface OneTimeRow {
  id: number;
  public_key: string;
  signature: string | null;
}

/** A device's long-lived keys, as a bundle carries them. */
export interface Published {
  identity: IdentityKeyWire;
  signedPreKey: SignedPreKeyWire;
  lastResort: KemPreKeyWire;
}

const parse = <T>(json: string | null): T | undefined => (json === null ? undefined : (JSON.parse(json) as T));

/** The stored signed prekey, or none (none stored, or `row` absent). */
export const signedPreKeyOf = (row: IdentityRow | undefined): SignedPreKeyWire | undefined => parse<SignedPreKeyWire>(row?.signed_prekey ?? null);
/** The stored last-resort ML-KEM prekey, or none. */
export const lastResortOf = (row: IdentityRow | undefined): KemPreKeyWire | undefined => parse<KemPreKeyWire>(row?.last_resort_kem_prekey ?? null);

/** The long-lived keys a bundle needs, or undefined while the device lacks its signed or last-resort key. */
export function publishedFromRow(row: IdentityRow | undefined): Published | undefined {
  const signedPreKey = signedPreKeyOf(row);
  const lastResort = lastResortOf(row);
  if (!row || !signedPreKey || !lastResort) return undefined;
  return { identity: { dhKey: row.identity_key, binding: row.binding }, signedPreKey, lastResort };
}

/** What a device holds on the server, from its identity row and its one-time key ids. */
export function preKeyCountsOf(row: IdentityRow | undefined, oneTimeIds: number[], kemOneTimeIds: number[]): PreKeyCountResult {
  return {
    identityKey: row?.identity_key ?? null,
    signedPreKeyId: signedPreKeyOf(row)?.id ?? null,
    lastResortKemPreKeyId: lastResortOf(row)?.id ?? null,
    oneTime: oneTimeIds.length,
    kemOneTime: kemOneTimeIds.length,
    oneTimeIds,
    kemOneTimeIds,
  };
}

// ---- the queue and receipts ----

export interface QueueRow {
  seq: number;
  id: string;
  recipient: string;
  recipient_device: number;
  sender: string;
  sender_device: number;
  client_id: string;
  sent_at: number;
  expires_at: number;
  envelope: string;
}

export interface ReceiptRow {
  seq: number;
  id: string;
  client_id: string;
  sender: string;
  sender_device: number;
  recipient: string;
  recipient_device: number;
  delivered_at: number;
  status: string;
  reason: string | null;
}

/** A row that left the queue, for the usage it frees (and the receipt it may leave). */
export interface RemovedRow {
  seq: number;
  id: string;
  recipient: string;
  recipient_device: number;
  sender: string;
  sender_device: number;
  client_id: string;
  size: number;
}

export const queuedFromRow = (r: QueueRow): QueuedEnvelope => ({
  id: r.id,
  seq: r.seq,
  sender: r.sender,
  senderDevice: r.sender_device,
  recipient: r.recipient,
  recipientDevice: r.recipient_device,
  clientId: r.client_id,
  sentAt: r.sent_at,
  expiresAt: r.expires_at,
  envelope: r.envelope,
});

/** What a receipt says of its copy. */
export type Outcome = Pick<Receipt, 'status' | 'reason'>;

// Written by the stores only: status from a parsed ack or a device removal, reason from a RejectReason.
function outcomeFromRow(r: ReceiptRow): Outcome {
  if (r.status === 'unreadable') return { status: 'unreadable', reason: (r.reason ?? 'decryption_failed') as RejectReason };
  if (r.status === 'removed') return { status: 'removed' };
  return { status: 'delivered' };
}

export const receiptFromRow = (r: ReceiptRow): Receipt => ({
  seq: r.seq,
  id: r.id,
  clientId: r.client_id,
  sender: r.sender,
  senderDevice: r.sender_device,
  recipient: r.recipient,
  recipientDevice: r.recipient_device,
  deliveredAt: r.delivered_at,
  ...outcomeFromRow(r),
});

export const QUEUE_COLUMNS = 'seq, id, recipient, recipient_device, sender, sender_device, client_id, sent_at, expires_at, envelope';
export const RECEIPT_COLUMNS = 'seq, id, client_id, sender, sender_device, recipient, recipient_device, delivered_at, status, reason';
export const REMOVED_COLUMNS = 'seq, id, recipient, recipient_device, sender, sender_device, client_id, size';

/** The receipt a removed row leaves its sender: stored under `seq`, delivered (or not) at `deliveredAt`. */
export const receiptForRemoved = (r: RemovedRow, seq: number, deliveredAt: number, outcome: Outcome): Receipt => ({
  seq,
  id: r.id,
  clientId: r.client_id,
  sender: r.sender,
  senderDevice: r.sender_device,
  recipient: r.recipient,
  recipientDevice: r.recipient_device,
  deliveredAt,
  ...outcome,
});
