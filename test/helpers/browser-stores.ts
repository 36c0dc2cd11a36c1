/**
 * The browser stores (src/client/browser) in Node, for the store contract tests: IndexedDB from the
 * fake-indexeddb package (an in-memory implementation of the W3C API, installed as the globals a browser
 * has) and Node's WebCrypto. Each call opens a database of its own, under a fresh account name, with a
 * vault made at a low scrypt cost (the stores' behaviour does not depend on the cost; the app uses
 * SCRYPT_DEFAULTS). The real-Chromium run of the same stores comes through the web app's tests.
 */
import 'fake-indexeddb/auto';
import { openAccountDatabase } from '../../src/client/browser/account-database.js';
import { requestResult, transact } from '../../src/client/browser/idb.js';
import { IdbGroupStore } from '../../src/client/browser/idb-group-store.js';
import { IdbMessageStore } from '../../src/client/browser/idb-message-store.js';
import { IdbPeerKeyStore } from '../../src/client/browser/idb-peer-key-store.js';
import { IdbRatchetStore } from '../../src/client/browser/idb-ratchet-store.js';
import { IdbTriedLinkCodes } from '../../src/client/browser/idb-tried-link-codes.js';
import { Vault } from '../../src/client/browser/vault.js';
import type { HeldLimits } from '../../src/client/stores.js';

/** scrypt at 2^10: a millisecond per unlock instead of half a second. */
export const TEST_SCRYPT = { N: 2 ** 10, r: 8, p: 1 } as const;
export const TEST_PASSPHRASE = 'correct horse battery staple';

let accounts = 0;

/** A name no other test in this process uses, so each test has a database of its own. */
export const freshAccountName = (base = 'alice'): string => `${base}-${process.pid}-${++accounts}`;

/** One connection to an account's database with its vault unlocked: what a tab holds. */
export interface IdbConnection {
  username: string;
  db: IDBDatabase;
  vault: Vault;
  messages(options?: { heldLimits?: Readonly<HeldLimits> }): IdbMessageStore;
  ratchet(): IdbRatchetStore;
  peers(): IdbPeerKeyStore;
  triedLinkCodes(options?: { maxEntries?: number }): IdbTriedLinkCodes;
  groups(): IdbGroupStore;
}

function connection(username: string, db: IDBDatabase, vault: Vault): IdbConnection {
  return {
    username,
    db,
    vault,
    messages: (options) => new IdbMessageStore(db, vault.sealer, options),
    ratchet: () => new IdbRatchetStore(db, vault),
    peers: () => new IdbPeerKeyStore(db, vault.sealer),
    triedLinkCodes: (options) => new IdbTriedLinkCodes(db, vault.sealer, options),
    groups: () => new IdbGroupStore(db, vault.sealer),
  };
}

/** A new account's database and vault. */
export async function newIdbAccount(username = freshAccountName()): Promise<IdbConnection> {
  const db = await openAccountDatabase(indexedDB, username);
  return connection(username, db, await Vault.create(db, username, TEST_PASSPHRASE, TEST_SCRYPT));
}

/** Another connection to an existing account (a second handle, or the database reopened), unlocked. */
export async function reopenIdbAccount(username: string, passphrase = TEST_PASSPHRASE): Promise<IdbConnection> {
  const db = await openAccountDatabase(indexedDB, username);
  return connection(username, db, await Vault.unlock(db, username, passphrase));
}

/** Every row of every object store as stored (structured clones), as [key, value] pairs per store. */
export async function rawRows(db: IDBDatabase): Promise<Record<string, unknown[]>> {
  const names = Array.from({ length: db.objectStoreNames.length }, (_, i) => db.objectStoreNames.item(i)!);
  return transact(db, names, 'readonly', async (tx) => {
    const all: Record<string, unknown[]> = {};
    for (const name of names) {
      const os = tx.objectStore(name);
      const keys = await requestResult(os.getAllKeys());
      all[name] = (await requestResult(os.getAll())).map((value, i) => [keys[i], value]);
    }
    return all;
  });
}

/** The whole database as one text, bytes as Latin-1 (one character per byte), to search for what must not be there. */
export async function rawText(username: string): Promise<string> {
  const db = await openAccountDatabase(indexedDB, username);
  try {
    return JSON.stringify(await rawRows(db), (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value));
  } finally {
    db.close();
  }
}
