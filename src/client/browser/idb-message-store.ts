/**
 * The MessageStore in the account's IndexedDB database (history, seen ids, outbox, held envelopes), one
 * row per record, each sealed under the vault's data key (record-sealer.ts) and found by an HMAC of
 * `in:<id>`, `out:<id>`, `outbox:<id>` or `held:<server id>`, as node/sqlite-message-store.ts keeps them.
 * Every step the interface calls atomic is one transaction: an insert checks the name index and adds in
 * the same transaction; a change to what a record says goes through updateRows (record-rows.ts), which
 * reads, opens and reseals outside any transaction and writes only if the rows are unchanged. Nothing
 * reads more than the records it names, except the listings (outbox, undisplayed, held), which read what
 * they list, and history/recent, which read from the newest back and stop at their limit.
 */
import type { RejectReason } from '../../protocol/events.js';
import { applyDeliveries, applyReceipt, type CopyDelivery, type CopyReceipt } from '../delivery-copies.js';
import { outboxEntryFromStored } from '../outbox-entry.js';
import {
  DEFAULT_HELD_LIMITS,
  sharedAsHistory,
  type HeldEnvelope,
  type HeldLimits,
  type HistoryRecord,
  type MessageStore,
  type OutboxCopy,
  type OutboxEntry,
  type OutboxEntryV1,
  type OutboxFailure,
} from '../stores.js';
import { STORES } from './account-database.js';
import { cursorValues, requestResult, transact } from './idb.js';
import { nextRow, rowByName, updateRows, type RowWrite, type SealedRow } from './record-rows.js';
import type { RecordSealer } from './record-sealer.js';

const M = STORES.messages;
const O = STORES.outbox;
const H = STORES.held;
const HELD_TOTALS = 'heldTotals';

interface HeldTotals {
  count: number;
  bytes: number;
}

/** Rows read per round when walking the history from the newest back; doubles up to the cap. */
const FIRST_BATCH = 32;
const MAX_BATCH = 1024;

/** The clear fields of a history row: its direction, and `waiting` while an incoming record waits to be shown. */
const messageFields = (direction: 'in' | 'out', waiting: boolean) => ({ direction, ...(waiting && { waiting: 1 }) });
/** An outbox row is `pending` (listed by outbox()) until it is given up. */
const outboxFields = (entry: OutboxEntry) => (entry.failed ? {} : { pending: 1 });

export class IdbMessageStore implements MessageStore {
  private readonly heldLimits: Readonly<HeldLimits>;

  constructor(
    private readonly db: IDBDatabase,
    private readonly sealer: RecordSealer,
    options: { heldLimits?: Readonly<HeldLimits> } = {},
  ) {
    this.heldLimits = options.heldLimits ?? DEFAULT_HELD_LIMITS;
  }

  private nameOf(kind: 'in' | 'out' | 'outbox' | 'held' | 'held-peer', id: string): Promise<string> {
    return this.sealer.nameOf(`${kind}:${id}`);
  }

  private open<T>(store: string, row: SealedRow): Promise<T> {
    return this.sealer.open<T>(store, row.name, row.data);
  }

  private openAll<T>(store: string, rows: readonly SealedRow[]): Promise<T[]> {
    return Promise.all(rows.map((row) => this.open<T>(store, row)));
  }

  /** Adds history rows whose names are absent, in one transaction; how many it added. */
  private async insertAbsent(rows: readonly SealedRow[]): Promise<number> {
    return transact(this.db, M, 'readwrite', async (tx) => {
      const os = tx.objectStore(M);
      let added = 0;
      for (const row of rows) {
        if ((await requestResult(os.index('name').getKey(row.name))) !== undefined) continue;
        await requestResult(os.add(row));
        added++;
      }
      return added;
    });
  }

  /** A new history row for `record`, filed under `direction` (the record is kept exactly as given). */
  private async historyRow(record: HistoryRecord, direction: 'in' | 'out', waiting: boolean): Promise<SealedRow> {
    const name = await this.nameOf(direction, record.id);
    return { name, rev: 1, data: await this.sealer.seal(M, name, record), ...messageFields(direction, waiting) };
  }

  async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    // A receipt is never shown, so it is never waiting to be.
    const row = await this.historyRow(record, 'in', record.kind !== 'receipt');
    return (await this.insertAbsent([row])) === 1 ? 'new' : 'duplicate';
  }

  async recordOutgoingCopy(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const row = await this.historyRow(record, 'out', false);
    return (await this.insertAbsent([row])) === 1 ? 'new' : 'duplicate';
  }

  async recordHistory(records: readonly HistoryRecord[]): Promise<number> {
    return this.insertAbsent(await Promise.all(records.map((r) => this.historyRow(r, r.direction, false))));
  }

  async addOutgoing(entry: OutboxEntry | OutboxEntryV1, record: HistoryRecord): Promise<void> {
    const stored = outboxEntryFromStored(entry);
    const outName = await this.nameOf('outbox', stored.id);
    const outRow: SealedRow = { name: outName, rev: 1, data: await this.sealer.seal(O, outName, stored), ...outboxFields(stored) };
    const msgRow = await this.historyRow(record, 'out', false);
    // add, not put: an id already in the outbox or the history is a caller's bug, and aborts both writes.
    await transact(this.db, [M, O], 'readwrite', async (tx) => {
      await requestResult(tx.objectStore(O).add(outRow));
      await requestResult(tx.objectStore(M).add(msgRow));
    });
  }

  async outbox(): Promise<OutboxEntry[]> {
    const rows = await transact(this.db, O, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(O).index('pending').getAll()));
    return (await this.openAll<OutboxEntry | OutboxEntryV1>(O, rows)).map(outboxEntryFromStored);
  }

  async outboxEntries(): Promise<OutboxEntry[]> {
    const rows = await transact(this.db, O, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(O).getAll()));
    return (await this.openAll<OutboxEntry | OutboxEntryV1>(O, rows)).map(outboxEntryFromStored);
  }

  /**
   * Read-modify-write of an outbox entry and its history record as one step. `change` gets both as they
   * are (undefined: absent) and says what to do with each: 'keep' (unchanged), 'write', or, for the
   * entry, 'remove'; and what the call returns.
   */
  private async changeOutgoing<T>(
    id: string,
    change: (entry: OutboxEntry | undefined, record: HistoryRecord | undefined) => { entry: 'keep' | 'write' | 'remove'; record: 'keep' | 'write'; result: T },
  ): Promise<T> {
    const outName = await this.nameOf('outbox', id);
    const msgName = await this.nameOf('out', id);
    const reads = [
      { store: O, name: outName },
      { store: M, name: msgName },
    ];
    return updateRows(this.db, [M, O], reads, async ([outRow, msgRow]) => {
      const entry = outRow && outboxEntryFromStored(await this.open<OutboxEntry | OutboxEntryV1>(O, outRow));
      const record = msgRow && (await this.open<HistoryRecord>(M, msgRow));
      const plan = change(entry, record);
      const writes: RowWrite[] = [];
      if (outRow && entry && plan.entry === 'remove') writes.push({ store: O, remove: outRow });
      if (outRow && entry && plan.entry === 'write') writes.push({ store: O, put: nextRow(outRow, outName, await this.sealer.seal(O, outName, entry), outboxFields(entry)) });
      if (msgRow && record && plan.record === 'write') {
        writes.push({ store: M, put: nextRow(msgRow, msgName, await this.sealer.seal(M, msgName, record), messageFields('out', false)) });
      }
      return { writes, result: plan.result };
    });
  }

  async countSendAttempt(id: string): Promise<number> {
    return this.changeOutgoing(id, (entry) => {
      if (!entry) return { entry: 'keep', record: 'keep', result: 0 };
      entry.attempts = (entry.attempts ?? 0) + 1;
      return { entry: 'write', record: 'keep', result: entry.attempts };
    });
  }

  async settleOutgoing(id: string, deliveries: readonly CopyDelivery[]): Promise<void> {
    await this.changeOutgoing(id, (_entry, record) => {
      if (record) applyDeliveries(record, deliveries);
      return { entry: 'remove', record: 'write', result: undefined };
    });
  }

  async rewriteOutgoing(id: string, messages: readonly OutboxCopy[]): Promise<boolean> {
    return this.changeOutgoing(id, (entry) => {
      if (!entry) return { entry: 'keep', record: 'keep', result: false };
      entry.messages = [...messages];
      return { entry: 'write', record: 'keep', result: true };
    });
  }

  async failOutgoing(id: string, failure: OutboxFailure): Promise<void> {
    await this.changeOutgoing(id, (entry, record) => {
      if (entry) entry.failed = failure;
      if (record) record.status = 'failed';
      return { entry: 'write', record: 'write', result: undefined };
    });
  }

  async dropOutgoing(id: string): Promise<boolean> {
    return this.changeOutgoing(id, (entry, record) => {
      if (!entry) return { entry: 'keep', record: 'keep', result: false };
      // A failed entry's record says failed already; a pending one's becomes failed: it will not go out.
      if (record && !entry.failed) record.status = 'failed';
      return { entry: 'remove', record: entry.failed ? 'keep' : 'write', result: true };
    });
  }

  async markCopy(id: string, copy: { to: string; device: number }, receipt: CopyReceipt): Promise<HistoryRecord | undefined> {
    return this.changeOutgoing(id, (_entry, record) => {
      if (!record || !applyReceipt(record, copy, receipt)) return { entry: 'keep', record: 'keep', result: undefined };
      return { entry: 'keep', record: 'write', result: structuredClone(record) };
    });
  }

  async markRead(peer: string, ids: readonly string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    const names = await Promise.all(unique.map((id) => this.nameOf('out', id)));
    return updateRows(
      this.db,
      [M],
      names.map((name) => ({ store: M, name })),
      async (rows) => {
        const now: string[] = [];
        const writes: RowWrite[] = [];
        for (const [i, row] of rows.entries()) {
          if (!row) continue;
          const record = await this.open<HistoryRecord>(M, row);
          if (record.peer !== peer || record.kind !== undefined || record.status === 'read') continue;
          record.status = 'read';
          delete record.reason;
          writes.push({ store: M, put: nextRow(row, names[i]!, await this.sealer.seal(M, names[i]!, record), messageFields('out', false)) });
          now.push(unique[i]!);
        }
        return { writes, result: now };
      },
    );
  }

  async rejudgeUnreadable(id: string, reason: RejectReason): Promise<boolean> {
    const name = await this.nameOf('in', id);
    return updateRows(this.db, [M], [{ store: M, name }], async ([row]) => {
      const record = row && (await this.open<HistoryRecord>(M, row));
      if (!row || !record || record.status !== 'unreadable' || record.reason === reason) return { writes: [], result: false };
      record.reason = reason;
      delete record.held;
      // Waiting again: shown once more, with the new reason.
      return { writes: [{ store: M, put: nextRow(row, name, await this.sealer.seal(M, name, record), messageFields('in', true)) }], result: true };
    });
  }

  async hold(envelope: HeldEnvelope): Promise<'held' | 'full'> {
    const name = await this.nameOf('held', envelope.serverId);
    const peer = await this.nameOf('held-peer', envelope.from);
    const data = await this.sealer.seal(H, name, envelope);
    const { perPeer, total, totalBytes } = this.heldLimits;
    // The counts and the insert in one transaction, so two holds at once never pass the limits together.
    return transact(this.db, [H, STORES.meta], 'readwrite', async (tx): Promise<'held' | 'full'> => {
      const held = tx.objectStore(H);
      const meta = tx.objectStore(STORES.meta);
      if ((await requestResult(held.index('name').getKey(name))) !== undefined) return 'held';
      const totals = (await requestResult<HeldTotals | undefined>(meta.get(HELD_TOTALS))) ?? { count: 0, bytes: 0 };
      const fromPeer = await requestResult(held.index('peer').count(peer));
      if (totals.count >= total || fromPeer >= perPeer || totals.bytes + data.length > totalBytes) return 'full';
      await requestResult(held.add({ name, rev: 1, data, peer, bytes: data.length }));
      await requestResult(meta.put({ count: totals.count + 1, bytes: totals.bytes + data.length }, HELD_TOTALS));
      return 'held';
    });
  }

  async held(peer: string): Promise<HeldEnvelope[]> {
    const peerName = await this.nameOf('held-peer', peer);
    const rows = await transact(this.db, H, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(H).index('peer').getAll(peerName)));
    return this.openAll<HeldEnvelope>(H, rows);
  }

  async release(serverId: string): Promise<void> {
    const name = await this.nameOf('held', serverId);
    await transact(this.db, [H, STORES.meta], 'readwrite', async (tx) => {
      const row = await rowByName(tx, H, name);
      if (!row) return;
      const meta = tx.objectStore(STORES.meta);
      const totals = (await requestResult<HeldTotals | undefined>(meta.get(HELD_TOTALS))) ?? { count: 1, bytes: row.bytes as number };
      await requestResult(tx.objectStore(H).delete(row.seq!));
      await requestResult(meta.put({ count: totals.count - 1, bytes: totals.bytes - (row.bytes as number) }, HELD_TOTALS));
    });
  }

  async undisplayed(): Promise<HistoryRecord[]> {
    const rows = await transact(this.db, M, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(M).index('waiting').getAll()));
    return this.openAll<HistoryRecord>(M, rows);
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    const names = await Promise.all(ids.map((id) => this.nameOf('in', id)));
    // Only a clear field changes: no record to open, so one transaction does it all.
    await transact(this.db, M, 'readwrite', async (tx) => {
      for (const name of names) {
        const row = await rowByName(tx, M, name);
        if (!row?.waiting) continue;
        const { waiting: _waiting, ...shown } = row;
        await requestResult(tx.objectStore(M).put({ ...shown, rev: row.rev + 1 }));
      }
    });
  }

  /** History records from the newest back, read in growing batches: a caller that stops early reads little. */
  private async *newestFirst(): AsyncGenerator<HistoryRecord> {
    let below: number | undefined;
    for (let batch = FIRST_BATCH; ; batch = Math.min(batch * 2, MAX_BATCH)) {
      const range = below === undefined ? null : IDBKeyRange.upperBound(below, true);
      const rows = await transact(this.db, M, 'readonly', (tx) => cursorValues<SealedRow>(tx.objectStore(M), range, 'prev', batch));
      yield* await this.openAll<HistoryRecord>(M, rows);
      if (rows.length < batch) return;
      below = rows.at(-1)!.seq;
    }
  }

  async history(options: { peer?: string; limit?: number } = {}): Promise<HistoryRecord[]> {
    const inConversation = (r: HistoryRecord) => r.kind === undefined && (options.peer === undefined || r.peer === options.peer);
    const { limit } = options;
    if (limit === undefined || limit <= 0) {
      // Everything (slice(-0) keeps all, as the other stores' slice does).
      const rows = await transact(this.db, M, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(M).getAll()));
      const all = (await this.openAll<HistoryRecord>(M, rows)).filter(inConversation);
      return limit === undefined ? all : all.slice(-limit);
    }
    return this.newestMatching(limit, inConversation);
  }

  async recent(limit: number): Promise<HistoryRecord[]> {
    return limit <= 0 ? [] : this.newestMatching(limit, sharedAsHistory);
  }

  private async newestMatching(limit: number, matches: (r: HistoryRecord) => boolean): Promise<HistoryRecord[]> {
    const found: HistoryRecord[] = [];
    for await (const record of this.newestFirst()) {
      if (!matches(record)) continue;
      found.push(record);
      if (found.length === limit) break;
    }
    return found.reverse();
  }

  async get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined> {
    const name = await this.nameOf(direction, id);
    const row = await transact(this.db, M, 'readonly', (tx) => rowByName(tx, M, name));
    return row && this.open<HistoryRecord>(M, row);
  }
}
