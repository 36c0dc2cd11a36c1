/**
 * The GroupStore in memory, for tests and throwaway clients: rows are kept as their JSON text (group-rows.ts),
 * so a caller's later change to an object it saved or loaded never reaches the store.
 */
import { base64urlDecode, base64urlEncode, type Bytes } from '../../crypto/bytes.js';
import { groupRowFromJson, groupRowToJson, keyPackageRowFromJson, keyPackageRowToJson } from './group-rows.js';
import type { GroupRow, GroupStore, GroupSummary, KeyPackageRow, VersionedGroupRow } from './group-store.js';

export class MemoryGroupStore implements GroupStore {
  readonly #groups = new Map<string, { json: string; name: string | undefined; version: number }>();
  readonly #keyPackages = new Map<string, string>();

  async loadGroup(groupId: Uint8Array): Promise<VersionedGroupRow | undefined> {
    const entry = this.#groups.get(base64urlEncode(groupId));
    return entry && { row: groupRowFromJson(JSON.parse(entry.json)), version: entry.version };
  }

  async saveGroup(row: GroupRow, name: string | undefined, expected: number): Promise<boolean> {
    const key = base64urlEncode(row.groupId);
    if ((this.#groups.get(key)?.version ?? 0) !== expected) return false;
    this.#groups.set(key, { json: JSON.stringify(groupRowToJson(row)), name, version: expected + 1 });
    return true;
  }

  async listGroups(): Promise<GroupSummary[]> {
    return [...this.#groups.values()].map((e) => {
      const row = groupRowFromJson(JSON.parse(e.json));
      return { groupId: row.groupId, name: e.name, inactive: row.inactive === true };
    });
  }

  async putKeyPackage(ref: Uint8Array, row: KeyPackageRow): Promise<void> {
    this.#keyPackages.set(base64urlEncode(ref), JSON.stringify(keyPackageRowToJson(row)));
  }

  async loadKeyPackage(ref: Uint8Array): Promise<KeyPackageRow | undefined> {
    const json = this.#keyPackages.get(base64urlEncode(ref));
    return json === undefined ? undefined : keyPackageRowFromJson(JSON.parse(json));
  }

  async deleteKeyPackage(ref: Uint8Array): Promise<boolean> {
    return this.#keyPackages.delete(base64urlEncode(ref));
  }

  async lastResortKeyPackages(): Promise<{ ref: Bytes; createdAt: number }[]> {
    const out: { ref: Bytes; createdAt: number }[] = [];
    for (const [ref, json] of this.#keyPackages) {
      const row = keyPackageRowFromJson(JSON.parse(json));
      if (row.lastResort) out.push({ ref: base64urlDecode(ref), createdAt: row.createdAt });
    }
    return out;
  }
}
