/**
 * The queue quotas (design §9.4), decided in one place for every store. Each store checks a send inside
 * the transaction that inserts it, with usage read in that same transaction, so two concurrent sends can
 * never both pass a check that only one of them fits. The copies of one send count together: two
 * copies for one user's devices add up in that user's total, and every copy in the server's.
 */
import type { EnqueueInput, QueueQuota, QuotaRefusal } from './server-store.js';

export interface Usage {
  count: number;
  bytes: number;
}

export const NO_USAGE: Usage = Object.freeze({ count: 0, bytes: 0 });

/** What is queued now, read by the store inside the checking transaction. */
export interface UsageReader {
  /** Everything queued for one recipient device. */
  device(recipient: string, device: number): Usage;
  /** Everything queued for all devices of one recipient user. */
  user(recipient: string): Usage;
  /** What one sender (all its devices) has queued for one recipient device. */
  pair(recipient: string, device: number, sender: string): Usage;
  serverBytes(): number;
}

/** The size an envelope counts for in every quota: its JSON text's length. */
export const envelopeSize = (input: EnqueueInput): number => input.envelope.length;

/** Text for an address in messages: `bob` for device 1 (as every v1 user is), `bob's device 2` otherwise. */
const deviceOf = (username: string, device: number) => (device === 1 ? username : `${username}'s device ${device}`);

/**
 * The copies of one send, admitted one by one against usage plus what the copies before them add. The
 * sender's own cap comes first (it names the fix: wait for the recipient), then the recipient device's
 * queue, the recipient user's total, then the server's storage.
 */
export class QuotaCheck {
  private readonly added = new Map<string, Usage>();
  private addedServerBytes = 0;

  constructor(
    private readonly quota: QueueQuota,
    private readonly usage: UsageReader,
  ) {}

  /** Why this copy may not be queued, or undefined; an admitted copy counts against the next ones. */
  admit(input: EnqueueInput): QuotaRefusal | undefined {
    const { sender, recipient, recipientDevice: device } = input;
    const size = envelopeSize(input);
    const q = this.quota;
    const pairKey = `p\n${recipient}\n${device}\n${sender}`;
    const deviceKey = `d\n${recipient}\n${device}`;
    const userKey = `u\n${recipient}`;
    const pair = this.plus(pairKey, this.usage.pair(recipient, device, sender));
    const deviceUsage = this.plus(deviceKey, this.usage.device(recipient, device));
    const user = this.plus(userKey, this.usage.user(recipient));
    const serverBytes = this.usage.serverBytes() + this.addedServerBytes;
    const refuse = (status: QuotaRefusal['status'], message: string): QuotaRefusal => ({ status, message, to: recipient, device });
    const target = deviceOf(recipient, device);
    if (q.senderMaxCount !== undefined && pair.count + 1 > q.senderMaxCount) {
      return refuse('sender_quota_exceeded', `${sender} has the maximum of ${q.senderMaxCount} envelopes queued for ${target}`);
    }
    if (q.senderMaxBytes !== undefined && pair.bytes + size > q.senderMaxBytes) {
      return refuse('sender_quota_exceeded', `${sender}'s envelopes queued for ${target} are at the limit of ${q.senderMaxBytes} bytes`);
    }
    if (deviceUsage.count + 1 > q.maxCount) {
      return refuse('quota_exceeded', `the queue of ${target} holds the maximum of ${q.maxCount} envelopes`);
    }
    if (deviceUsage.bytes + size > q.maxBytes) {
      return refuse('quota_exceeded', `the queue of ${target} is at its limit of ${q.maxBytes} bytes`);
    }
    if (q.userMaxBytes !== undefined && user.bytes + size > q.userMaxBytes) {
      return refuse('quota_exceeded', `the queues of ${recipient}'s devices are at their limit of ${q.userMaxBytes} bytes together`);
    }
    if (q.serverMaxBytes !== undefined && serverBytes + size > q.serverMaxBytes) {
      return refuse('server_full', `the server's queue storage is full (${q.serverMaxBytes} bytes); try again later`);
    }
    for (const key of [pairKey, deviceKey, userKey]) this.add(key, size);
    this.addedServerBytes += size;
    return undefined;
  }

  private plus(key: string, stored: Usage): Usage {
    const mine = this.added.get(key) ?? NO_USAGE;
    return { count: stored.count + mine.count, bytes: stored.bytes + mine.bytes };
  }

  private add(key: string, size: number): void {
    const mine = this.added.get(key) ?? NO_USAGE;
    this.added.set(key, { count: mine.count + 1, bytes: mine.bytes + size });
  }
}

/**
 * Usage read under the lock plus what the sends admitted before in the same transaction add: several
 * sends written together (postgres-send-batch.ts) are each checked as if the earlier ones had committed,
 * and one refused leaves nothing behind for the next.
 */
export class AdmittedUsage implements UsageReader {
  private readonly added = new Map<string, Usage>();
  private addedServerBytes = 0;

  constructor(private readonly locked: UsageReader) {}

  device(recipient: string, device: number): Usage {
    return this.plus(`d\n${recipient}\n${device}`, this.locked.device(recipient, device));
  }

  user(recipient: string): Usage {
    return this.plus(`u\n${recipient}`, this.locked.user(recipient));
  }

  pair(recipient: string, device: number, sender: string): Usage {
    return this.plus(`p\n${recipient}\n${device}\n${sender}`, this.locked.pair(recipient, device, sender));
  }

  serverBytes(): number {
    return this.locked.serverBytes() + this.addedServerBytes;
  }

  /** Counts copies of an admitted send (each already passed its QuotaCheck). */
  admitted(copies: readonly EnqueueInput[]): void {
    for (const c of copies) {
      const size = envelopeSize(c);
      for (const key of [`d\n${c.recipient}\n${c.recipientDevice}`, `u\n${c.recipient}`, `p\n${c.recipient}\n${c.recipientDevice}\n${c.sender}`]) {
        const mine = this.added.get(key) ?? NO_USAGE;
        this.added.set(key, { count: mine.count + 1, bytes: mine.bytes + size });
      }
      this.addedServerBytes += size;
    }
  }

  private plus(key: string, stored: Usage): Usage {
    const mine = this.added.get(key) ?? NO_USAGE;
    return { count: stored.count + mine.count, bytes: stored.bytes + mine.bytes };
  }
}

/**
 * The copies of one send must name no address twice (the server refuses that as bad_request before the
 * store): a second copy for one address would have no idempotency record of its own to be answered from.
 */
export function assertDistinctCopies(inputs: readonly EnqueueInput[]): void {
  const seen = new Set<string>();
  for (const i of inputs) {
    const key = `${i.recipient}\n${i.recipientDevice}`;
    if (seen.has(key)) throw new Error(`enqueueMany: ${i.recipient}/${i.recipientDevice} appears twice in one send`);
    seen.add(key);
  }
}
