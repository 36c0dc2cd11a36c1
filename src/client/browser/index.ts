/**
 * The browser's persistence, for the web app: an account's IndexedDB database with its vault
 * (BrowserAccount), the stores ChatClient takes, this device's identity as non-extractable CryptoKeys,
 * one tab at a time per account, and persistent storage. Runtime-neutral code for browsers: nothing
 * here imports a Node module (test/architecture.test.ts).
 */
export { BrowserAccount, type BrowserAccountOptions, type BrowserStores } from './browser-account.js';
export { BrowserAccountError, type BrowserAccountErrorCode } from './browser-account-error.js';
export { clientIdentityOf, generateWrappableDeviceKeys, type BrowserIdentity, type NewBrowserIdentity, type PublicKeys } from './browser-identity.js';
export { IdbMessageStore } from './idb-message-store.js';
export { IdbPeerKeyStore } from './idb-peer-key-store.js';
export { IdbRatchetStore } from './idb-ratchet-store.js';
export { IdbTriedLinkCodes } from './idb-tried-link-codes.js';
export { IdbGroupStore } from './idb-group-store.js';
export { IdbGroupHistory } from './idb-group-history.js';
export { entryTime, groupChangeEntry, groupTextEntry, type GroupChangeEntry, type GroupHistoryEntry, type GroupHistoryStore, type GroupTextEntry } from '../groups/group-history.js';
export { accountLockName, claimAccountTab, requestPersistentStorage, type AccountTab, type StoragePersistence, type TabLockManager } from './tab-lock.js';
export { WrongPassphraseError } from '../../crypto/passphrase-seal.js';
