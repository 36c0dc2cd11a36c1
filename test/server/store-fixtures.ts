/**
 * The three ServerStore implementations, and inputs for them, for the contract tests: every contract
 * file runs its cases once per backend (describe.each over `backends`). The PostgreSQL backend opens
 * each store in a schema of its own, dropped by cleanupStores; without a reachable PostgreSQL its cases
 * skip loudly, or fail under E2EE_CHAT_REQUIRE_SERVICES=1 (test/helpers/postgres.ts).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach } from 'vitest';
import { MemoryServerStore } from '../../src/server/store/memory-store.js';
import type { PostgresStoreOptions } from '../../src/server/store/postgres-pool.js';
import { PostgresServerStore } from '../../src/server/store/postgres-store.js';
import type { EnqueueInput, EnqueueResult, PreKeyUpload, QueuedEnvelope, ServerStore } from '../../src/server/store/server-store.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { dropSchemas, postgresGate, TEST_DATABASE_URL, testSchemaName } from '../helpers/postgres.js';
import { removeDir } from '../helpers/test-server.js';

export const quota = { maxCount: 1000, maxBytes: 1_000_000 };

let n = 0;
/** One copy from alice/1 to bob/1 with a fresh server id and client id, unless overridden. */
export function input(over: Partial<EnqueueInput> = {}): EnqueueInput {
  n++;
  return {
    id: `srv${n}`,
    sender: 'alice',
    senderDevice: 1,
    recipient: 'bob',
    recipientDevice: 1,
    clientId: `client-id-${n}`.padEnd(16, 'x'),
    sentAt: 1000 + n,
    expiresAt: 10_000_000,
    envelope: `{"n":${n}}`,
    ...over,
  };
}

export function stored(r: EnqueueResult): QueuedEnvelope {
  if (r.status !== 'stored') throw new Error(`expected stored, got ${r.status}`);
  return r.message;
}

const dirs: string[] = [];
const schemas: string[] = [];
const opened: ServerStore[] = [];

export function tempStoreDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-store-'));
  dirs.push(dir);
  return dir;
}

/** A PostgreSQL store in the given schema (a new one by default); closed and dropped by cleanupStores. */
/** `sessionSettings`: PostgreSQL settings every connection of the store starts with (`-c name=value`). */
export async function postgresStore(
  schema = testSchemaName(),
  options: Pick<PostgresStoreOptions, 'timeouts'> & { sessionSettings?: Record<string, string> } = {},
): Promise<PostgresServerStore> {
  assertPostgres();
  if (!schemas.includes(schema)) schemas.push(schema);
  const { sessionSettings, ...storeOptions } = options;
  const url = new URL(TEST_DATABASE_URL);
  if (sessionSettings) url.searchParams.set('options', Object.entries(sessionSettings).map(([name, value]) => `-c ${name}=${value}`).join(' '));
  // Named after its schema, so a test can find its own connections among those of parallel test files.
  const store = await PostgresServerStore.open({ connectionString: url.toString(), schema, applicationName: schema, ...storeOptions });
  opened.push(store);
  return store;
}

/** Closes what a test left open (a failed test skips its own close), then drops its folders and schemas. */
export async function cleanupStores(): Promise<void> {
  for (const s of opened.splice(0)) await s.close();
  for (const d of dirs.splice(0)) removeDir(d);
  await dropSchemas(schemas.splice(0));
}

const postgres = await postgresGate();

/**
 * Every contract suite is titled by its backend first ('%s server store…'): a PostgreSQL suite's cases
 * skip here when PostgreSQL is absent and not required. Required and absent, they run and fail on
 * connecting, with the reason.
 */
beforeEach((ctx) => {
  if (postgres.skip && ctx.task.suite?.name.startsWith('postgres ')) ctx.skip();
});

export type StoreFactory = () => Promise<ServerStore>;

function assertPostgres(): void {
  if (postgres.unreachable) throw new Error(`${postgres.unreachable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
}

export const backends: Array<[string, StoreFactory]> = [
  ['memory', async () => new MemoryServerStore()],
  ['sqlite', async () => new SqliteServerStore(tempStoreDir())],
  [
    'postgres',
    () => postgresStore(),
  ],
];

/**
 * The backends that keep data across a restart: each call gives a new place (a folder, a schema) and a
 * function that opens a store on it; opening it again after a close is a server restart.
 */
export const durableBackends: Array<[string, () => StoreFactory]> = [
  [
    'sqlite',
    () => {
      const dir = tempStoreDir();
      return async () => new SqliteServerStore(dir);
    },
  ],
  [
    'postgres',
    () => {
      const schema = testSchemaName();
      return () => postgresStore(schema);
    },
  ],
];

export const key = (tag: string, length = 43) => tag.padEnd(length, 'A');
export const sig = (tag: string) => tag.padEnd(86, 'S');

/** A prekey upload of recognisable strings (the store checks no signatures: the handler did). */
export function upload(over: Partial<PreKeyUpload> = {}, tag = ''): PreKeyUpload {
  return {
    identity: { dhKey: key(`ik1${tag}`), binding: sig('b1') },
    signedPreKey: { id: 7, publicKey: key(`spk7${tag}`), signature: sig('s7') },
    lastResortKemPreKey: { id: 1000, publicKey: key('lr', 2091), signature: sig('lr') },
    oneTimePreKeys: [1, 2, 3].map((id) => ({ id, publicKey: key(`opk${id}${tag}`) })),
    kemPreKeys: [1, 2].map((id) => ({ id, publicKey: key(`kem${id}`, 2091), signature: sig(`k${id}`) })),
    ...over,
  };
}
