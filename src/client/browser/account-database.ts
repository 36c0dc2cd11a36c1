/**
 * One IndexedDB database per account on this browser profile, `e2ee-chat/<username>`, holding the vault
 * and every store's records. The layout (schema version 1, version 2's two group stores, version 3's group history):
 *
 *   meta            out-of-line keys: 'vault' (the wrapped data key, readable before unlock),
 *                   'identity', 'ratchetIdentity', 'keyState', 'heldTotals', 'linkCodes'
 *   messages        {seq (auto), name, rev, data, direction, waiting?}   index name (unique), waiting
 *   outbox          {seq (auto), name, rev, data, pending?}              index name (unique), pending
 *   held            {seq (auto), name, rev, data, peer, bytes}           index name (unique), peer
 *   peers           {name, rev, data}
 *   sessions        {name, rev, data}                                    rev is the session's version
 *   prekeys         {kind, id, rev, data, oneTime, handedOut?}           index oneTime [kind, oneTime]
 *   lastResortUses  {seq (auto), use, kemId, signedId}                   index use (unique)
 *   groups          {name, rev, data, summary}                           v2: MLS group rows (idb-group-store.ts)
 *   keyPackages     {name, rev, data, ref, lastResort, createdAt}        v2: KeyPackage private halves; index lastResort
 *   groupHistory    {seq (auto), name, rev, data, group, waiting?}       v3: group texts and membership changes
 *                                                                        (idb-group-history.ts); index name (unique), group, waiting
 *
 * `name` is an HMAC of what names the record (record-sealer.ts); `seq` keeps insertion order where the
 * interfaces promise "oldest first". `waiting` (an incoming record not yet shown) and `pending` (an outbox
 * entry not failed) are present only when true, so their indexes list exactly those records. Prekeys
 * are keyed by kind and id in the clear, as in ratchet.sqlite: the server hands those ids out.
 */
import { openDatabase } from './idb.js';

export const ACCOUNT_DATABASE_PREFIX = 'e2ee-chat/';
export const ACCOUNT_SCHEMA_VERSION = 3;

export const databaseNameOf = (username: string): string => `${ACCOUNT_DATABASE_PREFIX}${username}`;

export const STORES = {
  meta: 'meta',
  messages: 'messages',
  outbox: 'outbox',
  held: 'held',
  peers: 'peers',
  sessions: 'sessions',
  prekeys: 'prekeys',
  lastResortUses: 'lastResortUses',
  groups: 'groups',
  keyPackages: 'keyPackages',
  groupHistory: 'groupHistory',
} as const;

function createVersion1(db: IDBDatabase): void {
  db.createObjectStore(STORES.meta);
  const messages = db.createObjectStore(STORES.messages, { keyPath: 'seq', autoIncrement: true });
  messages.createIndex('name', 'name', { unique: true });
  messages.createIndex('waiting', 'waiting');
  const outbox = db.createObjectStore(STORES.outbox, { keyPath: 'seq', autoIncrement: true });
  outbox.createIndex('name', 'name', { unique: true });
  outbox.createIndex('pending', 'pending');
  const held = db.createObjectStore(STORES.held, { keyPath: 'seq', autoIncrement: true });
  held.createIndex('name', 'name', { unique: true });
  held.createIndex('peer', 'peer');
  db.createObjectStore(STORES.peers, { keyPath: 'name' });
  db.createObjectStore(STORES.sessions, { keyPath: 'name' });
  const prekeys = db.createObjectStore(STORES.prekeys, { keyPath: ['kind', 'id'] });
  prekeys.createIndex('oneTime', ['kind', 'oneTime']);
  const uses = db.createObjectStore(STORES.lastResortUses, { keyPath: 'seq', autoIncrement: true });
  uses.createIndex('use', 'use', { unique: true });
}

/** Version 2: MLS groups (docs/design/groups-mls.md §6). A version-1 database gains these two stores and keeps the rest. */
function createVersion2(db: IDBDatabase): void {
  db.createObjectStore(STORES.groups, { keyPath: 'name' });
  const keyPackages = db.createObjectStore(STORES.keyPackages, { keyPath: 'name' });
  keyPackages.createIndex('lastResort', 'lastResort');
}

/**
 * Version 3: what the user read and wrote in their groups (the MLS states keep no texts). `group` is an
 * HMAC of the group's id, so a conversation is read without opening every row, and the database shows
 * no group id.
 */
function createVersion3(db: IDBDatabase): void {
  const history = db.createObjectStore(STORES.groupHistory, { keyPath: 'seq', autoIncrement: true });
  history.createIndex('name', 'name', { unique: true });
  history.createIndex('group', 'group');
  history.createIndex('waiting', 'waiting');
}

/** Opens the account's database, creating its object stores the first time (and those of later versions on upgrade). */
export function openAccountDatabase(factory: IDBFactory, username: string): Promise<IDBDatabase> {
  return openDatabase(factory, databaseNameOf(username), ACCOUNT_SCHEMA_VERSION, upgradeAccountDatabase);
}

/** Brings a database from `oldVersion` (0: new) to ACCOUNT_SCHEMA_VERSION, inside IndexedDB's upgrade transaction. */
export function upgradeAccountDatabase(db: IDBDatabase, oldVersion: number): void {
  if (oldVersion < 1) createVersion1(db);
  if (oldVersion < 2) createVersion2(db);
  if (oldVersion < 3) createVersion3(db);
}
