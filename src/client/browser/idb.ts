/**
 * IndexedDB as promises, and the one rule every store in this folder follows.
 *
 * An IndexedDB transaction commits by itself as soon as no request of it is pending and control returns
 * to the event loop (W3C IndexedDB 3.0 §2.7.2, "auto-commit"). Awaiting an IDB request inside it is fine:
 * the request's success event resolves the promise and the continuation runs in the microtask checkpoint
 * right after that event, while the transaction is still active. Awaiting anything else is not: WebCrypto
 * resolves on a later task, so the transaction would have committed (or, if it still had work, be
 * inactive: TransactionInactiveError) by the time the code after `await subtle.encrypt(…)` runs, and a
 * read-check-write would no longer be one step. So every store seals and opens records OUTSIDE its
 * transactions: it seals what it may write before, opens what it read after, and when a write depends on
 * what a record holds, it reads in one transaction, opens and recomputes outside, and writes in a second
 * transaction that first checks the record is unchanged (its `rev`), starting again if it changed (see
 * withRecords in record-rows.ts).
 */

/** The result of one request, as a promise (rejected with the request's error). */
export function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

/**
 * Runs `body` in one transaction over `stores` and resolves once the transaction has COMMITTED (a write
 * is durable before the caller acknowledges anything, as the SQLite stores' synchronous = FULL), with
 * what `body` returned. `body` may await only requests of `tx` (see the file comment). If it throws, the
 * transaction is aborted, so none of its writes happen, and the error is passed on.
 *
 * Read-write transactions ask for `durability: 'strict'`: Chromium's default lets the browser report a
 * commit before it reached the disk, and a ratchet session saved before an ack must survive a crash.
 */
export function transact<T>(db: IDBDatabase, stores: string | string[], mode: IDBTransactionMode, body: (tx: IDBTransaction) => Promise<T>): Promise<T> {
  const tx = db.transaction(stores, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
  const committed = new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
    // A failed request rejects its own promise in `body`, which decides: if it throws, the transaction is
    // aborted below. Left alone, the error would also abort it here, before `body` could decide.
    tx.onerror = (event) => event.preventDefault();
  });
  return body(tx).then(
    async (result) => {
      await committed;
      return result;
    },
    async (err: unknown) => {
      try {
        tx.abort();
      } catch {
        // Already finished (it failed on its own): its abort handler rejected `committed`.
      }
      await committed.catch(() => undefined);
      throw err;
    },
  );
}

/**
 * Opens (creating or upgrading) a database. `upgrade` runs inside the version-change transaction with
 * the version the database had (0: new). Another tab holding an older version open is asked to close
 * by the `versionchange` handler every connection here installs.
 */
export function openDatabase(factory: IDBFactory, name: string, version: number, upgrade: (db: IDBDatabase, oldVersion: number, tx: IDBTransaction) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, version);
    request.onupgradeneeded = (event) => upgrade(request.result, event.oldVersion, request.transaction!);
    request.onsuccess = () => {
      const db = request.result;
      // A newer version of the app upgrading the schema: give way rather than block it forever.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error ?? new Error(`could not open IndexedDB database ${name}`));
    request.onblocked = () => reject(new Error(`IndexedDB database ${name} is open in another tab with an older version; close that tab`));
  });
}

/** Whether a database of this name exists, without creating it (`indexedDB.databases()`, Chromium 71+, Firefox 126+). */
export async function databaseExists(factory: IDBFactory, name: string): Promise<boolean> {
  return (await factory.databases()).some((d) => d.name === name);
}

/**
 * Up to `limit` values from `source` in `direction` within `range`, through a cursor (getAll only reads
 * ascending). Each `continue` is a request of the transaction, so this is safe inside one.
 */
export function cursorValues<T>(source: IDBObjectStore | IDBIndex, range: IDBKeyRange | null, direction: IDBCursorDirection, limit: number): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const values: T[] = [];
    const request = source.openCursor(range, direction);
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor || values.length === limit) return resolve(values);
      values.push(cursor.value as T);
      cursor.continue();
    };
    request.onerror = () => reject(request.error ?? new Error('IndexedDB cursor failed'));
  });
}
