/**
 * What rests on disk never holds plaintext: the server's queue holds only the hybrid envelopes (checked
 * row by row and byte by byte, WAL included), and the recipient's local store (the CLI's state.sqlite)
 * holds the received messages sealed — neither the bodies nor the sender's name appear in clear.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { userFolder } from '../../src/client/node/user-folder.js';
import { hybridEnvelopeSchema } from '../../src/protocol/schemas.js';
import { Processes, assertBuilt, type Proc } from '../e2e/processes.js';
import { leakForms, openCliStore, rawDatabaseText, Resources, serverDbPath, waitOffline } from './harness.js';

const procs = new Processes();
const res = new Resources();

beforeAll(() => assertBuilt());
afterEach(async () => {
  await procs.cleanup();
  await res.cleanup();
});
afterAll(() => procs.removeDirs());

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const PLAINTEXTS = [
  'Ultraviolet-Pineapple-7391 meet at the north gate',
  'zebra crossing protocol ZX-44 is compromised',
  'chào Thành, mật khẩu là hoa-sen-2024 🌸',
];

function expectNoLeak(where: string, text: string, secrets: readonly string[]): void {
  for (const secret of secrets) expect(text.includes(secret), `${where} contains ${JSON.stringify(secret)}`).toBe(false);
}

describe('nothing in clear at rest', () => {
  it("the server's queue holds only hybrid envelopes, and bob's local store holds no plaintext and no sender name", async () => {
    const srv = await res.server();
    const dir = procs.tempDir('no-plaintext');
    const home = join(dir, 'home');
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    const receive = async (label: string): Promise<Proc> => {
      const p = procs.spawn(label, ['receive', '--user', 'bob'], { cwd, env: { E2EE_CHAT_HOME: home, E2EE_CHAT_SERVER: srv.url } });
      await p.waitFor('stderr', new RegExp(`^Listening as bob on ${escape(srv.url)}\\.`, 'm'));
      return p;
    };

    // bob's first run creates his keys and registers him; then he goes away.
    const first = await receive('receive bob (register)');
    expect((await first.stop('SIGTERM')).code).toBe(0);
    const alice = await res.client(srv.url, 'alice');
    await waitOffline(alice.client, 'bob');
    for (const body of PLAINTEXTS) expect((await alice.client.send('bob', body)).status).toBe('queued');

    const secrets = PLAINTEXTS.flatMap(leakForms);
    expect(secrets.length).toBeGreaterThan(PLAINTEXTS.length * 4);

    // The server's file: every row of every table, then the raw bytes of the database and its WAL.
    const db = res.readonlyDb(serverDbPath(srv.dataDir));
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['queue', 'accepted', 'receipts', 'users']));
    for (const name of tables) expectNoLeak(`server table ${name}`, JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all()), secrets);
    expect(existsSync(serverDbPath(srv.dataDir) + '-wal')).toBe(true);
    expectNoLeak('server database file and WAL', rawDatabaseText(serverDbPath(srv.dataDir)), secrets);

    // Each queued envelope is exactly the documented hybrid envelope: type, version, a flattened JWE
    // with its five members and nothing else.
    const rows = db.prepare("SELECT sender, recipient, envelope FROM queue WHERE recipient = 'bob' ORDER BY seq").all() as Array<{ sender: string; recipient: string; envelope: string }>;
    expect(rows).toHaveLength(PLAINTEXTS.length);
    for (const row of rows) {
      const envelope: unknown = JSON.parse(row.envelope);
      expect(hybridEnvelopeSchema.safeParse(envelope).success).toBe(true);
      expect(envelope).toMatchObject({ type: 'hybrid', v: 1 });
      const jwe = (envelope as { jwe: Record<string, unknown> }).jwe;
      expect(Object.keys(jwe).sort()).toEqual(['ciphertext', 'encrypted_key', 'iv', 'protected', 'tag']);
      for (const value of Object.values(jwe)) expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
      // The protected header names the algorithms only.
      const header = JSON.parse(Buffer.from(jwe.protected as string, 'base64url').toString('utf8')) as Record<string, unknown>;
      expect(header).toMatchObject({ alg: 'RSA-OAEP-256', enc: 'A256CBC-HS512' });
    }
    db.close();
    // Control: the raw view does contain the queued envelopes (so the byte search above looked at them).
    const rawServer = rawDatabaseText(serverDbPath(srv.dataDir));
    for (const row of rows) expect(rawServer.includes((JSON.parse(row.envelope) as { jwe: { ciphertext: string } }).jwe.ciphertext.slice(0, 64))).toBe(true);

    // bob comes back with the CLI: his messages are shown, and recorded in his local store.
    const bob = await receive('receive bob');
    await bob.waitFor('stdout', new RegExp(escape(PLAINTEXTS[2]!)));
    expect(bob.stdout).toBe(PLAINTEXTS.map((p) => `[alice] ${p}\n`).join(''));
    const state = userFolder(home, 'bob').stateFile;
    const localSecrets = [...secrets, 'alice'];
    // While it runs (WAL not yet checkpointed) and after a clean stop.
    expectNoLeak("bob's state.sqlite (running)", rawDatabaseText(state), localSecrets);
    expect((await bob.stop('SIGTERM')).code).toBe(0);
    const local = res.readonlyDb(state);
    const localTables = (local.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((t) => t.name);
    for (const name of localTables) {
      const rows = local.prepare(`SELECT * FROM "${name}"`).all() as Array<Record<string, unknown>>;
      const text = rows.flatMap((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))).join('\n');
      expectNoLeak(`bob's table ${name}`, text, localSecrets);
    }
    local.close();
    expectNoLeak("bob's state.sqlite (stopped)", rawDatabaseText(state), localSecrets);

    // Control: the file does hold the three messages — sealed, and readable with bob's key.
    const store = await openCliStore(home, 'bob');
    try {
      const history = await store.history();
      expect(history.map((r) => [r.direction, r.peer, r.body])).toEqual(PLAINTEXTS.map((p) => ['in', 'alice', p]));
    } finally {
      store.close();
    }
  });
});
