/**
 * What the server persists, behind one interface so another backend (PostgreSQL) is a second file, not
 * a rewrite. Asynchronous because network-backed stores are.
 */
import type { UserKeys } from '../../protocol/events.js';

export interface UserRecord extends UserKeys {
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
}

export interface ServerStore {
  getUser(username: string): Promise<UserRecord | undefined>;
  /** Inserts atomically; returns the record that holds the name afterwards (ours, or an earlier one). */
  createUser(record: UserRecord): Promise<{ created: boolean; record: UserRecord }>;
  /** Cheap liveness probe for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
