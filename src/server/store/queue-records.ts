/**
 * The records of a device's queue as the stores take and give them: one copy of a message for one
 * device, what the store adds to it, and the quotas a copy is checked against. Apart from server-store.ts
 * so that the group records (group-records.ts), which queue references to group log entries, and the
 * ServerStore interface, which is made of both, need not import each other.
 */

/** What `send` hands the store for one copy of a message: one envelope for one device. The envelope is opaque JSON text. */
export interface EnqueueInput {
  /** The server's id for this copy. */
  id: string;
  sender: string;
  senderDevice: number;
  recipient: string;
  recipientDevice: number;
  /** The sender's id for the message, for idempotent resends (the same for every copy of one send). */
  clientId: string;
  sentAt: number;
  expiresAt: number;
  envelope: string;
}

/** The recipient address of one copy. */
export interface CopyAddress {
  recipient: string;
  recipientDevice: number;
}

/** What an idempotency record keeps of the copy it accepted first. */
export interface AcceptedCopy {
  id: string;
  sentAt: number;
}

/** An envelope waiting for its recipient device to acknowledge it. */
export interface QueuedEnvelope extends EnqueueInput {
  /** Store order: strictly increasing in the order envelopes were accepted. */
  seq: number;
}

/**
 * Caps checked in the transaction that queues envelopes (store/quota.ts, design §9.4); an absent cap is
 * no cap. Checked in the order sender, device, user, server.
 */
export interface QueueQuota {
  /** Everything queued for one recipient device. */
  maxCount: number;
  maxBytes: number;
  /** Bytes queued for all devices of one recipient user: six idle devices cannot take six device quotas. */
  userMaxBytes?: number;
  /** What one sender may have queued for one recipient device: no single account can fill a victim's queue. */
  senderMaxCount?: number;
  senderMaxBytes?: number;
  /** Bytes of envelopes queued on the whole server. */
  serverMaxBytes?: number;
}

/** A copy that does not fit; `to` and `device` name it (the `details` of the wire error, §9.4). */
export interface QuotaRefusal {
  status: 'quota_exceeded' | 'sender_quota_exceeded' | 'server_full';
  message: string;
  to: string;
  device: number;
}
