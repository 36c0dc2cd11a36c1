/**
 * Linking this browser to an existing account as a new device (docs/PROTOCOL.md §18), as the CLI's
 * `link` does (src/cli/link-command.ts): fresh keys for this device, a one-time code that the account's
 * first device approves (`e2ee-chat devices approve CODE`), then the provisioning it sends (the account's
 * public keys, its pins, its device list) is adopted and this device logs in as itself.
 *
 * After the login, the two checks `link` makes: the server's device list names this device, and the
 * directory's account key is the one the first device sent. This device's keys are made by WebCrypto and
 * kept in memory until the first device approved; then they are wrapped into the account's vault and used
 * from there as non-extractable keys.
 */
import { ChatError, adoptProvisioning, requestDeviceLink, webCryptoDeviceSecrets, type ChatClient, type PendingDeviceLink, type WebCryptoDeviceKeys } from '../../src/client/index.js';
import { generateWrappableDeviceKeys } from '../../src/client/browser/index.js';
import { openAccount, passphraseProblem, usernameProblem, type OpenAccount } from './account.js';
import { createStores, removeStores, type AppStores, type TabChoice } from './app-stores.js';

/** This device's name in the account's device list (public: the list is signed and shown to the account's devices). */
export const BROWSER_DEVICE_NAME = 'web browser';

export interface PendingLink {
  username: string;
  /** The one-time code to approve on the first device. */
  code: string;
  /** This device's key fingerprint, which the first device shows too. */
  keyFingerprint: string;
  expiresAt: number;
  /** The linked account, logged in; fails if the link fails (wrong code, expired, cancelled). */
  done: Promise<OpenAccount>;
  cancel(): void;
}

/**
 * The account is made in this browser first: the link's offer carries this device's ratchet identity and
 * first prekeys, made in its ratchet store. If the link fails at any step, the account is removed again.
 */
export async function linkToAccount(username: string, passphrase: string, listen: (client: ChatClient) => void, choice: TabChoice = {}): Promise<PendingLink> {
  const problem = usernameProblem(username);
  if (problem) throw new ChatError('invalid_username', problem);
  const weak = passphraseProblem(passphrase);
  if (weak) throw new Error(weak);
  const stores = await createStores(username, passphrase, choice);
  let keys: WebCryptoDeviceKeys;
  let pending: PendingDeviceLink;
  try {
    // Extractable until storeIdentity wraps them (after the approval); the link signs with them meanwhile.
    keys = await generateWrappableDeviceKeys();
    pending = await requestDeviceLink({ url: window.location.origin, username, name: BROWSER_DEVICE_NAME, keys: await webCryptoDeviceSecrets(keys), ratchet: stores.ratchet });
  } catch (err) {
    await removeStores(stores);
    throw err;
  }
  const done = pending.done.then(
    (provisioned) =>
      undoing(stores, async () => {
        await adoptProvisioning(stores.peers, provisioned);
        await stores.saveIdentity({ username, device: provisioned.device, account: provisioned.account, keys });
        const account = await openAccount(stores, false, listen);
        try {
          await checkLinked(account);
        } catch (err) {
          await account.client.close();
          throw err;
        }
        return account;
      }),
    async (err: unknown) => {
      await removeStores(stores);
      throw err;
    },
  );
  return { username, code: pending.code, keyFingerprint: pending.keyFingerprint, expiresAt: pending.expiresAt, done, cancel: () => pending.cancel() };
}

/** Runs the rest of the link; if any of it fails, the account is removed from this browser. */
async function undoing<T>(stores: AppStores, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await removeStores(stores);
    throw err;
  }
}
/** The server's word agrees with the first device's: this device is in the list, under the account key it sent. */
async function checkLinked({ client, identity }: OpenAccount): Promise<void> {
  const devices = await client.devices();
  if (!devices.some((d) => d.current)) throw new ChatError('device_list_invalid', "the server's device list does not name this device");
  const directory = await client.fetchKeys(identity.username);
  // Public keys: no secret to protect in this comparison.
  if (directory.signingKey.x !== identity.account!.signingKey.x) {
    throw new ChatError('peer_key_changed', `the server's keys for ${identity.username} are not the ones its first device sent: do not use this device, and check the server`);
  }
}
