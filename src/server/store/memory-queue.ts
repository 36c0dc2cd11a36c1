/** The in-memory queue, idempotency records and receipts: same semantics as sqlite-queue.ts, per address. */
import { isGroupRefClientId } from './group-deliveries.js';
import { assertDistinctCopies, envelopeSize, NO_USAGE, QuotaCheck, type Usage } from './quota.js';
import { settledId, type AcceptedCopy, type CopyAddress, type EnqueueInput, type EnqueueManyResult, type EnqueuedCopy, type QueueQuota, type QueuedEnvelope, type Receipt, type Settlement } from './server-store.js';

// Newlines never occur in usernames, so they separate the parts of a key.
const address = (username: string, device: number) => `${username}\n${device}`;
const acceptedKey = (i: Pick<EnqueueInput, 'sender' | 'senderDevice' | 'clientId' | 'recipient' | 'recipientDevice'>) => [i.sender, i.senderDevice, i.clientId, i.recipient, i.recipientDevice].join('\n');

function addTo(map: Map<string, Usage>, key: string, count: number, bytes: number): void {
  const u = map.get(key) ?? NO_USAGE;
  const next = { count: u.count + count, bytes: u.bytes + bytes };
  if (next.count <= 0) map.delete(key);
  else map.set(key, next);
}

export class MemoryQueue {
  /** Per recipient address, in seq order. */
  private readonly queues = new Map<string, Map<string, QueuedEnvelope>>();
  private readonly accepted = new Map<string, { id: string; sentAt: number; expiresAt: number }>();
  /** Per sending address, in seq order. */
  private readonly receipts = new Map<string, Map<string, Receipt & { expiresAt: number }>>();
  private readonly deviceUsage = new Map<string, Usage>();
  private readonly userUsage = new Map<string, Usage>();
  /** Keyed recipient, recipient device, sender. */
  private readonly pairUsage = new Map<string, Usage>();
  private serverBytes = 0;
  private seq = 0;

  enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota): EnqueueManyResult {
    assertDistinctCopies(inputs);
    const earlier = inputs.map((i) => this.accepted.get(acceptedKey(i)));
    const check = new QuotaCheck(quota, {
      device: (r, d) => this.deviceUsage.get(address(r, d)) ?? NO_USAGE,
      user: (r) => this.userUsage.get(r) ?? NO_USAGE,
      pair: (r, d, s) => this.pairUsage.get(`${address(r, d)}\n${s}`) ?? NO_USAGE,
      serverBytes: () => this.serverBytes,
    });
    for (let k = 0; k < inputs.length; k++) {
      const refusal = earlier[k] ? undefined : check.admit(inputs[k]!);
      if (refusal) return refusal;
    }
    const copies = inputs.map((i, k): EnqueuedCopy => {
      const e = earlier[k];
      return e ? { status: 'duplicate', id: e.id, sentAt: e.sentAt } : { status: 'stored', message: this.insert(i) };
    });
    return { status: 'accepted', copies };
  }

  acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Array<AcceptedCopy | undefined> {
    return recipients.map((r) => {
      const record = this.accepted.get(acceptedKey({ sender, senderDevice, clientId, ...r }));
      return record && { id: record.id, sentAt: record.sentAt };
    });
  }

  private insert(input: EnqueueInput): QueuedEnvelope {
    const message: QueuedEnvelope = { ...input, seq: ++this.seq };
    const key = address(input.recipient, input.recipientDevice);
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = new Map()));
    queue.set(message.id, message);
    this.accepted.set(acceptedKey(input), { id: input.id, sentAt: input.sentAt, expiresAt: input.expiresAt });
    this.adjust(message, 1);
    return message;
  }

  private adjust(m: QueuedEnvelope, sign: 1 | -1): void {
    const bytes = sign * envelopeSize(m);
    const device = address(m.recipient, m.recipientDevice);
    addTo(this.deviceUsage, device, sign, bytes);
    addTo(this.userUsage, m.recipient, sign, bytes);
    addTo(this.pairUsage, `${device}\n${m.sender}`, sign, bytes);
    this.serverBytes += bytes;
  }

  pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): QueuedEnvelope[] {
    const out: QueuedEnvelope[] = [];
    for (const m of this.queues.get(address(recipient, device))?.values() ?? []) {
      if (out.length >= limit) break;
      if (m.seq > afterSeq && m.expiresAt > now) out.push(m);
    }
    return out;
  }

  private owe(m: QueuedEnvelope, now: number, expiresAt: number, outcome: Pick<Receipt, 'status' | 'reason'>): Receipt {
    const receipt: Receipt = {
      seq: ++this.seq,
      id: m.id,
      clientId: m.clientId,
      sender: m.sender,
      senderDevice: m.senderDevice,
      recipient: m.recipient,
      recipientDevice: m.recipientDevice,
      deliveredAt: now,
      ...outcome,
    };
    const key = address(m.sender, m.senderDevice);
    let owed = this.receipts.get(key);
    if (!owed) this.receipts.set(key, (owed = new Map()));
    owed.set(m.id, { ...receipt, expiresAt });
    return receipt;
  }

  acknowledge(recipient: string, device: number, settled: readonly Settlement[], now: number, receiptExpiresAt: number): Receipt[] {
    const queue = this.queues.get(address(recipient, device));
    const out: Receipt[] = [];
    for (const s of settled) {
      const m = queue?.get(settledId(s));
      if (!m) continue;
      queue!.delete(m.id);
      this.adjust(m, -1);
      if (isGroupRefClientId(m.clientId)) continue; // a group reference owes no receipt (group-deliveries.ts)
      out.push(this.owe(m, now, receiptExpiresAt, typeof s === 'string' ? { status: 'delivered' } : { status: 'unreadable', reason: s.reason }));
    }
    return out;
  }

  pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number): Receipt[] {
    return [...(this.receipts.get(address(sender, senderDevice))?.values() ?? [])]
      .filter((r) => r.seq > afterSeq)
      .slice(0, limit)
      .map(({ expiresAt: _e, ...r }) => r);
  }

  acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]): void {
    const owed = this.receipts.get(address(sender, senderDevice));
    for (const id of ids) owed?.delete(id);
  }

  /** A removed device's queue leaves with a `removed` receipt per copy; so do the envelopes it sent, without one. */
  removeDeviceQueues(username: string, device: number, now: number, receiptExpiresAt: number): Receipt[] {
    const key = address(username, device);
    const waiting = [...(this.queues.get(key)?.values() ?? [])];
    this.queues.delete(key);
    for (const m of waiting) this.adjust(m, -1);
    const receipts = waiting.filter((m) => !isGroupRefClientId(m.clientId)).map((m) => this.owe(m, now, receiptExpiresAt, { status: 'removed' }));
    for (const queue of this.queues.values()) {
      for (const m of queue.values()) {
        if (m.sender !== username || m.senderDevice !== device) continue;
        queue.delete(m.id);
        this.adjust(m, -1);
      }
    }
    return receipts;
  }

  /** Returns the ids of the receipts that were owed. */
  removeReceiptsOwedTo(username: string, device: number): Set<string> {
    const key = address(username, device);
    const ids = new Set(this.receipts.get(key)?.keys() ?? []);
    this.receipts.delete(key);
    return ids;
  }

  sweepExpired(now: number): number {
    let removed = 0;
    for (const queue of this.queues.values()) {
      for (const m of queue.values()) {
        if (m.expiresAt > now) continue;
        queue.delete(m.id);
        this.adjust(m, -1);
        removed++;
      }
    }
    for (const [key, a] of this.accepted) if (a.expiresAt <= now) this.accepted.delete(key);
    for (const owed of this.receipts.values()) for (const [id, r] of owed) if (r.expiresAt <= now) owed.delete(id);
    return removed;
  }

  userUsageOf(recipient: string): Usage {
    return this.userUsage.get(recipient) ?? NO_USAGE;
  }

  deviceUsageOf(recipient: string, device: number): Usage {
    return this.deviceUsage.get(address(recipient, device)) ?? NO_USAGE;
  }

  pairUsageOf(sender: string, recipient: string, device: number): Usage {
    return this.pairUsage.get(`${address(recipient, device)}\n${sender}`) ?? NO_USAGE;
  }

  serverBytesNow(): number {
    return this.serverBytes;
  }
}
