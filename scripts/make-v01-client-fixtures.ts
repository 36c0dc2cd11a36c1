/**
 * Writes test/fixtures/v0.1/client/: the user folders of alice and bob as e2ee-chat 0.1 leaves them, for
 * the client-folder migration test (test/durable/migration-v01-client.test.ts, docs/design/devices-v2.md
 * §11.2, §12). The server database fixture beside it is scripts/make-v01-fixtures.ts's.
 *
 * The folders are written by the 0.1 code itself, from a checkout of the last commit before devices
 * (183630c): its identity file (alice's sealed with a passphrase, bob's not), its pin store, its message
 * store and its ratchet store, driven by its ChatClient against its own server, exactly as the 0.1 CLI
 * drives them. Alice and bob start a ratchet session and both write on it; then, with the server down,
 * alice writes once more, which stays in her outbox. Every key is generated here, for this fixture only.
 *
 *   git -C /work/main worktree add /tmp/v01c 183630c
 *   ln -s "$PWD/node_modules" /tmp/v01c/node_modules
 *   npx vite-node scripts/make-v01-client-fixtures.ts -- /tmp/v01c
 *   git -C /work/main worktree remove --force /tmp/v01c
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The last commit before devices: the released 0.1 data format. */
const V01_COMMIT = '183630c';

/** Alice's passphrase (test data, as her keys): her identity.json is sealed with it. Bob's has none. */
export const ALICE_PASSPHRASE = 'alice v0.1 fixture passphrase';

/** What was written, in order; the last one never left alice's outbox. */
const CONVERSATION = [
  ['alice', 'bob', 'hello bob, from 0.1'],
  ['bob', 'alice', 'hello alice, from 0.1'],
  ['alice', 'bob', 'a second one on the same session'],
] as const;
const QUEUED = 'written while the server was down';

/** The files of a 0.1 user folder. */
const FOLDER_FILES = ['identity.json', 'peers.json', 'state.sqlite', 'ratchet.sqlite'] as const;

// ---- the 0.1 API this script uses, as 0.1 declares it ----

interface V01Client {
  send(to: string, body: string): Promise<{ id: string; status: string }>;
  on(event: 'message', listener: (m: { from: string; body: string }) => void): () => void;
  close(): Promise<void>;
}
interface V01ClientClass {
  connect(options: object): Promise<V01Client>;
  offline(options: object): V01Client;
}
interface V01Stores {
  close(): void;
}
interface V01Folder {
  dir: string;
  identityFile: string;
  peersFile: string;
  stateFile: string;
  ratchetFile: string;
}

async function main(): Promise<void> {
  const checkout = resolve(process.argv[2] ?? '');
  const head = execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  if (!head.startsWith(V01_COMMIT)) throw new Error(`${checkout} is at ${head}, not ${V01_COMMIT}`);
  const v01 = <T>(path: string) => import(pathToFileURL(join(checkout, 'src', path)).href) as Promise<T>;

  // The Node entry of the 0.1 library, as its CLI loads it (node:crypto installed for X25519 and Ed25519).
  const lib = await v01<{
    ChatClient: V01ClientClass;
    FilePeerKeyStore: new (path: string) => object;
    SqliteMessageStore: { open(path: string, secret: Uint8Array, username: string): Promise<V01Stores> };
    SqliteRatchetStore: { open(path: string, secret: Uint8Array, username: string): Promise<V01Stores> };
  }>('client/node/index.ts');
  const { loadOrCreateIdentity } = await v01<{
    loadOrCreateIdentity(folder: V01Folder, username: string, passphrase: () => Promise<string>, options: { create: boolean }): Promise<{ identity: { username: string; keys: { signing: { d: string } } } }>;
  }>('client/node/identity-file.ts');
  const { userFolder } = await v01<{ userFolder(home: string, username: string): V01Folder }>('client/node/user-folder.ts');
  const { base64urlDecode } = await v01<{ base64urlDecode(text: string): Uint8Array }>('crypto/bytes.ts');
  const { createChatServer } = await v01<{ createChatServer(deps: object): { listen(): Promise<{ port: number }>; close(): Promise<void> } }>('server/app.ts');
  const { loadServerConfig } = await v01<{ loadServerConfig(env: object): object }>('server/config.ts');
  const { SqliteServerStore } = await v01<{ SqliteServerStore: new (dir: string) => object }>('server/store/sqlite-store.ts');
  const { pino } = await import('pino');

  const work = mkdtempSync(join(tmpdir(), 'e2ee-chat-v01-client-fixture-'));
  const home = join(work, 'home');
  const dataDir = join(work, 'server');
  mkdirSync(dataDir);
  const server = createChatServer({
    config: { ...loadServerConfig({}), host: '127.0.0.1', port: 0, dataDir },
    store: new SqliteServerStore(dataDir),
    logger: pino({ level: 'silent' }),
  });
  const url = `http://127.0.0.1:${(await server.listen()).port}`;

  // As the 0.1 CLI's connectClient opens a user: keys from the folder, the three stores, then the client.
  const openUser = async (username: string, passphrase: string) => {
    const folder = userFolder(home, username);
    const { identity } = await loadOrCreateIdentity(folder, username, async () => passphrase, { create: true });
    const secret = base64urlDecode(identity.keys.signing.d);
    const messages = await lib.SqliteMessageStore.open(folder.stateFile, secret, username);
    const ratchet = await lib.SqliteRatchetStore.open(folder.ratchetFile, secret, username);
    const options = { url, identity, peers: new lib.FilePeerKeyStore(folder.peersFile), messages, ratchet, mode: 'ratchet', register: true };
    return { folder, options, close: () => (messages.close(), ratchet.close()) };
  };
  const alice = await openUser('alice', ALICE_PASSPHRASE);
  const bob = await openUser('bob', '');
  const clients = { alice: await lib.ChatClient.connect(alice.options), bob: await lib.ChatClient.connect(bob.options) };

  for (const [from, to, body] of CONVERSATION) {
    const received = new Promise<void>((done) => {
      const off = clients[to].on('message', (m) => {
        if (m.from === from && m.body === body) (off(), done());
      });
    });
    await clients[from].send(to, body);
    await received;
  }
  await clients.alice.close();
  await clients.bob.close();
  await server.close();

  // The server is down: alice's message is sealed on the session and waits in her outbox.
  const offline = lib.ChatClient.offline(alice.options);
  const queued = await offline.send('bob', QUEUED);
  if (queued.status !== 'outbox') throw new Error(`expected the message to wait in the outbox, got ${queued.status}`);
  await offline.close();
  alice.close();
  bob.close();

  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'v0.1', 'client');
  rmSync(out, { recursive: true, force: true });
  for (const { folder } of [alice, bob]) {
    // Closing the last connection checkpoints each WAL into its file and deletes it: the files are whole.
    const left = readdirSync(folder.dir).filter((f) => !(FOLDER_FILES as readonly string[]).includes(f));
    if (left.length > 0) throw new Error(`unexpected files in ${folder.dir}: ${left.join(', ')}`);
    const target = join(out, folder.dir.split('/').at(-1)!);
    mkdirSync(target, { recursive: true });
    for (const f of FOLDER_FILES) {
      if (!existsSync(join(folder.dir, f))) throw new Error(`${folder.dir} has no ${f}`);
      copyFileSync(join(folder.dir, f), join(target, f));
    }
  }
  writeFileSync(join(out, 'README.md'), readme(head));
  rmSync(work, { recursive: true, force: true });
  console.log(`wrote ${out} with ${head}`);
}

function readme(commit: string): string {
  return `# v0.1 client folders

\`alice/\` and \`bob/\` are user folders (\`E2EE_CHAT_HOME/<user>/\`) as e2ee-chat 0.1 leaves them, for
\`test/durable/migration-v01-client.test.ts\`: at the first run of the devices release they must upgrade in
place, and alice's ratchet session with bob must go on without a new PQXDH
(docs/design/devices-v2.md §11.2).

They hold **test keys only**, generated for this fixture and used nowhere else. Alice's private keys
are sealed with the passphrase \`${ALICE_PASSPHRASE}\`; bob's are not sealed.

## How they were made

By \`scripts/make-v01-client-fixtures.ts\`, run against a checkout of the last commit before devices,
\`${commit}\`, whose own code wrote every file: its identity file, pin store, message store and ratchet
store, driven by its \`ChatClient\` against its own server, as its CLI drives them:

\`\`\`
git -C /work/main worktree add /tmp/v01c ${commit.slice(0, 7)}
ln -s "$PWD/node_modules" /tmp/v01c/node_modules
npx vite-node scripts/make-v01-client-fixtures.ts -- /tmp/v01c
git -C /work/main worktree remove --force /tmp/v01c
\`\`\`

## What is in them

- \`identity.json\` version 1 for each (alice's sealed, bob's in the clear); each has pinned the other
  in \`peers.json\` (no device lists: 0.1 had none);
- one ratchet session between them (\`session:bob\` in alice's \`ratchet.sqlite\`, \`session:alice\` in
  bob's), started by alice; on it: ${CONVERSATION.map(([from, to, body]) => `${from} to ${to} "${body}"`).join(', ')}, each
  received and recorded in the other's history;
- then, with the server down, alice wrote "${QUEUED}" to bob: sealed on that session, it waits in her
  outbox as a 0.1 entry (\`{to, envelope}\`), and her history has it with status \`outbox\`.

The server those runs talked to is not kept: the migration test starts a new one, where both register
again with the same keys.
`;
}

await main();
