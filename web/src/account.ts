/**
 * Opening an account in this browser, as the CLI does (src/cli/common.ts): the app's stores
 * (app-stores.ts, IndexedDB under the passphrase), this device's keys (stored wrapped, used as
 * non-extractable WebCrypto keys), and a ChatClient connected to the server the page came from.
 *
 * Three ways in: creating an account (fresh keys, the name registered at the first login, as the CLI's
 * first `receive`), linking this browser to an existing account (link-device.ts), and unlocking an
 * account this browser already holds. What a creation or link leaves behind when it fails is deleted:
 * a vault without keys, or with keys for a name the server refused, is worth nothing.
 */
import { ChatClient, ChatError, type ClientIdentity } from '../../src/client/index.js';
import { BrowserAccountError, generateWrappableDeviceKeys, requestPersistentStorage, type StoragePersistence } from '../../src/client/browser/index.js';
import { USERNAME_PATTERN } from '../../src/protocol/limits.js';
import { createStores, removeStores, unlockStores, type AppStores, type TabChoice } from './app-stores.js';

export interface OpenAccount {
  client: ChatClient;
  identity: ClientIdentity;
  stores: AppStores;
  /** Whether the browser promised to keep the stores ('denied': it may clear them under storage pressure). */
  storage: StoragePersistence;
  close(): Promise<void>;
}

/** Why a username is refused before anything is made, or undefined when it is a valid one. */
export function usernameProblem(name: string): string | undefined {
  if (USERNAME_PATTERN.test(name)) return undefined;
  return 'A username starts with a lowercase letter, then up to 31 lowercase letters, digits, "-" or "_".';
}

/** Why a passphrase for a new account is refused, or undefined: it is all that seals the keys in this browser. */
export function passphraseProblem(passphrase: string): string | undefined {
  return passphrase.length === 0 ? 'Choose a passphrase: it seals your keys and messages in this browser, and opens them again on your next visit.' : undefined;
}

/**
 * Connects with the identity the stores hold, logging in (registering the name when `register`);
 * `listen` gets the client before it connects, so events of the first login are not missed. With
 * `allowOffline` (an account that logged in before), a server that cannot be reached does not keep the
 * user out: the client starts offline, as the CLI's does, showing the history and keeping what is
 * written in the outbox until it logs in. On failure the caller decides what becomes of the stores
 * (closed, or removed).
 */
export async function openAccount(stores: AppStores, register: boolean, listen: (client: ChatClient) => void, options: { allowOffline?: boolean } = {}): Promise<OpenAccount> {
  const identity = stores.identity();
  if (!identity) throw new BrowserAccountError('no_identity', `${stores.username} has no keys in this browser`);
  const clientOptions = {
    // Same origin as the page: the relay serves the app (connect-src 'self').
    url: window.location.origin,
    identity,
    peers: stores.peers,
    messages: stores.messages,
    ratchet: stores.ratchet,
    triedLinkCodes: stores.triedLinkCodes,
    groups: stores.groups,
    // The client records group texts and changes here before it saves their state and acks them.
    groupHistory: stores.groupHistory,
    register,
    readReceipts: true,
  };
  let client: ChatClient;
  try {
    client = await ChatClient.connect(clientOptions, listen);
  } catch (err) {
    if (!(options.allowOffline && err instanceof ChatError && err.code === 'not_connected')) throw err;
    client = ChatClient.offline(clientOptions, listen);
  }
  // Asked once the account works: the only copy of this device's keys is in this storage. A browser
  // that fails to answer has promised nothing, and the screen says so.
  const storage = await requestPersistentStorage().catch((): StoragePersistence => 'unavailable');
  return {
    client,
    identity,
    stores,
    storage,
    close: async () => {
      await client.close();
      await stores.close();
    },
  };
}

/** Makes keys for `username`, stores them and registers the name on the server; a taken name is refused (username_taken). */
export async function createAccount(username: string, passphrase: string, listen: (client: ChatClient) => void, choice: TabChoice = {}): Promise<OpenAccount> {
  const problem = usernameProblem(username);
  if (problem) throw new ChatError('invalid_username', problem);
  const weak = passphraseProblem(passphrase);
  if (weak) throw new Error(weak);
  const stores = await createStores(username, passphrase, choice);
  try {
    await stores.saveIdentity({ username, keys: await generateWrappableDeviceKeys() });
    return await openAccount(stores, true, listen);
  } catch (err) {
    await removeStores(stores);
    throw err;
  }
}

/** Unlocks an account this browser holds and logs in: WrongPassphraseError changes nothing. */
export async function unlockAccount(username: string, passphrase: string, listen: (client: ChatClient) => void, choice: TabChoice = {}): Promise<OpenAccount> {
  const stores = await unlockStores(username, passphrase, choice);
  if (!stores.identity()) {
    // A link (or creation) that never finished, the tab closed midway: nothing in it can be used.
    await removeStores(stores);
    throw new BrowserAccountError('no_identity', `Linking this browser to ${username} never finished, so nothing of it was kept: link it again.`);
  }
  try {
    return await openAccount(stores, false, listen, { allowOffline: true });
  } catch (err) {
    await stores.close();
    throw err;
  }
}
