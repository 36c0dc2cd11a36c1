/**
 * The queue quotas, decided in one place for every store. Each store calls `quotaRefusal` inside the
 * transaction that inserts the envelope, with usage read in that same transaction, so two concurrent
 * sends can never both pass a check that only one of them fits.
 */
import type { EnqueueResult, QueueQuota } from './server-store.js';

export interface Usage {
  count: number;
  bytes: number;
}

export interface QueueUsageNow {
  /** Everything queued for the recipient. */
  recipient: Usage;
  /** What this sender has queued for this recipient. */
  pair: Usage;
  /** Bytes queued on the whole server. */
  serverBytes: number;
}

type Refusal = Extract<EnqueueResult, { status: 'quota_exceeded' | 'sender_quota_exceeded' | 'server_full' }>;

/**
 * Why an envelope of `size` bytes from `sender` to `recipient` may not be queued, or undefined. The
 * sender's own cap comes first (it names the fix: wait for the recipient), then the recipient's queue,
 * then the server's storage.
 */
export function quotaRefusal(sender: string, recipient: string, size: number, quota: QueueQuota, usage: QueueUsageNow): Refusal | undefined {
  if (quota.senderMaxCount !== undefined && usage.pair.count + 1 > quota.senderMaxCount) {
    return { status: 'sender_quota_exceeded', message: `${sender} has the maximum of ${quota.senderMaxCount} envelopes queued for ${recipient}` };
  }
  if (quota.senderMaxBytes !== undefined && usage.pair.bytes + size > quota.senderMaxBytes) {
    return { status: 'sender_quota_exceeded', message: `${sender}'s envelopes queued for ${recipient} are at the limit of ${quota.senderMaxBytes} bytes` };
  }
  if (usage.recipient.count + 1 > quota.maxCount) {
    return { status: 'quota_exceeded', message: `${recipient}'s queue holds the maximum of ${quota.maxCount} envelopes` };
  }
  if (usage.recipient.bytes + size > quota.maxBytes) {
    return { status: 'quota_exceeded', message: `${recipient}'s queue is at its limit of ${quota.maxBytes} bytes` };
  }
  if (quota.serverMaxBytes !== undefined && usage.serverBytes + size > quota.serverMaxBytes) {
    return { status: 'server_full', message: `the server's queue storage is full (${quota.serverMaxBytes} bytes); try again later` };
  }
  return undefined;
}
