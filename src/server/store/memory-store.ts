/**
 * The in-memory reference store: same semantics as SQLite, nothing survives a restart. For tests and as
 * the baseline the durable store is measured against.
 */
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { MemoryPreKeyDirectory } from './memory-prekeys.js';
import { quotaRefusal, type Usage } from './quota.js';
import { settledId, type EnqueueInput, type EnqueueResult, type PreKeyUpload, type QueueQuota, type QueuedEnvelope, type Receipt, type ServerStore, type Settlement, type TakenPreKeyBundle, type UserRecord } from './server-store.js';

const NO_USAGE: Usage = { count: 0, bytes: 0 };
const pairKey = (recipient: string, sender: string) => `${recipient}\n${sender}`;

function addTo(map: Map<string, Usage>, key: string, count: number, bytes: number): void {
  const u = map.get(key) ?? NO_USAGE;
  const next = { count: u.count + count, bytes: u.bytes + bytes };
  if (next.count <= 0) map.delete(key);
  else map.set(key, next);
}

export class MemoryServerStore implements ServerStore {
  private readonly users = new Map<string, UserRecord>();
  /** Per recipient, in seq order. */
  private readonly queues = new Map<string, Map<string, QueuedEnvelope>>();
  private readonly accepted = new Map<string, { id: string; sentAt: number; expiresAt: number }>();
  private readonly receipts = new Map<string, Map<string, Receipt & { expiresAt: number }>>();
  private readonly usage = new Map<string, Usage>();
  /** Keyed `${recipient}\n${sender}` (newlines never occur in usernames). */
  private readonly pairUsage = new Map<string, Usage>();
  private serverBytes = 0;
  private readonly preKeys = new MemoryPreKeyDirectory();
  private seq = 0;

  async getUser(username: string) {
    return this.users.get(username);
  }

  async createUser(record: UserRecord) {
    const existing = this.users.get(record.username);
    if (existing) return { created: false, record: existing };
    this.users.set(record.username, record);
    return { created: true, record };
  }

  async enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void): Promise<EnqueueResult> {
    const result = this.enqueueNow(input, quota);
    committed?.(result);
    return result;
  }

  private enqueueNow(input: EnqueueInput, quota: QueueQuota): EnqueueResult {
    const acceptedKey = `${input.sender}\n${input.clientId}`;
    const earlier = this.accepted.get(acceptedKey);
    if (earlier) return { status: 'duplicate', id: earlier.id, sentAt: earlier.sentAt };
    const size = input.envelope.length;
    const refusal = quotaRefusal(input.sender, input.recipient, size, quota, {
      recipient: this.usage.get(input.recipient) ?? NO_USAGE,
      pair: this.pairUsage.get(pairKey(input.recipient, input.sender)) ?? NO_USAGE,
      serverBytes: this.serverBytes,
    });
    if (refusal) return refusal;
    const message: QueuedEnvelope = { ...input, seq: ++this.seq };
    let queue = this.queues.get(input.recipient);
    if (!queue) this.queues.set(input.recipient, (queue = new Map()));
    queue.set(message.id, message);
    this.accepted.set(acceptedKey, { id: input.id, sentAt: input.sentAt, expiresAt: input.expiresAt });
    this.adjustUsage(input.recipient, input.sender, 1, size);
    return { status: 'stored', message };
  }

  async pending(recipient: string, afterSeq: number, limit: number, now: number) {
    const out: QueuedEnvelope[] = [];
    for (const m of this.queues.get(recipient)?.values() ?? []) {
      if (out.length >= limit) break;
      if (m.seq > afterSeq && m.expiresAt > now) out.push(m);
    }
    return out;
  }

  async acknowledge(recipient: string, settled: readonly Settlement[], now: number, receiptExpiresAt: number, committed?: (receipts: Receipt[]) => void) {
    const receipts = this.acknowledgeNow(recipient, settled, now, receiptExpiresAt);
    committed?.(receipts);
    return receipts;
  }

  private acknowledgeNow(recipient: string, settled: readonly Settlement[], now: number, receiptExpiresAt: number): Receipt[] {
    const queue = this.queues.get(recipient);
    const out: Receipt[] = [];
    for (const s of settled) {
      const id = settledId(s);
      const m = queue?.get(id);
      if (!m) continue;
      queue!.delete(id);
      this.adjustUsage(recipient, m.sender, -1, -m.envelope.length);
      const outcome = typeof s === 'string' ? { status: 'delivered' as const } : { status: 'unreadable' as const, reason: s.reason };
      const receipt: Receipt = { seq: ++this.seq, id, clientId: m.clientId, sender: m.sender, recipient, deliveredAt: now, ...outcome };
      let owed = this.receipts.get(m.sender);
      if (!owed) this.receipts.set(m.sender, (owed = new Map()));
      owed.set(id, { ...receipt, expiresAt: receiptExpiresAt });
      out.push(receipt);
    }
    return out;
  }

  async pendingReceipts(sender: string, afterSeq: number, limit: number) {
    return [...(this.receipts.get(sender)?.values() ?? [])]
      .filter((r) => r.seq > afterSeq)
      .slice(0, limit)
      .map(({ expiresAt: _e, ...r }) => r);
  }

  async acknowledgeReceipts(sender: string, ids: readonly string[]) {
    const owed = this.receipts.get(sender);
    for (const id of ids) owed?.delete(id);
  }

  async sweepExpired(now: number) {
    let removed = 0;
    for (const [recipient, queue] of this.queues) {
      for (const [id, m] of queue) {
        if (m.expiresAt > now) continue;
        queue.delete(id);
        this.adjustUsage(recipient, m.sender, -1, -m.envelope.length);
        removed++;
      }
    }
    for (const [key, a] of this.accepted) if (a.expiresAt <= now) this.accepted.delete(key);
    for (const owed of this.receipts.values()) for (const [id, r] of owed) if (r.expiresAt <= now) owed.delete(id);
    return removed;
  }

  async queueUsage(recipient: string) {
    return this.usage.get(recipient) ?? { count: 0, bytes: 0 };
  }

  async senderQueueUsage(sender: string, recipient: string) {
    return this.pairUsage.get(pairKey(recipient, sender)) ?? { count: 0, bytes: 0 };
  }

  async serverQueueBytes() {
    return this.serverBytes;
  }

  private adjustUsage(recipient: string, sender: string, count: number, bytes: number): void {
    addTo(this.usage, recipient, count, bytes);
    addTo(this.pairUsage, pairKey(recipient, sender), count, bytes);
    this.serverBytes += bytes;
  }

  async putPreKeys(username: string, upload: PreKeyUpload, _now: number): Promise<PreKeyCountResult> {
    return this.preKeys.put(username, upload);
  }

  async preKeyCounts(username: string): Promise<PreKeyCountResult> {
    return this.preKeys.counts(username);
  }

  async takePreKeyBundle(username: string): Promise<TakenPreKeyBundle | undefined> {
    return this.preKeys.take(username);
  }

  async ping() {}
  async close() {}
}
