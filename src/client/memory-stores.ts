/** In-memory reference stores: for tests, and for clients that choose to keep nothing. */
import type { RejectReason } from '../protocol/events.js';
import { applyDeliveries, applyReceipt, type CopyDelivery, type CopyReceipt } from './delivery-copies.js';
import {
  DEFAULT_HELD_LIMITS,
  type HeldEnvelope,
  type HeldLimits,
  type HistoryRecord,
  type MessageStore,
  type OutboxCopy,
  type OutboxEntry,
  type OutboxEntryV1,
  type OutboxFailure,
  type PeerKeyStore,
  type PinChange,
  type PinnedPeer,
  type TriedLinkCodes,
  sharedAsHistory,
} from './stores.js';
import { outboxEntryFromStored } from './outbox-entry.js';
import { claimAmong, MAX_TRIED_LINK_CODES, type TriedLinkCode } from './tried-link-codes.js';

export class MemoryPeerKeyStore implements PeerKeyStore {
  private readonly peers = new Map<string, PinnedPeer>();
  /** Updates run one at a time, as the file store's lock makes them: a change may await. */
  private updates: Promise<unknown> = Promise.resolve();
  async get(username: string) {
    return this.peers.get(username);
  }
  async put(peer: PinnedPeer) {
    this.peers.set(peer.username, peer);
  }
  async putIfAbsent(peer: PinnedPeer) {
    const pinned = this.peers.get(peer.username);
    if (pinned) return pinned;
    this.peers.set(peer.username, peer);
    return peer;
  }
  update<T>(username: string, change: (pin: PinnedPeer | undefined) => PinChange<T> | Promise<PinChange<T>>): Promise<T> {
    const run = this.updates.then(async () => {
      const current = this.peers.get(username);
      const { pin, result } = await change(current && structuredClone(current));
      if (pin) this.peers.set(username, pin);
      return result;
    });
    this.updates = run.catch(() => undefined);
    return run;
  }
  async all() {
    return [...this.peers.values()].map((p) => structuredClone(p));
  }
}

/** The codes a primary ran, in memory (this process only): ChatClient's default when given no durable one. */
export class MemoryTriedLinkCodes implements TriedLinkCodes {
  private tried: readonly TriedLinkCode[] = [];
  constructor(private readonly options: { maxEntries?: number } = {}) {}
  async claim(codeHash: string, now: number, ttlMs: number): Promise<boolean> {
    // No await between reading and writing: one step, as the file store's lock makes it.
    const { claimed, entries } = claimAmong(this.tried, codeHash, now, ttlMs, this.options.maxEntries ?? MAX_TRIED_LINK_CODES);
    this.tried = entries;
    return claimed;
  }
}

const keyOf = (direction: 'in' | 'out', id: string) => `${direction}:${id}`;

export class MemoryMessageStore implements MessageStore {
  /** Insertion-ordered, so iteration is oldest first. */
  private readonly records = new Map<string, HistoryRecord & { displayed: boolean }>();
  private readonly pendingOut = new Map<string, OutboxEntry>();
  private readonly heldEnvelopes = new Map<string, { envelope: HeldEnvelope; bytes: number }>();
  private readonly heldLimits: Readonly<HeldLimits>;

  constructor(options: { heldLimits?: Readonly<HeldLimits> } = {}) {
    this.heldLimits = options.heldLimits ?? DEFAULT_HELD_LIMITS;
  }

  async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = keyOf('in', record.id);
    if (this.records.has(key)) return 'duplicate';
    // A receipt is never shown, so it is never waiting to be.
    this.records.set(key, { ...record, displayed: record.kind === 'receipt' });
    return 'new';
  }

  async recordOutgoingCopy(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = keyOf('out', record.id);
    if (this.records.has(key)) return 'duplicate';
    this.records.set(key, { ...record, displayed: true });
    return 'new';
  }

  async recordHistory(records: readonly HistoryRecord[]): Promise<number> {
    let added = 0;
    for (const record of records) {
      const key = keyOf(record.direction, record.id);
      if (this.records.has(key)) continue;
      this.records.set(key, { ...structuredClone(record), displayed: true });
      added++;
    }
    return added;
  }

  async addOutgoing(entry: OutboxEntry | OutboxEntryV1, record: HistoryRecord): Promise<void> {
    this.pendingOut.set(entry.id, outboxEntryFromStored(entry));
    this.records.set(keyOf('out', record.id), { ...record, displayed: true });
  }

  async outbox(): Promise<OutboxEntry[]> {
    return [...this.pendingOut.values()].filter((e) => !e.failed).map((e) => ({ ...e }));
  }

  async outboxEntries(): Promise<OutboxEntry[]> {
    return [...this.pendingOut.values()].map((e) => ({ ...e }));
  }

  async countSendAttempt(id: string): Promise<number> {
    const e = this.pendingOut.get(id);
    if (!e) return 0;
    e.attempts = (e.attempts ?? 0) + 1;
    return e.attempts;
  }

  async settleOutgoing(id: string, deliveries: readonly CopyDelivery[]): Promise<void> {
    this.pendingOut.delete(id);
    const r = this.records.get(keyOf('out', id));
    if (r) applyDeliveries(r, deliveries);
  }

  async rewriteOutgoing(id: string, messages: readonly OutboxCopy[]): Promise<boolean> {
    const e = this.pendingOut.get(id);
    if (!e) return false;
    e.messages = [...messages];
    return true;
  }

  async failOutgoing(id: string, failure: OutboxFailure): Promise<void> {
    const e = this.pendingOut.get(id);
    if (e) e.failed = failure;
    const r = this.records.get(keyOf('out', id));
    if (r) r.status = 'failed';
  }

  async dropOutgoing(id: string): Promise<boolean> {
    const e = this.pendingOut.get(id);
    if (!e) return false;
    this.pendingOut.delete(id);
    const r = this.records.get(keyOf('out', id));
    if (r && !e.failed) r.status = 'failed';
    return true;
  }

  async markCopy(id: string, copy: { to: string; device: number }, receipt: CopyReceipt): Promise<HistoryRecord | undefined> {
    const r = this.records.get(keyOf('out', id));
    if (!r || !applyReceipt(r, copy, receipt)) return undefined;
    const { displayed: _displayed, ...record } = r;
    return structuredClone(record);
  }

  async markRead(peer: string, ids: readonly string[]): Promise<string[]> {
    const now: string[] = [];
    for (const id of ids) {
      const r = this.records.get(keyOf('out', id));
      if (!r || r.peer !== peer || r.kind !== undefined || r.status === 'read') continue;
      r.status = 'read';
      delete r.reason;
      now.push(id);
    }
    return now;
  }

  async rejudgeUnreadable(id: string, reason: RejectReason): Promise<boolean> {
    const r = this.records.get(keyOf('in', id));
    if (!r || r.status !== 'unreadable' || r.reason === reason) return false;
    r.reason = reason;
    delete r.held;
    r.displayed = false;
    return true;
  }

  async hold(envelope: HeldEnvelope): Promise<'held' | 'full'> {
    if (this.heldEnvelopes.has(envelope.serverId)) return 'held';
    const all = [...this.heldEnvelopes.values()];
    const bytes = JSON.stringify(envelope).length;
    const { perPeer, total, totalBytes } = this.heldLimits;
    if (all.length >= total || all.filter((h) => h.envelope.from === envelope.from).length >= perPeer) return 'full';
    if (all.reduce((sum, h) => sum + h.bytes, bytes) > totalBytes) return 'full';
    this.heldEnvelopes.set(envelope.serverId, { envelope: structuredClone(envelope), bytes });
    return 'held';
  }

  async held(peer: string): Promise<HeldEnvelope[]> {
    return [...this.heldEnvelopes.values()].filter((h) => h.envelope.from === peer).map((h) => structuredClone(h.envelope));
  }

  async release(serverId: string): Promise<void> {
    this.heldEnvelopes.delete(serverId);
  }

  async undisplayed(): Promise<HistoryRecord[]> {
    return [...this.records.values()].filter((r) => r.direction === 'in' && !r.displayed).map(strip);
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const r = this.records.get(keyOf('in', id));
      if (r) r.displayed = true;
    }
  }

  async history(options: { peer?: string; limit?: number } = {}): Promise<HistoryRecord[]> {
    const all = [...this.records.values()].filter((r) => r.kind === undefined && (options.peer === undefined || r.peer === options.peer)).map(strip);
    return options.limit === undefined ? all : all.slice(-options.limit);
  }

  async recent(limit: number): Promise<HistoryRecord[]> {
    if (limit <= 0) return [];
    return [...this.records.values()].filter(sharedAsHistory).slice(-limit).map(strip);
  }

  async get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined> {
    const r = this.records.get(keyOf(direction, id));
    return r ? strip(r) : undefined;
  }
}

function strip(r: HistoryRecord & { displayed: boolean }): HistoryRecord {
  const { displayed: _displayed, ...record } = r;
  return { ...record };
}

