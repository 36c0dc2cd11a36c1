/**
 * PostgreSQL for the tests: each store a test opens lives in a schema of its own (e2ee_test_<random>),
 * dropped afterwards, so test files running side by side never see each other's rows.
 *
 * A clone on a machine without PostgreSQL must still pass `npm test`: there the PostgreSQL cases skip
 * with a loud notice; `.ci/run` starts PostgreSQL and sets E2EE_CHAT_REQUIRE_SERVICES=1, under which an
 * unreachable server fails them instead.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The database the tests use: E2EE_CHAT_DATABASE_URL, or the local one .ci/run starts. */
export const TEST_DATABASE_URL = process.env.E2EE_CHAT_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
/** The variable that turns "PostgreSQL unreachable, skip" into "unreachable, fail" (set by .ci/run). */
export const REQUIRE_SERVICES_VAR = 'E2EE_CHAT_REQUIRE_SERVICES';

/** The URL for messages: without its password. */
export function redactedUrl(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

export interface PostgresGate {
  /** True when the PostgreSQL cases are to be skipped (unreachable and not required). */
  readonly skip: boolean;
  /** Why PostgreSQL cannot be used, or undefined when it can. */
  readonly unreachable?: string;
}

/** Connects once (2 s at most) to tell whether PostgreSQL is there; prints the notice when it is not. */
export async function postgresGate(): Promise<PostgresGate> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 2_000 });
  let unreachable: string | undefined;
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    unreachable = `PostgreSQL not reachable at ${redactedUrl(TEST_DATABASE_URL)} (${(err as Error).message}): start it, or set E2EE_CHAT_DATABASE_URL`;
  } finally {
    await client.end().catch(() => undefined);
  }
  const required = process.env[REQUIRE_SERVICES_VAR] === '1';
  const skip = unreachable !== undefined && !required;
  if (skip) {
    const rule = '!'.repeat(100);
    console.warn(`\n${rule}\n!! SKIPPED the PostgreSQL cases: ${unreachable}.\n!! .ci/run starts it and sets ${REQUIRE_SERVICES_VAR}=1, under which this skip is a failure.\n${rule}\n`);
  }
  return { skip, ...(unreachable !== undefined && { unreachable }) };
}

/** A fresh schema name for one store. */
export const testSchemaName = (): string => `e2ee_test_${randomBytes(8).toString('hex')}`;

/** Drops the schemas given, with everything in them. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Creates a fresh schema in the test database; its URL has the schema as search_path (what a server's
 * E2EE_CHAT_DATABASE_URL takes), through `port` when given (a proxy in front of PostgreSQL).
 */
export async function freshSchema(port?: number): Promise<{ schema: string; url: string }> {
  const schema = testSchemaName();
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const url = new URL(TEST_DATABASE_URL);
  if (port !== undefined) url.port = String(port);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { schema, url: url.toString() };
}
