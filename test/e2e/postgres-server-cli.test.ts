/**
 * The server command on PostgreSQL (E2EE_CHAT_DATABASE_URL), as an operator runs it: two users exchange
 * a message through it, and a message queued for an offline user survives a restart of the server
 * process, because it was in PostgreSQL (the data folder stays empty). The database URL carries a
 * password (ignored under trust authentication) that must appear in no output.
 *
 * The server gets a schema of its own through the URL's `options=-c search_path=…`, created here and
 * dropped afterwards. Without PostgreSQL the test skips loudly, or fails under E2EE_CHAT_REQUIRE_SERVICES=1.
 */
import { existsSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchemas, postgresGate, TEST_DATABASE_URL, testSchemaName } from '../helpers/postgres.js';
import { useProcesses, World } from './world.js';

const procs = useProcesses();
const gate = await postgresGate();
const schema = testSchemaName();
const PASSWORD = 'not-a-real-pw-7e1c';

/** The test database's URL with a password and this test's schema as search_path. */
function serverUrl(): string {
  const url = new URL(TEST_DATABASE_URL);
  if (!url.password) url.password = PASSWORD;
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

describe.skipIf(gate.skip)('postgres store: the server command on E2EE_CHAT_DATABASE_URL', () => {
  beforeAll(async () => {
    if (gate.unreachable) throw new Error(`${gate.unreachable} (E2EE_CHAT_REQUIRE_SERVICES=1 is set, so this is a failure, not a skip)`);
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.end();
  });
  afterAll(async () => {
    if (!gate.unreachable) await dropSchemas([schema]);
  });

  it('relays a message between two users, and delivers a queued one after the server restarts', async () => {
    const w = await World.create(procs, 'postgres');
    const env = { E2EE_CHAT_DATABASE_URL: serverUrl() };
    const first = await w.startServer({ env });
    const health = await (await fetch(`${w.url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', store: 'ok' });
    // The start-up log names the database, without the password.
    expect(first.stdout).toMatch(/"store":"postgres:\/\/[^"]+"/);
    // A node on PostgreSQL without Redis says it takes itself for the only node (DEPLOY.md: Redis from two on).
    expect(first.stdout).toMatch(/"level":40,[^\n]*"msg":"PostgreSQL store without E2EE_CHAT_REDIS_URL: this node takes itself for the only one/);

    await w.createUser('alice');
    await w.createUser('bob');
    const bob = await w.startReceiver('bob');
    expect((await w.send('alice', 'bob', 'hello over postgres')).code).toBe(0);
    await bob.waitFor('stdout', /^\[alice\] hello over postgres$/m);
    await bob.stop();

    // Queued while bob is offline, acknowledged to alice's `send` only once committed.
    expect((await w.send('alice', 'bob', 'kept across a restart')).code).toBe(0);
    await first.stop();
    expect(first.stdout + first.stderr).not.toContain(PASSWORD);

    const second = await w.startServer({ env, label: 'server (restarted)' });
    const bobAgain = await w.startReceiver('bob');
    await bobAgain.waitFor('stdout', /^\[alice\] kept across a restart$/m);
    expect(bobAgain.stdout).toBe('[alice] kept across a restart\n');
    // Nothing went to SQLite: the data folder holds no database.
    expect(existsSync(w.data) ? readdirSync(w.data).filter((f) => f.includes('sqlite')) : []).toEqual([]);
    await bobAgain.stop();
    await second.stop();
    expect(second.stdout + second.stderr).not.toContain(PASSWORD);
  }, 90_000);

  it('refuses a database URL that is not one, and a database that does not answer, repeating no password', async () => {
    const w = await World.create(procs, 'postgres-bad-url');
    const bad = await procs.run('server (bad database URL)', ['server'], {
      cwd: w.cwd,
      env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data, E2EE_CHAT_DATABASE_URL: `mysql://root:${PASSWORD}@db/chat` },
    });
    expect(bad.code, bad.proc.describe()).toBe(1);
    expect(bad.stderr).toMatch(/^configuration error: E2EE_CHAT_DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//m);
    expect(bad.stdout + bad.stderr).not.toContain(PASSWORD);

    // A database that does not answer: the start fails at once, naming where it looked, not the password.
    const down = await procs.run('server (database down)', ['server'], {
      cwd: w.cwd,
      env: { PORT: String(w.port), HOST: '127.0.0.1', E2EE_CHAT_DATA: w.data, E2EE_CHAT_DATABASE_URL: `postgres://chat:${PASSWORD}@127.0.0.1:1/chat` },
    });
    expect(down.code, down.proc.describe()).toBe(1);
    expect(down.stderr).toMatch(/^error: could not open the PostgreSQL store at postgres:\/\/chat@127\.0\.0\.1:1\/chat: /m);
    expect(down.stdout + down.stderr).not.toContain(PASSWORD);
  }, 30_000);
});
