/**
 * The GroupHistoryStore (groups/group-history.ts) in the account's IndexedDB database, kept as the
 * 1:1 history is (idb-message-store.ts): one row per entry, sealed under the vault's data key, found by
 * an HMAC of its id (a second copy is recorded once), filed under an HMAC of its group, `waiting` while
 * an incoming entry has not been shown. Oldest first by insertion order.
 *
 * ChatClient takes it as `groupHistory` and awaits each record before it saves the group row and acks,
 * so an entry the server was told was handled is here even if the tab closes at once.
 */
import { STORES } from './account-database.js';
import type { GroupHistoryEntry, GroupHistoryStore } from '../groups/group-history.js';
import { cursorValues, requestResult, transact } from './idb.js';
import { rowByName, type SealedRow } from './record-rows.js';
import type { RecordSealer } from './record-sealer.js';

const GH = STORES.groupHistory;

export class IdbGroupHistory implements GroupHistoryStore {
  constructor(
    private readonly db: IDBDatabase,
    private readonly sealer: RecordSealer,
  ) {}

  private groupKey(groupId: string): Promise<string> {
    return this.sealer.nameOf(`group-history:${groupId}`);
  }

  private openAll(rows: readonly SealedRow[]): Promise<GroupHistoryEntry[]> {
    return Promise.all(rows.map((row) => this.sealer.open<GroupHistoryEntry>(GH, row.name, row.data)));
  }

  /** Records `entry` once; 'duplicate' when an entry of its id is there already. */
  async record(entry: GroupHistoryEntry, options: { displayed: boolean }): Promise<'new' | 'duplicate'> {
    const name = await this.sealer.nameOf(`group-entry:${entry.id}`);
    const row: SealedRow = { name, rev: 1, data: await this.sealer.seal(GH, name, entry), group: await this.groupKey(entry.groupId), ...(!options.displayed && { waiting: 1 }) };
    return transact(this.db, GH, 'readwrite', async (tx) => {
      if ((await rowByName(tx, GH, name)) !== undefined) return 'duplicate';
      await requestResult(tx.objectStore(GH).add(row));
      return 'new';
    });
  }

  /** A group's entries, oldest first; with `limit`, the newest `limit` of them. */
  async history(groupId: string, limit?: number): Promise<GroupHistoryEntry[]> {
    const group = await this.groupKey(groupId);
    const rows = await transact(this.db, GH, 'readonly', (tx) => cursorValues<SealedRow>(tx.objectStore(GH).index('group'), IDBKeyRange.only(group), 'prev', limit ?? Infinity));
    return (await this.openAll(rows)).reverse();
  }

  /** Incoming entries not shown yet, of every group, oldest first. */
  async undisplayed(): Promise<GroupHistoryEntry[]> {
    const rows = await transact(this.db, GH, 'readonly', (tx) => requestResult<SealedRow[]>(tx.objectStore(GH).index('waiting').getAll()));
    return this.openAll(rows);
  }

  /** The entries of these ids count as shown. */
  async markDisplayed(ids: readonly string[]): Promise<void> {
    const names = await Promise.all(ids.map((id) => this.sealer.nameOf(`group-entry:${id}`)));
    // Only a clear field changes: no record to open, so one transaction does it all.
    await transact(this.db, GH, 'readwrite', async (tx) => {
      for (const name of names) {
        const row = await rowByName(tx, GH, name);
        if (!row?.waiting) continue;
        const { waiting: _waiting, ...shown } = row;
        await requestResult(tx.objectStore(GH).put({ ...shown, rev: row.rev + 1 }));
      }
    });
  }
}
