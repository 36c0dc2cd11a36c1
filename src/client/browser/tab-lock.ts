/**
 * One tab at a time per account: a client advancing ratchet sessions in two tabs at once would race on
 * every session (compare-and-swap keeps them correct, at the cost of redone work and two clients
 * answering one server). The app claims the account's Web Lock (`navigator.locks`, exclusive, one name
 * per account) before it starts a client and holds it while the client runs; a second tab is told the
 * account is open elsewhere, and may take it over (`steal`), which the first tab learns through `lost`.
 * Web Locks are released by the browser when the holding tab closes or crashes, so no lock outlives it.
 *
 * Also here: asking the browser to keep the account's storage (`navigator.storage.persist()`), so it is
 * not evicted under storage pressure with the only copy of the device's keys.
 */

/** The part of the Web Locks API used here (W3C Web Locks §3). */
export interface TabLockManager {
  request(name: string, options: { mode?: 'exclusive'; ifAvailable?: boolean; steal?: boolean }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown>;
}

export type AccountTab =
  | {
      readonly held: true;
      /** Lets the lock go (the client stopped, the user locked the app). */
      release(): void;
      /** Resolves if another tab took the account over with `steal`: stop the client at once. */
      readonly lost: Promise<void>;
    }
  | { readonly held: false; readonly reason: 'open_in_another_tab' };

export const accountLockName = (username: string): string => `e2ee-chat/account/${username}`;

const browserLocks = (): TabLockManager | undefined => (globalThis.navigator as { locks?: TabLockManager } | undefined)?.locks;

/**
 * Claims `username` for this tab. Answers at once: held (keep it while the client runs), or
 * 'open_in_another_tab'. With `steal`, takes it even from another tab (whose `lost` resolves).
 * Throws where the runtime has no Web Locks: without them one tab at a time cannot be promised.
 */
export function claimAccountTab(username: string, options: { steal?: boolean; locks?: TabLockManager } = {}): Promise<AccountTab> {
  const locks = options.locks ?? browserLocks();
  if (!locks) return Promise.reject(new Error('this browser has no Web Locks (navigator.locks): one tab at a time cannot be enforced'));
  return new Promise<AccountTab>((answer, fail) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let lose!: () => void;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    const request = options.steal ? { mode: 'exclusive' as const, steal: true } : { mode: 'exclusive' as const, ifAvailable: true };
    locks
      .request(accountLockName(username), request, async (lock) => {
        if (lock === null) return answer({ held: false, reason: 'open_in_another_tab' });
        answer({ held: true, release, lost });
        await released; // the lock is held until this callback's promise settles
      })
      // A stolen lock rejects the holder's request with AbortError: that is how the first tab learns.
      .catch((err: unknown) => ((err as DOMException | undefined)?.name === 'AbortError' ? lose() : fail(err)));
  });
}

export type StoragePersistence = 'persisted' | 'denied' | 'unavailable';

/**
 * Asks the browser to keep this origin's storage (Storage Standard §4.3): 'persisted' when granted (or
 * already), 'denied' when refused (the app may tell the user storage can be evicted), 'unavailable'
 * where the API is missing.
 */
export async function requestPersistentStorage(storage: { persisted?(): Promise<boolean>; persist?(): Promise<boolean> } | undefined = (globalThis.navigator as { storage?: StorageManager } | undefined)?.storage): Promise<StoragePersistence> {
  if (!storage?.persist) return 'unavailable';
  if ((await storage.persisted?.()) === true) return 'persisted';
  return (await storage.persist()) ? 'persisted' : 'denied';
}
