/**
 * Creating an account in this browser, as the CLI's first `receive` does (src/cli/common.ts): fresh keys
 * (generateUserKeyPairs), the app's stores (app-stores.ts), and a ChatClient that registers the name at
 * its first login. The server binds the name to these keys: a taken name is refused (username_taken).
 */
import { ChatClient, ChatError, generateUserKeyPairs, type ClientIdentity } from '../../src/client/index.js';
import { USERNAME_PATTERN } from '../../src/protocol/limits.js';
import { openStores, type AppStores } from './app-stores.js';

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
 * Makes keys for `username`, registers the name on the server this page came from and connects.
 * `listen` gets the client before it connects, so events of the first login are not missed.
 */
export async function createAccount(username: string, passphrase: string, listen: (client: ChatClient) => void): Promise<OpenAccount> {
  const problem = usernameProblem(username);
  if (problem) throw new ChatError('invalid_username', problem);
  const stores = await openStores(username, passphrase);
  const identity: ClientIdentity = { username, keys: await generateUserKeyPairs() };
  let client: ChatClient;
  try {
    client = await ChatClient.connect(
      {
        // Same origin as the page: the relay serves the app (connect-src 'self').
        url: window.location.origin,
        identity,
        peers: stores.peers,
        messages: stores.messages,
        ratchet: stores.ratchet,
        register: true,
        readReceipts: true,
      },
      listen,
    );
  } catch (err) {
    await stores.close();
    throw err;
  }
  // Kept only once the server accepted the name: keys for a refused name are worth nothing.
  await stores.identity.save(identity);
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
