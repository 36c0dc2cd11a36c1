/**
 * The entry the web app calls: an account's database in this browser, its vault unlocked, and the stores
 * ChatClient takes, all built on them. Creating makes the vault (a passphrase is required: in a browser
 * it is the only thing between the disk and the keys); the identity is stored once its keys exist
 * (storeIdentity: at account creation, or when a link to an existing account completes). Opening
 * unlocks the vault (WrongPassphraseError for a wrong passphrase) and loads the identity if there is one.
 *
 * One tab at a time (tab-lock.ts) is the app's to claim before it opens, since the outcome is UI.
 */
import type { ScryptParams } from '../../crypto/passphrase-seal.js';
import type { HeldLimits } from '../stores.js';
import { ACCOUNT_DATABASE_PREFIX, databaseNameOf, openAccountDatabase } from './account-database.js';
import { BrowserAccountError } from './browser-account-error.js';
import type { ClientIdentity } from '../chat-client-types.js';
import { clientIdentityOf, loadIdentity, storeIdentity, type BrowserIdentity, type NewBrowserIdentity } from './browser-identity.js';
import { databaseExists, requestResult } from './idb.js';
import { IdbGroupHistory } from './idb-group-history.js';
import { IdbGroupStore } from './idb-group-store.js';
import { IdbMessageStore } from './idb-message-store.js';
import { IdbPeerKeyStore } from './idb-peer-key-store.js';
import { IdbRatchetStore } from './idb-ratchet-store.js';
import { IdbTriedLinkCodes } from './idb-tried-link-codes.js';
import { Vault } from './vault.js';

export interface BrowserAccountOptions {
  /** Default: the page's `indexedDB`. */
  readonly indexedDB?: IDBFactory;
  /** scrypt cost for a new vault or passphrase (default SCRYPT_DEFAULTS, as the CLI). */
  readonly scrypt?: ScryptParams;
  readonly heldLimits?: Readonly<HeldLimits>;
}

export interface BrowserStores {
  readonly messages: IdbMessageStore;
  readonly ratchet: IdbRatchetStore;
  readonly peers: IdbPeerKeyStore;
  readonly triedLinkCodes: IdbTriedLinkCodes;
  /** MLS group states and KeyPackage private halves (ChatClient's `groups`). */
  readonly groups: IdbGroupStore;
  /** What was said and changed in the groups (ChatClient's `groupHistory`: the client records, the app shows). */
  readonly groupHistory: IdbGroupHistory;
}

export class BrowserAccount {
  readonly stores: BrowserStores;

  private constructor(
    readonly username: string,
    private readonly db: IDBDatabase,
    private readonly vault: Vault,
    /** Undefined until storeIdentity (a new account before its keys, a link not yet finished). */
    private current: BrowserIdentity | undefined,
    options: BrowserAccountOptions,
  ) {
    this.stores = {
      messages: new IdbMessageStore(db, vault.sealer, options.heldLimits ? { heldLimits: options.heldLimits } : {}),
      ratchet: new IdbRatchetStore(db, vault),
      peers: new IdbPeerKeyStore(db, vault.sealer),
      triedLinkCodes: new IdbTriedLinkCodes(db, vault.sealer),
      groups: new IdbGroupStore(db, vault.sealer),
      groupHistory: new IdbGroupHistory(db, vault.sealer),
    };
  }

  get identity(): BrowserIdentity | undefined {
    return this.current;
  }

  /** ChatClient.connect's `identity` for this device; throws before storeIdentity. */
  clientIdentity(): ClientIdentity {
    if (!this.current) throw new BrowserAccountError('no_identity', `${this.username} has no keys in this browser yet`);
    return clientIdentityOf(this.current);
  }

  /** Makes the account's database and vault (BrowserAccountError 'account_exists' if it has one). */
  static async create(username: string, passphrase: string, options: BrowserAccountOptions = {}): Promise<BrowserAccount> {
    const db = await openAccountDatabase(factoryOf(options), username);
    try {
      return new BrowserAccount(username, db, await Vault.create(db, username, passphrase, options.scrypt), undefined, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Unlocks an account of this browser: WrongPassphraseError, or BrowserAccountError 'no_account'. */
  static async open(username: string, passphrase: string, options: BrowserAccountOptions = {}): Promise<BrowserAccount> {
    const factory = factoryOf(options);
    // Checked first: opening a database that does not exist would create an empty one.
    if (!(await databaseExists(factory, databaseNameOf(username)))) throw new BrowserAccountError('no_account', `no account ${username} in this browser`);
    const db = await openAccountDatabase(factory, username);
    try {
      const vault = await Vault.unlock(db, username, passphrase);
      return new BrowserAccount(username, db, vault, await loadIdentity(db, vault), options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Stores this browser's identity (its private keys wrapped under the vault) and returns it unlocked. */
  async storeIdentity(identity: NewBrowserIdentity): Promise<BrowserIdentity> {
    this.current = await storeIdentity(this.db, this.vault, identity);
    return this.current;
  }

  /** Rewraps the vault's data key under `next` (WrongPassphraseError if `current` is wrong); no record changes. */
  static async changePassphrase(username: string, current: string, next: string, options: BrowserAccountOptions = {}): Promise<void> {
    const factory = factoryOf(options);
    if (!(await databaseExists(factory, databaseNameOf(username)))) throw new BrowserAccountError('no_account', `no account ${username} in this browser`);
    const db = await openAccountDatabase(factory, username);
    try {
      await Vault.changePassphrase(db, username, current, next, options.scrypt);
    } finally {
      db.close();
    }
  }

  /** The accounts this browser profile holds, by name. */
  static async list(options: Pick<BrowserAccountOptions, 'indexedDB'> = {}): Promise<string[]> {
    const databases = await factoryOf(options).databases();
    return databases.flatMap((d) => (d.name?.startsWith(ACCOUNT_DATABASE_PREFIX) ? [d.name.slice(ACCOUNT_DATABASE_PREFIX.length)] : [])).sort();
  }

  /** Deletes an account's database with everything in it (a link that failed, or the user's choice). */
  static async remove(username: string, options: Pick<BrowserAccountOptions, 'indexedDB'> = {}): Promise<void> {
    await requestResult(factoryOf(options).deleteDatabase(databaseNameOf(username)) as IDBRequest<unknown>);
  }

  close(): void {
    this.db.close();
  }

  toJSON() {
    return { type: 'BrowserAccount', username: this.username, device: this.current?.device };
  }
}

function factoryOf(options: Pick<BrowserAccountOptions, 'indexedDB'>): IDBFactory {
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) throw new Error('this runtime has no IndexedDB');
  return factory;
}
