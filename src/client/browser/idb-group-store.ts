/**
 * The GroupStore (groups/group-store.ts) in the account's IndexedDB database, as node/sqlite-group-store.ts
 * keeps it in ratchet.sqlite: one row per group, found by an HMAC of its id, its JSON row (group-rows.ts)
 * sealed under the vault's data key with the store and name as associated data, and a small sealed
 * summary (id, name, inactive) beside it for listing; one row per KeyPackage private half, found by an
 * HMAC of its KeyPackageRef, whether it is the last-resort one in the clear (the server knows that too).
 *
 * Saves are compare-and-swap on the row's `rev` (record-rows.ts): sealing happens before the transaction
 * opens (idb.ts says why), and the transaction only checks the rev and writes.
 */
import { base64urlDecode, base64urlEncode, type Bytes } from '../../crypto/bytes.js';
import { groupRowFromJson, groupRowToJson, groupSummaryFromJson, groupSummaryToJson, keyPackageRowFromJson, keyPackageRowToJson } from '../groups/group-rows.js';
import type { GroupRow, GroupStore, GroupSummary, KeyPackageRow, VersionedGroupRow } from '../groups/group-store.js';
import { STORES } from './account-database.js';
import { requestResult, transact } from './idb.js';
import type { RecordSealer } from './record-sealer.js';

const G = STORES.groups;
const KP = STORES.keyPackages;

interface GroupIdbRow {
  name: string;
  rev: number;
  data: Uint8Array;
  summary: Uint8Array;
}

interface KeyPackageIdbRow {
  name: string;
  rev: number;
  data: Uint8Array;
  ref: Uint8Array;
  lastResort: 0 | 1;
  createdAt: number;
}

export class IdbGroupStore implements GroupStore {
  constructor(
    private readonly db: IDBDatabase,
    private readonly sealer: RecordSealer,
  ) {}

  private groupName(groupId: Uint8Array): Promise<string> {
    return this.sealer.nameOf(`mls-group:${base64urlEncode(groupId)}`);
  }

  private keyPackageName(ref: Uint8Array): Promise<string> {
    return this.sealer.nameOf(`mls-key-package:${base64urlEncode(ref)}`);
  }

  async loadGroup(groupId: Uint8Array): Promise<VersionedGroupRow | undefined> {
    const name = await this.groupName(groupId);
    const row = await transact(this.db, G, 'readonly', (tx) => requestResult<GroupIdbRow | undefined>(tx.objectStore(G).get(name)));
    return row && { row: groupRowFromJson(await this.sealer.open(G, name, row.data)), version: row.rev };
  }

  async saveGroup(row: GroupRow, groupName: string | undefined, expected: number): Promise<boolean> {
    const name = await this.groupName(row.groupId);
    const data = await this.sealer.seal(G, name, groupRowToJson(row));
    const summary = await this.sealer.seal(G, `${name}:summary`, groupSummaryToJson({ groupId: row.groupId, name: groupName, inactive: row.inactive === true }));
    return transact(this.db, G, 'readwrite', async (tx) => {
      const os = tx.objectStore(G);
      const now = await requestResult<GroupIdbRow | undefined>(os.get(name));
      if ((now?.rev ?? 0) !== expected) return false;
      await requestResult(os.put({ name, rev: expected + 1, data, summary } satisfies GroupIdbRow));
      return true;
    });
  }

  async listGroups(): Promise<GroupSummary[]> {
    const rows = await transact(this.db, G, 'readonly', (tx) => requestResult<GroupIdbRow[]>(tx.objectStore(G).getAll()));
    return Promise.all(rows.map(async (r) => groupSummaryFromJson(await this.sealer.open(G, `${r.name}:summary`, r.summary))));
  }

  async putKeyPackage(ref: Uint8Array, row: KeyPackageRow): Promise<void> {
    const name = await this.keyPackageName(ref);
    const data = await this.sealer.seal(KP, name, keyPackageRowToJson(row));
    const sealedRef = await this.sealer.seal(KP, `${name}:ref`, base64urlEncode(ref));
    const record: KeyPackageIdbRow = { name, rev: 1, data, ref: sealedRef, lastResort: row.lastResort ? 1 : 0, createdAt: row.createdAt };
    await transact(this.db, KP, 'readwrite', async (tx) => {
      const os = tx.objectStore(KP);
      // Written once: a package's private half never changes.
      if ((await requestResult(os.getKey(name))) === undefined) await requestResult(os.put(record));
    });
  }

  async loadKeyPackage(ref: Uint8Array): Promise<KeyPackageRow | undefined> {
    const name = await this.keyPackageName(ref);
    const row = await transact(this.db, KP, 'readonly', (tx) => requestResult<KeyPackageIdbRow | undefined>(tx.objectStore(KP).get(name)));
    return row && keyPackageRowFromJson(await this.sealer.open(KP, name, row.data));
  }

  async deleteKeyPackage(ref: Uint8Array): Promise<boolean> {
    const name = await this.keyPackageName(ref);
    return transact(this.db, KP, 'readwrite', async (tx) => {
      const os = tx.objectStore(KP);
      if ((await requestResult(os.getKey(name))) === undefined) return false;
      await requestResult(os.delete(name));
      return true;
    });
  }

  async lastResortKeyPackages(): Promise<{ ref: Bytes; createdAt: number }[]> {
    const rows = await transact(this.db, KP, 'readonly', (tx) => requestResult<KeyPackageIdbRow[]>(tx.objectStore(KP).index('lastResort').getAll(1)));
    return Promise.all(rows.map(async (r) => ({ ref: base64urlDecode(await this.sealer.open<string>(KP, `${r.name}:ref`, r.ref)), createdAt: r.createdAt })));
  }
}
