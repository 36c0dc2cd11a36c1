/**
 * The PeerKeyStore in the account's IndexedDB database: one sealed row per pinned peer, found by an HMAC
 * of the peer's name (record-sealer.ts). Writes run under one named lock per account (named-lock.ts),
 * as the file store's run under its lock file: `update` hands the pin to the caller's change, which may
 * await and act (delete sessions), so it must run once on the pin as it is now. Each write still checks
 * the row's `rev` in its transaction (record-rows.ts), so a writer outside the lock cannot be overwritten.
 */
import type { PeerKeyStore, PinChange, PinnedPeer } from '../stores.js';
import { STORES } from './account-database.js';
import { requestResult, transact } from './idb.js';
import { withNamedLock } from './named-lock.js';
import { nextRow, rowByName, updateRows, type SealedRow } from './record-rows.js';
import type { RecordSealer } from './record-sealer.js';

const P = STORES.peers;

export class IdbPeerKeyStore implements PeerKeyStore {
  private readonly lockName: string;

  constructor(
    private readonly db: IDBDatabase,
    private readonly sealer: RecordSealer,
  ) {
    this.lockName = `${db.name}/peers`;
  }

  private nameOf(username: string): Promise<string> {
    return this.sealer.nameOf(`peer:${username}`);
  }

  async get(username: string): Promise<PinnedPeer | undefined> {
    const name = await this.nameOf(username);
    const row = await transact(this.db, P, 'readonly', (tx) => rowByName(tx, P, name));
    return row && this.sealer.open<PinnedPeer>(P, name, row.data);
  }

  async put(peer: PinnedPeer): Promise<void> {
    await this.update(peer.username, () => ({ pin: peer, result: undefined }));
  }

  async putIfAbsent(peer: PinnedPeer): Promise<PinnedPeer> {
    return this.update(peer.username, (pinned) => (pinned ? { result: pinned } : { pin: peer, result: peer }));
  }

  update<T>(username: string, change: (pin: PinnedPeer | undefined) => PinChange<T> | Promise<PinChange<T>>): Promise<T> {
    return withNamedLock(this.lockName, async () => {
      const name = await this.nameOf(username);
      let ran = false;
      return updateRows(this.db, [P], [{ store: P, name }], async ([row]) => {
        // Under the lock only an outside writer can make the write lose; the change must not run twice.
        if (ran) throw new Error(`the pin of ${username} changed outside the peers lock while a change to it ran`);
        ran = true;
        const current = row && (await this.sealer.open<PinnedPeer>(P, name, row.data));
        const { pin, result } = await change(current);
        if (!pin) return { writes: [], result };
        return { writes: [{ store: P, put: nextRow(row, name, await this.sealer.seal(P, name, pin)) }], result };
      });
    });
  }

  async all(): Promise<PinnedPeer[]> {
    const rows = await transact(this.db, P, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(P).getAll()));
    return Promise.all(rows.map((row) => this.sealer.open<PinnedPeer>(P, row.name, row.data)));
  }
}
