/**
 * One tab at a time per account (src/client/browser/tab-lock.ts) and the persistent-storage request.
 * Node 20 has no Web Locks, so these run against ExclusiveLocks below: the three behaviours of the W3C
 * Web Locks API the tab lock relies on (§3.1 request with ifAvailable: the callback gets null when the
 * lock is held; steal: the holder's request rejects with AbortError and the thief gets the lock; release
 * when the callback's promise settles). Chromium's own navigator.locks runs through the web app's tests.
 */
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../helpers/test-clients.js';
import { accountLockName, claimAccountTab, requestPersistentStorage, type TabLockManager } from '../../../src/client/browser/tab-lock.js';

/** Exclusive Web Locks within this test: ifAvailable, steal, release when the callback settles. */
class ExclusiveLocks implements TabLockManager {
  readonly held = new Map<string, { abort: (err: unknown) => void }>();

  request(name: string, options: { ifAvailable?: boolean; steal?: boolean }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown> {
    if (this.held.has(name) && options.ifAvailable) return callback(null);
    if (this.held.has(name) && !options.steal) throw new Error('this fake grants waiting requests never: the tab lock does not make them');
    this.held.get(name)?.abort(new DOMException('the lock was stolen', 'AbortError'));
    return new Promise((resolve, reject) => {
      const entry = { abort: reject };
      this.held.set(name, entry);
      const done = () => {
        if (this.held.get(name) === entry) this.held.delete(name);
      };
      callback({ name, mode: 'exclusive' }).then(
        (value) => (done(), resolve(value)),
        (err: unknown) => (done(), reject(err)),
      );
    });
  }
}

describe('one tab at a time per account', () => {
  it('the first tab holds the account; a second is told it is open in another tab; released, the next tab gets it', async () => {
    const locks = new ExclusiveLocks();
    const first = await claimAccountTab('alice', { locks });
    expect(first.held).toBe(true);
    expect(locks.held.has(accountLockName('alice'))).toBe(true);
    expect(await claimAccountTab('alice', { locks })).toEqual({ held: false, reason: 'open_in_another_tab' });
    // Another account is another lock.
    expect((await claimAccountTab('bob', { locks })).held).toBe(true);
    if (first.held) first.release();
    await waitUntil(() => (locks.held.has(accountLockName('alice')) ? undefined : true), 1000, 'the release');
    const next = await claimAccountTab('alice', { locks });
    expect(next.held).toBe(true);
  });

  it('a tab may take the account over; the first tab learns it through `lost`', async () => {
    const locks = new ExclusiveLocks();
    const first = await claimAccountTab('alice', { locks });
    let lost = false;
    if (first.held) void first.lost.then(() => (lost = true));
    const second = await claimAccountTab('alice', { locks, steal: true });
    expect(second.held).toBe(true);
    await waitUntil(() => (lost ? true : undefined), 1000, 'the first tab to learn it lost the account');
    expect(await claimAccountTab('alice', { locks })).toEqual({ held: false, reason: 'open_in_another_tab' });
  });

  it('without Web Locks it refuses to promise anything', async () => {
    await expect(claimAccountTab('alice')).rejects.toThrow(/no Web Locks/);
  });
});

describe('persistent storage', () => {
  it('asks once when not persisted yet, and says what the browser answered', async () => {
    let asked = 0;
    const storage = (persisted: boolean, grant: boolean) => ({ persisted: async () => persisted, persist: async () => (asked++, grant) });
    expect(await requestPersistentStorage(storage(true, false))).toBe('persisted');
    expect(asked).toBe(0);
    expect(await requestPersistentStorage(storage(false, true))).toBe('persisted');
    expect(await requestPersistentStorage(storage(false, false))).toBe('denied');
    expect(asked).toBe(2);
    expect(await requestPersistentStorage(undefined)).toBe('unavailable');
    expect(await requestPersistentStorage({})).toBe('unavailable');
  });
});
