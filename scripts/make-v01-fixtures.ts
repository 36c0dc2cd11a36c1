/**
 * Writes test/fixtures/v0.1/server.sqlite: a server database as e2ee-chat 0.1 writes it, for the
 * migration test (test/durable/migration-v01.test.ts, docs/design/devices-v2.md §11.1, §12).
 *
 * The database is written by the 0.1 code itself, through its own store API, from a checkout of the
 * last commit before devices (183630c): users registered, prekeys uploaded and one bundle taken,
 * envelopes queued, acknowledged and rejected, receipts owed and seen. Envelopes are real hybrid
 * envelopes sealed by the 0.1 code. Every key is generated here, for this fixture only.
 *
 *   git -C /work/main worktree add /tmp/v01 183630c
 *   ln -s "$PWD/node_modules" /tmp/v01/node_modules
 *   npx vite-node scripts/make-v01-fixtures.ts -- /tmp/v01
 *   git -C /work/main worktree remove --force /tmp/v01
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The last commit before devices: the released 0.1 data format. */
const V01_COMMIT = '183630c';

/** Fixed times, so the fixture's expiry is known to its test: 2026-11-30 12:00 UTC, envelopes a second apart. */
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0);

// ---- the 0.1 API this script uses, as 0.1 declares it (the current tree's store takes addresses) ----

interface V01Envelope {
  id: string;
  sender: string;
  recipient: string;
  clientId: string;
  sentAt: number;
  expiresAt: number;
  envelope: string;
}
type V01EnqueueResult = { status: 'stored'; message: V01Envelope & { seq: number } } | { status: string };
interface V01Store {
  createUser(record: object): Promise<{ created: boolean }>;
  enqueue(input: V01Envelope, quota: { maxCount: number; maxBytes: number }): Promise<V01EnqueueResult>;
  acknowledge(recipient: string, settled: ReadonlyArray<string | { id: string; reason: string }>, now: number, receiptExpiresAt: number): Promise<unknown[]>;
  acknowledgeReceipts(sender: string, ids: readonly string[]): Promise<void>;
  putPreKeys(username: string, upload: object, now: number): Promise<unknown>;
  takePreKeyBundle(username: string): Promise<unknown>;
  close(): Promise<void>;
}

type Keys = typeof import('../src/crypto/keys.js');
type Bytes = typeof import('../src/crypto/bytes.js');
type Hybrid = typeof import('../src/e2ee/hybrid-envelope.js');
/** 0.1's identity and KEM prekey API (it signed synchronously, from the seed's bytes), as called here. */
interface V01LocalIdentity {
  readonly dhKeyPair: { readonly publicKey: Uint8Array };
  readonly binding: Uint8Array;
}
type Identity = { LocalIdentity: { generate(signingSecretKey: Uint8Array): Promise<V01LocalIdentity> } };
interface V01KemPreKey {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}
type PreKeys = {
  generateSignedPreKey(identity: V01LocalIdentity, id: number, options: object): Promise<{ id: number; keyPair: { publicKey: Uint8Array }; signature: Uint8Array }>;
  generateOneTimePreKeys(firstId: number, count: number): Promise<{ id: number; keyPair: { publicKey: Uint8Array } }[]>;
  generateKemPreKey(identity: V01LocalIdentity, id: number, kind: 'one-time' | 'last-resort', options: object): V01KemPreKey;
};
type Limits = typeof import('../src/protocol/limits.js');
type Ids = typeof import('../src/server/ids.js');

async function main(): Promise<void> {
  const checkout = resolve(process.argv[2] ?? '');
  const head = execFileSync('git', ['-C', checkout, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  if (!head.startsWith(V01_COMMIT)) throw new Error(`${checkout} is at ${head}, not ${V01_COMMIT}`);
  const v01 = <T>(path: string) => import(pathToFileURL(join(checkout, 'src', path)).href) as Promise<T>;

  const { SqliteServerStore, SQLITE_FILE_NAME } = await v01<{ SqliteServerStore: new (dir: string) => V01Store; SQLITE_FILE_NAME: string }>('server/store/sqlite-store.ts');
  const { SQLITE_MIGRATIONS } = await v01<{ SQLITE_MIGRATIONS: readonly string[] }>('server/store/sqlite-migrations.ts');
  if (SQLITE_MIGRATIONS.length !== 5) throw new Error(`expected the 0.1 schema (5 migrations), found ${SQLITE_MIGRATIONS.length}`);
  const keys = await v01<Keys>('crypto/keys.ts');
  const { base64urlEncode: e } = await v01<Bytes>('crypto/bytes.ts');
  const { sealHybridEnvelope } = await v01<Hybrid>('e2ee/hybrid-envelope.ts');
  const { LocalIdentity } = await v01<Identity>('e2ee/pqxdh/identity.ts');
  const { generateSignedPreKey, generateOneTimePreKeys, generateKemPreKey } = await v01<PreKeys>('e2ee/pqxdh/prekeys.ts');
  const { DEFAULT_QUEUE_TTL_MS } = await v01<Limits>('protocol/limits.ts');
  const { newServerId } = await v01<Ids>('server/ids.ts');

  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-v01-fixture-'));
  const store = new SqliteServerStore(dir);
  const users = new Map<string, Awaited<ReturnType<Keys['generateUserKeyPairs']>>>();
  for (const username of ['alice', 'bob', 'carol']) {
    const pair = await keys.generateUserKeyPairs();
    users.set(username, pair);
    await store.createUser({
      username,
      signingKey: keys.ed25519PublicOf(pair.signing),
      encryptionKey: keys.rsaPublicOf(pair.encryption),
      signingKeyThumbprint: await keys.jwkThumbprint(pair.signing),
      encryptionKeyThumbprint: await keys.jwkThumbprint(pair.encryption),
      registeredAt: T0,
    });
  }

  // Prekeys as a 0.1 client uploads them: identity, signed prekey 1, last-resort ML-KEM prekey 1, one-time keys.
  const publish = async (username: string, oneTime: number, kemOneTime: number) => {
    const identity = await LocalIdentity.generate(keys.ed25519SecretBytes(users.get(username)!.signing));
    const clock = { clock: () => T0 };
    const signed = await generateSignedPreKey(identity, 1, clock);
    const lastResort = generateKemPreKey(identity, 1, 'last-resort', clock);
    const kem = (k: V01KemPreKey) => ({ id: k.id, publicKey: e(k.publicKey), signature: e(k.signature) });
    await store.putPreKeys(
      username,
      {
        identity: { dhKey: e(identity.dhKeyPair.publicKey), binding: e(identity.binding) },
        signedPreKey: { id: signed.id, publicKey: e(signed.keyPair.publicKey), signature: e(signed.signature) },
        lastResortKemPreKey: kem(lastResort),
        oneTimePreKeys: (await generateOneTimePreKeys(1, oneTime)).map((k) => ({ id: k.id, publicKey: e(k.keyPair.publicKey) })),
        kemPreKeys: Array.from({ length: kemOneTime }, (_, i) => kem(generateKemPreKey(identity, 2 + i, 'one-time', clock))),
      },
      T0,
    );
  };
  await publish('bob', 5, 3);
  await publish('carol', 3, 2);
  await store.takePreKeyBundle('carol'); // someone started a session with carol: her lowest one-time keys are gone

  let second = 0;
  const send = async (from: string, to: string, body: string) => {
    const sentAt = T0 + 1000 * ++second;
    const { envelope, payload } = await sealHybridEnvelope({
      from,
      to,
      body,
      sentAt,
      senderSigningKey: users.get(from)!.signing,
      recipientEncryptionKey: keys.rsaPublicOf(users.get(to)!.encryption),
    });
    // As 0.1's relay: the client's message id is the idempotency key; the server id is its own.
    const id = newServerId();
    const result = await store.enqueue(
      { id, sender: from, recipient: to, clientId: payload.id, sentAt, expiresAt: sentAt + DEFAULT_QUEUE_TTL_MS, envelope: JSON.stringify(envelope) },
      { maxCount: 100_000, maxBytes: 256 * 1024 * 1024 },
    );
    if (result.status !== 'stored') throw new Error(`not stored: ${result.status}`);
    return id;
  };
  const receiptExpiry = T0 + 60_000 + DEFAULT_QUEUE_TTL_MS;

  // Waiting for bob, who has been offline since: three from alice, one from carol.
  for (const body of ['one', 'two', 'three']) await send('alice', 'bob', `alice to bob: ${body}`);
  await send('carol', 'bob', 'carol to bob');
  // Bob wrote to alice before going offline; her device stored one and could not read the other: two receipts owed to bob.
  const toAlice = [await send('bob', 'alice', 'bob to alice: read'), await send('bob', 'alice', 'bob to alice: unreadable')];
  await store.acknowledge('alice', [toAlice[0]!, { id: toAlice[1]!, reason: 'unsupported' }], T0 + 60_000, receiptExpiry);
  // Alice wrote to carol, who took it; alice saw the receipt. Only the idempotency record is left of it.
  const toCarol = await send('alice', 'carol', 'alice to carol');
  await store.acknowledge('carol', [toCarol], T0 + 60_000, receiptExpiry);
  await store.acknowledgeReceipts('alice', [toCarol]);
  await store.close();

  const written = join(dir, SQLITE_FILE_NAME);
  // Closing the last connection checkpoints the WAL into the file and deletes it: the one file is the whole database.
  if (existsSync(`${written}-wal`)) throw new Error('the WAL was not checkpointed on close');
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'v0.1');
  mkdirSync(out, { recursive: true });
  copyFileSync(written, join(out, 'server.sqlite'));
  writeFileSync(join(out, 'README.md'), readme(head));
  rmSync(dir, { recursive: true, force: true });
  console.log(`wrote ${join(out, 'server.sqlite')} with ${head}`);
}

function readme(commit: string): string {
  return `# v0.1 fixtures

\`server.sqlite\` is a server database in the e2ee-chat 0.1 format (schema version 5), for
\`test/durable/migration-v01.test.ts\`: migration 6 must turn everything in it into device 1's
(docs/design/devices-v2.md §11.1).

It holds **test keys only**, generated for this fixture and used nowhere else.

## How it was made

By \`scripts/make-v01-fixtures.ts\`, run against a checkout of the last commit before devices,
\`${commit}\`, whose own store API wrote every row:

\`\`\`
git -C /work/main worktree add /tmp/v01 ${commit.slice(0, 7)}
ln -s "$PWD/node_modules" /tmp/v01/node_modules
npx vite-node scripts/make-v01-fixtures.ts -- /tmp/v01
git -C /work/main worktree remove --force /tmp/v01
\`\`\`

## What is in it

Times are fixed: the first envelope was sent at ${new Date(T0 + 1000).toISOString()}, one a second after
another, each expiring 30 days later.

- users \`alice\`, \`bob\` and \`carol\`;
- prekeys: bob's identity, signed prekey 1, last-resort ML-KEM prekey 1, one-time X25519 prekeys 1–5 and
  one-time ML-KEM prekeys 2–4; carol's likewise with X25519 1–3 and ML-KEM 2–3, of which one bundle was
  taken (her X25519 1 and ML-KEM 2 are gone);
- queued for bob: three hybrid envelopes from alice and one from carol, in that order;
- owed to bob: a \`delivered\` receipt and an \`unreadable\` one (reason \`unsupported\`) for his two
  envelopes to alice, which alice settled;
- alice's envelope to carol, delivered and its receipt seen: only its idempotency record is left.
`;
}

await main();
