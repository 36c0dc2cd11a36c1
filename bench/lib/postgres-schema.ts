/** A PostgreSQL schema of a benchmark's own in the test database, for server processes to share. */
import pg from 'pg';
import { TEST_DATABASE_URL, testSchemaName } from '../../test/helpers/postgres.js';

/** Creates a fresh schema; its URL has the schema as search_path (what a node's E2EE_CHAT_DATABASE_URL takes). */
export async function freshSchema(): Promise<{ schema: string; url: string }> {
  const schema = testSchemaName();
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { schema, url: url.toString() };
}
