/**
 * Where the web app keeps a user's state: the account's IndexedDB database in this browser
 * (src/client/browser), every record sealed under a key that the passphrase unlocks, and this device's
 * private keys wrapped there and unlocked as non-extractable CryptoKeys. Keys, pinned peers, sessions,
 * history and the outbox survive a reload; the passphrase is what opens them again.
 *
 * One tab at a time per account: the stores are handed out only with the account's tab lock held
 * (claimAccountTab), because two tabs advancing the same ratchet sessions would race. A tab that finds
 * the account open elsewhere gets AccountInUseError, and may take the account over (`steal`); the tab it
 * was taken from learns it through `lost`.
 */
import type { ClientIdentity, MessageStore, PeerKeyStore, RatchetStore, TriedLinkCodes } from '../../src/client/index.js';
import { BrowserAccount, BrowserAccountError, claimAccountTab, type AccountTab, type IdbGroupHistory, type IdbGroupStore, type NewBrowserIdentity } from '../../src/client/browser/index.js';
import { AccountInUseError } from './account-in-use.js';

export interface AppStores {
  readonly username: string;
  readonly peers: PeerKeyStore;
  readonly messages: MessageStore;
  readonly ratchet: RatchetStore;
  readonly triedLinkCodes: TriedLinkCodes;
  /** MLS group states and KeyPackages, for ChatClient. */
  readonly groups: IdbGroupStore;
  /** The group conversations as shown (texts and membership changes), sealed like the 1:1 history. */
  readonly groupHistory: IdbGroupHistory;
  /** True: what the stores hold outlives the tab (the UI warns when it does not). */
  readonly durable: boolean;
  /** This device's identity for ChatClient.connect; undefined until saved (a link not finished). */
  identity(): ClientIdentity | undefined;
  /** Wraps and stores this device's keys (made by generateWrappableDeviceKeys); they come back non-extractable. */
  saveIdentity(identity: NewBrowserIdentity): Promise<ClientIdentity>;
  /** Resolves when another tab took this account over: everything here must stop at once. */
  readonly lost: Promise<void>;
  /** Closes the database and lets the account's tab lock go. */
  close(): Promise<void>;
}

export interface TabChoice {
  /** Take the account from the tab that has it open (that tab stops). */
  readonly steal?: boolean;
}

/** The accounts this browser holds, by name. */
export function storedAccounts(): Promise<string[]> {
  return BrowserAccount.list();
}

/** Makes the account's database and vault in this browser (BrowserAccountError 'account_exists' if it has one). */
export async function createStores(username: string, passphrase: string, choice: TabChoice = {}): Promise<AppStores> {
  // Claimed first: another tab creating or using the same name is told apart from a name already taken here.
  const tab = await claimTab(username, choice);
  try {
    return storesOf(await BrowserAccount.create(username, passphrase), tab);
  } catch (err) {
    // A database opened for a vault that was then not made would be listed as an account: it goes. One
    // that holds an account already is that account, and stays.
    if (!(err instanceof BrowserAccountError && err.code === 'account_exists')) await BrowserAccount.remove(username);
    tab.release();
    throw err;
  }
}

/** Unlocks an account of this browser: WrongPassphraseError, BrowserAccountError 'no_account', or AccountInUseError. */
export async function unlockStores(username: string, passphrase: string, choice: TabChoice = {}): Promise<AppStores> {
  // The passphrase is checked before the tab lock is touched: a wrong one changes nothing, in no tab.
  const account = await BrowserAccount.open(username, passphrase);
  let tab: HeldTab;
  try {
    tab = await claimTab(username, choice);
  } catch (err) {
    account.close();
    throw err;
  }
  return storesOf(account, tab);
}

/** Closes the stores and deletes the account's database with everything in it (a creation or link that failed). */
export async function removeStores(stores: AppStores): Promise<void> {
  await stores.close();
  await BrowserAccount.remove(stores.username);
}

type HeldTab = Extract<AccountTab, { held: true }>;

async function claimTab(username: string, choice: TabChoice): Promise<HeldTab> {
  const tab = await claimAccountTab(username, choice.steal ? { steal: true } : {});
  if (!tab.held) throw new AccountInUseError(username);
  return tab;
}

function storesOf(account: BrowserAccount, tab: HeldTab): AppStores {
  const { messages, ratchet, peers, triedLinkCodes, groups, groupHistory } = account.stores;
  return {
    username: account.username,
    peers,
    messages,
    ratchet,
    triedLinkCodes,
    groups,
    groupHistory,
    durable: true,
    identity: () => (account.identity ? account.clientIdentity() : undefined),
    saveIdentity: async (identity) => {
      await account.storeIdentity(identity);
      return account.clientIdentity();
    },
    lost: tab.lost,
    close: async () => {
      account.close();
      tab.release();
    },
  };
}
