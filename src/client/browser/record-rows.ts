/**
 * The rows the browser stores keep, and their one way of changing a sealed record: optimistic
 * compare-and-swap on the row's `rev`. A change that depends on a record's content must open it
 * (WebCrypto) and seal the result, which cannot happen inside an IndexedDB transaction (idb.ts); so the
 * rows are read in one transaction, the new rows computed outside, and written in a second one only if
 * every row read still has the `rev` it had (absent rows still absent). Otherwise someone else changed
 * them in between (another async call of this tab, or another connection) and the change starts again
 * from what is there now, as the SQLite stores' `UPDATE … WHERE version = ?`.
 */
import { LocalStoreError } from '../local-store-error.js';
import { requestResult, transact } from './idb.js';

export interface SealedRow {
  /** Auto-incremented insertion order, in the stores that promise "oldest first". */
  seq?: number;
  /** The record's stored name (an HMAC, record-sealer.ts). */
  name: string;
  /** Counts the row's writes; compare-and-swap checks it. */
  rev: number;
  /** IV ‖ AES-GCM ciphertext ‖ tag. */
  data: Uint8Array;
  /** Clear fields the store's indexes need (see account-database.ts). */
  [field: string]: unknown;
}

export type RowWrite = { readonly store: string; readonly put: SealedRow } | { readonly store: string; readonly remove: SealedRow };

/** Whether rows of `os` are found by their name directly: it is the key path, or the out-of-line key (the meta store). */
const keyedByName = (os: IDBObjectStore): boolean => os.keyPath === 'name' || os.keyPath === null;

/** The row named `name` in `store`: by its key where the name is the key, else through the `name` index. */
export function rowByName(tx: IDBTransaction, store: string, name: string): Promise<SealedRow | undefined> {
  const os = tx.objectStore(store);
  return requestResult<SealedRow | undefined>((keyedByName(os) ? os : os.index('name')).get(name));
}

export async function applyWrite(tx: IDBTransaction, write: RowWrite): Promise<void> {
  const os = tx.objectStore(write.store);
  const outOfLine = os.keyPath === null;
  if ('put' in write) await requestResult(outOfLine ? os.put(write.put, write.put.name) : os.put(write.put));
  else await requestResult(os.delete(keyedByName(os) ? write.remove.name : write.remove.seq!));
}

/**
 * Rounds a change may lose before it gives up: each lost round means another writer committed, so only
 * a writer looping on the same records could exhaust it.
 */
const MAX_ROUNDS = 64;

/**
 * Reads the rows `reads` names (store and name), lets `plan` compute what to write from them (it may
 * await WebCrypto: no transaction is open meanwhile), and writes it in one transaction over `stores` if
 * none of those rows changed since; else starts again. `plan` returning no writes ends at once.
 */
export async function updateRows<T>(
  db: IDBDatabase,
  stores: string[],
  reads: readonly { readonly store: string; readonly name: string }[],
  plan: (rows: (SealedRow | undefined)[]) => Promise<{ writes: RowWrite[]; result: T }>,
): Promise<T> {
  const readAll = (tx: IDBTransaction) => Promise.all(reads.map((r) => rowByName(tx, r.store, r.name)));
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows = await transact(db, stores, 'readonly', readAll);
    const { writes, result } = await plan(rows);
    if (writes.length === 0) return result;
    const written = await transact(db, stores, 'readwrite', async (tx) => {
      const now = await readAll(tx);
      if (now.some((row, i) => row?.rev !== rows[i]?.rev)) return false;
      for (const write of writes) await applyWrite(tx, write);
      return true;
    });
    if (written) return result;
  }
  throw new LocalStoreError(`a change to ${stores.join(', ')}`, new Error(`lost ${MAX_ROUNDS} rounds of compare-and-swap in a row`));
}

/** The next state of `row` (or a new row named `name`): same seq, one more rev, with `fields`. */
export function nextRow(row: SealedRow | undefined, name: string, data: Uint8Array, fields: Record<string, unknown> = {}): SealedRow {
  return { ...(row?.seq !== undefined && { seq: row.seq }), name, rev: (row?.rev ?? 0) + 1, data, ...fields };
}
