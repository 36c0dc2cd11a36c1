/**
 * The in-memory reference store: same semantics as SQLite, nothing survives a restart. For tests and as
 * the baseline the durable store is measured against.
 */
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { MemoryPreKeyDirectory } from './memory-prekeys.js';
import { settledId, type EnqueueInput, type EnqueueResult, type PreKeyUpload, type QueueQuota, type QueuedEnvelope, type Receipt, type ServerStore, type Settlement, type TakenPreKeyBundle, type UserRecord } from './server-store.js';

export class MemoryServerStore implements ServerStore {
  private readonly users = new Map<string, UserRecord>();
  /** Per recipient, in seq order. */
  private readonly queues = new Map<string, Map<string, QueuedEnvelope>>();
  private readonly accepted = new Map<string, { id: string; sentAt: number; expiresAt: number }>();
  private readonly receipts = new Map<string, Map<string, Receipt & { expiresAt: number }>>();
  private readonly usage = new Map<string, { count: number; bytes: number }>();
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
    const usage = this.usage.get(input.recipient) ?? { count: 0, bytes: 0 };
    const size = input.envelope.length;
    if (usage.count + 1 > quota.maxCount) {
      return { status: 'quota_exceeded', message: `${input.recipient}'s queue holds the maximum of ${quota.maxCount} envelopes` };
    }
    if (usage.bytes + size > quota.maxBytes) {
      return { status: 'quota_exceeded', message: `${input.recipient}'s queue is at its limit of ${quota.maxBytes} bytes` };
    }
    const message: QueuedEnvelope = { ...input, seq: ++this.seq };
    let queue = this.queues.get(input.recipient);
    if (!queue) this.queues.set(input.recipient, (queue = new Map()));
    queue.set(message.id, message);
    this.accepted.set(acceptedKey, { id: input.id, sentAt: input.sentAt, expiresAt: input.expiresAt });
    this.usage.set(input.recipient, { count: usage.count + 1, bytes: usage.bytes + size });
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
      this.adjustUsage(recipient, -1, -m.envelope.length);
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
        this.adjustUsage(recipient, -1, -m.envelope.length);
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

  private adjustUsage(recipient: string, count: number, bytes: number): void {
    const u = this.usage.get(recipient) ?? { count: 0, bytes: 0 };
    const next = { count: u.count + count, bytes: u.bytes + bytes };
    if (next.count <= 0) this.usage.delete(recipient);
    else this.usage.set(recipient, next);
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
