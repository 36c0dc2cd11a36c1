/** The store the configuration names, opened (and, for PostgreSQL, connected and migrated) before the server listens. */
import type { ServerConfig } from '../config.js';
import { MemoryServerStore } from './memory-store.js';
import { PostgresServerStore } from './postgres-store.js';
import type { ServerStore } from './server-store.js';
import { SqliteServerStore } from './sqlite-store.js';

export interface OpenedStore {
  store: ServerStore;
  /** Where it keeps its data, for the start-up log: a path, `memory`, or the database without its password. */
  location: string;
}

export async function openServerStore(config: ServerConfig): Promise<OpenedStore> {
  if (config.store === 'memory') return { store: new MemoryServerStore(), location: 'memory' };
  if (config.store === 'postgres') {
    const store = await PostgresServerStore.open({ connectionString: config.databaseUrl! });
    return { store, location: store.location };
  }
  const store = new SqliteServerStore(config.dataDir);
  return { store, location: store.path };
}
