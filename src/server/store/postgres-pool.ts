/**
 * The PostgreSQL connection pool of the server store, and the one way it writes: a transaction that
 * resolves only after COMMIT returned (PostgreSQL has flushed the commit record to its WAL, with the
 * default synchronous_commit), so nothing is acknowledged to a client before it is durable.
 */
import pg from 'pg';

/** How long one statement, one connection attempt and an idle transaction may take: no request waits for ever. */
export interface PostgresTimeouts {
  statementTimeoutMs: number;
  connectionTimeoutMs: number;
  /** A connection that holds a transaction open this long without a statement is closed by the server. */
  idleInTransactionTimeoutMs: number;
}

export const DEFAULT_POSTGRES_TIMEOUTS: PostgresTimeouts = Object.freeze({
  statementTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 30_000,
});

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database?options=-c%20search_path%3Dschema */
  connectionString: string;
  /** The schema the tables live in (created if absent); undefined: the connection's search_path decides. */
  schema?: string;
  maxConnections?: number;
  timeouts?: Partial<PostgresTimeouts>;
  /** Shown in pg_stat_activity; default `e2ee-chat`. */
  applicationName?: string;
}

const INT8_OID = 20;

/**
 * Every BIGINT here is a millisecond time, a seq or a count: all far below 2^53, so a JavaScript number
 * holds them exactly. pg returns int8 as a string by default because it cannot know that; this pool
 * alone parses them (pg.types.setTypeParser would change every pool in the process).
 */
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** A schema name is spliced into `search_path`: only plain identifiers are accepted. */
export function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`PostgreSQL schema name must match [a-z_][a-z0-9_]*, got "${schema}"`);
}

/**
 * The connection settings with the schema as every connection's search_path, set at connection start
 * (the `options` startup parameter) so no query can run before it. pg lets the URL's own `options`
 * override the config's, so those are taken out of the URL and joined with ours.
 */
function withSchema(connectionString: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (schema === undefined) return { connectionString };
  const url = new URL(connectionString);
  const own = url.searchParams.get('options');
  url.searchParams.delete('options');
  return { connectionString: url.toString(), options: [own, `-c search_path=${schema}`].filter(Boolean).join(' ') };
}

export function createPostgresPool(options: PostgresStoreOptions): pg.Pool {
  const t = { ...DEFAULT_POSTGRES_TIMEOUTS, ...options.timeouts };
  if (options.schema !== undefined) assertSchemaName(options.schema);
  const pool = new pg.Pool({
    ...withSchema(options.connectionString, options.schema),
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: t.connectionTimeoutMs,
    statement_timeout: t.statementTimeoutMs,
    // The client side gives up a little after the server would have cancelled: a lost connection
    // (no answer at all) still fails the request instead of hanging it.
    query_timeout: t.statementTimeoutMs + 1_000,
    idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
    application_name: options.applicationName ?? 'e2ee-chat',
    types,
  });
  // An idle connection the server closed (restart, network) is dropped and replaced by the pool; without
  // a listener the 'error' event would crash the process.
  pool.on('error', () => undefined);
  // The same for a connection that is checked out (inside a transaction) when its socket dies: the pool
  // listens only to idle ones, and the query running on it fails on its own. Seen when the network to
  // the database is cut (test/e2e/cluster-nodes.test.ts): without this the node exited.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Deadlock and serialization failures: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 4;

/**
 * Runs `work` in one transaction and resolves with its result after COMMIT; rolls back on any throw
 * (a quota refusal that must store nothing throws nothing: `work` returns it with `rollback` set). A
 * deadlock between nodes (PostgreSQL aborts one side), or a RetryTransaction from `work`, is retried:
 * `work` is a function of its inputs and the database only, so running it again is the same request.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T | Rollback<T>>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      if (result instanceof Rollback) {
        await client.query('ROLLBACK');
        return result.value;
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      if (attempt >= MAX_ATTEMPTS || !retryable(err)) throw err;
    } finally {
      client.release(broken);
    }
  }
}

function retryable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return err instanceof RetryTransaction || (code !== undefined && RETRYABLE.has(code));
}

/** Thrown by `work` that read something another transaction changed under it: roll back and run again. */
export class RetryTransaction extends Error {}

/** A result returned by rolling the transaction back: the answer stands, nothing it wrote does. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}
