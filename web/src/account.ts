/**
 * Opening an account in this browser, as the CLI does (src/cli/common.ts): the app's stores
 * (app-stores.ts), this device's keys (non-extractable WebCrypto keys, device-keys.ts), and a ChatClient connected to the server the page came from.
 * A new account registers its name at the first login (the CLI's first `receive`); a linked device
 * (link-device.ts) logs in as the device its account's first device added.
 */
import { ChatClient, ChatError, type ClientIdentity } from '../../src/client/index.js';
import { USERNAME_PATTERN } from '../../src/protocol/limits.js';
import { openStores, type AppStores } from './app-stores.js';
import { clientIdentity, generateDeviceKeys, type StoredIdentity } from './device-keys.js';

export interface OpenAccount {
  client: ChatClient;
  identity: ClientIdentity;
  stores: AppStores;
  close(): Promise<void>;
}

/** Why a username is refused before anything is made, or undefined when it is a valid one. */
export function usernameProblem(name: string): string | undefined {
  if (USERNAME_PATTERN.test(name)) return undefined;
  return 'A username starts with a lowercase letter, then up to 31 lowercase letters, digits, "-" or "_".';
}

/**
 * Connects `identity` with `stores`, logging in (registering the name when `register`); `listen` gets
 * the client before it connects, so events of the first login are not missed. The identity is saved
 * only once the server accepted it: keys for a refused name are worth nothing. Closes the stores if it fails.
 */
export async function openAccount(stored: StoredIdentity, stores: AppStores, register: boolean, listen: (client: ChatClient) => void): Promise<OpenAccount> {
  let client: ChatClient;
  let identity: ClientIdentity;
  try {
    identity = await clientIdentity(stored);
    client = await ChatClient.connect(
      {
        // Same origin as the page: the relay serves the app (connect-src 'self').
        url: window.location.origin,
        identity,
        peers: stores.peers,
        messages: stores.messages,
        ratchet: stores.ratchet,
        register,
        readReceipts: true,
      },
      listen,
    );
    await stores.identity.save(stored);
  } catch (err) {
    await stores.close();
    throw err;
  }
  return {
    client,
    identity,
    stores,
    close: async () => {
      await client.close();
      await stores.close();
    },
  };
}

/** Makes keys for `username` and registers the name on the server; a taken name is refused (username_taken). */
export async function createAccount(username: string, passphrase: string, listen: (client: ChatClient) => void): Promise<OpenAccount> {
  const problem = usernameProblem(username);
  if (problem) throw new ChatError('invalid_username', problem);
  const stores = await openStores(username, passphrase);
  return openAccount({ username, keys: await generateDeviceKeys() }, stores, true, listen);
}
