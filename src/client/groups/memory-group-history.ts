/**
 * The GroupHistoryStore in memory, for tests and throwaway clients: entries are kept as their JSON text,
 * so a caller's later change to an object it recorded or read never reaches the store.
 */
import type { GroupHistoryEntry, GroupHistoryStore } from './group-history.js';

export class MemoryGroupHistory implements GroupHistoryStore {
  /** By id, in the order recorded (a Map keeps insertion order). */
  readonly #entries = new Map<string, { json: string; groupId: string; displayed: boolean }>();

  async record(entry: GroupHistoryEntry, options: { displayed: boolean }): Promise<'new' | 'duplicate'> {
    if (this.#entries.has(entry.id)) return 'duplicate';
    this.#entries.set(entry.id, { json: JSON.stringify(entry), groupId: entry.groupId, displayed: options.displayed });
    return 'new';
  }

  async history(groupId: string, limit?: number): Promise<GroupHistoryEntry[]> {
    const all = [...this.#entries.values()].filter((e) => e.groupId === groupId);
    return (limit === undefined ? all : all.slice(Math.max(0, all.length - limit))).map((e) => JSON.parse(e.json) as GroupHistoryEntry);
  }

  async undisplayed(): Promise<GroupHistoryEntry[]> {
    return [...this.#entries.values()].filter((e) => !e.displayed).map((e) => JSON.parse(e.json) as GroupHistoryEntry);
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const e = this.#entries.get(id);
      if (e) e.displayed = true;
    }
  }
}
