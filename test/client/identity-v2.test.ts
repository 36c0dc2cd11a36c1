/**
 * identity.json version 2 (docs/design/devices-v2.md §10, §11.2 step 1; src/client/node/identity-file.ts):
 * a version 1 file (the 0.1 folders of test/fixtures/v0.1/client/) is rewritten in place the first time
 * it is read, as device 1, the primary, its keys the account's, with the 0.1 file kept as identity.v1.json.
 * The private keys move over untouched: no passphrase is needed to upgrade, and the one that sealed them
 * still opens them. New keys are written as version 2 from the start.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateIdentity, readPublicIdentity } from '../../src/client/node/identity-file.js';
import { userFolder, type UserFolder } from '../../src/client/node/user-folder.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import { removeDir } from '../helpers/test-server.js';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'v0.1', 'client');
/** test/fixtures/v0.1/client/README.md */
const ALICE_PASSPHRASE = 'alice v0.1 fixture passphrase';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function home(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-identity-'));
  dirs.push(dir);
  return dir;
}

/** A copy of a 0.1 user's identity file in a new home, and its text as 0.1 wrote it. */
function v01Folder(user: 'alice' | 'bob'): { folder: UserFolder; v1Text: string } {
  const folder = userFolder(home(), user);
  cpSync(join(FIXTURE, user, 'identity.json'), folder.identityFile);
  return { folder, v1Text: readFileSync(folder.identityFile, 'utf8') };
}

const neverAsked = async (): Promise<string> => {
  throw new Error('the passphrase was asked for');
};

describe('identity.json from 0.1', () => {
  it('is upgraded in place at its first read: device 1, the primary, its keys the account\'s; the 0.1 file is kept as identity.v1.json', async () => {
    const { folder, v1Text } = v01Folder('bob');
    const v1 = JSON.parse(v1Text) as { createdAt: number; public: object; private: object };
    const loaded = await loadOrCreateIdentity(folder, 'bob', neverAsked, { create: false });
    expect(loaded).toMatchObject({ device: 1, role: 'primary', created: false, encrypted: false, account: v1.public });
    const written = JSON.parse(readFileSync(folder.identityFile, 'utf8')) as Record<string, unknown>;
    expect(written).toEqual({ v: 2, username: 'bob', device: 1, role: 'primary', createdAt: v1.createdAt, account: v1.public, public: v1.public, private: v1.private });
    expect(readFileSync(folder.identityV1File, 'utf8')).toBe(v1Text);
    // The keys are the 0.1 keys, and nothing else was left in the folder (no lock, no temporary file).
    expect(ed25519PublicOf(loaded.identity.keys.signing)).toEqual((v1.public as { signingKey: object }).signingKey);
    expect(rsaPublicOf(loaded.identity.keys.encryption)).toEqual((v1.public as { encryptionKey: object }).encryptionKey);
    expect(readdirSync(folder.dir).sort()).toEqual(['identity.json', 'identity.v1.json']);
    // Read again: already version 2, nothing rewritten.
    const before = readFileSync(folder.identityFile, 'utf8');
    expect((await readPublicIdentity(folder))?.v).toBe(2);
    expect(readFileSync(folder.identityFile, 'utf8')).toBe(before);
  });

  it('needs no passphrase to upgrade, and the one that sealed the 0.1 keys still opens them; a wrong one does not', async () => {
    const { folder, v1Text } = v01Folder('alice');
    // Reading the public part (as `keys` and `outbox` do) upgrades the file without unlocking it.
    expect(await readPublicIdentity(folder)).toMatchObject({ v: 2, device: 1, role: 'primary', private: { encrypted: true } });
    expect(readFileSync(folder.identityV1File, 'utf8')).toBe(v1Text);
    await expect(loadOrCreateIdentity(folder, 'alice', async () => 'not the passphrase', { create: false })).rejects.toMatchObject({ code: 'wrong_passphrase' });
    const opened = await loadOrCreateIdentity(folder, 'alice', async () => ALICE_PASSPHRASE, { create: false });
    expect(opened).toMatchObject({ encrypted: true, device: 1, role: 'primary' });
    expect(ed25519PublicOf(opened.identity.keys.signing)).toEqual((JSON.parse(v1Text) as { public: { signingKey: object } }).public.signingKey);
  });

  it('is upgraded once by two processes reading it at once: one version 2 file, one copy of the 0.1 file', async () => {
    const { folder, v1Text } = v01Folder('bob');
    const [a, b] = await Promise.all([readPublicIdentity(folder), readPublicIdentity(userFolder(join(folder.dir, '..'), 'bob'))]);
    expect(a).toEqual(b);
    expect(a?.v).toBe(2);
    expect(readFileSync(folder.identityV1File, 'utf8')).toBe(v1Text);
    expect(readdirSync(folder.dir).sort()).toEqual(['identity.json', 'identity.v1.json']);
  });

  it('an upgrade cut short after the copy was written runs again and keeps that copy', async () => {
    const { folder, v1Text } = v01Folder('bob');
    writeFileSync(folder.identityV1File, v1Text); // the crash came between the copy and the rewrite
    expect((await readPublicIdentity(folder))?.v).toBe(2);
    expect(readFileSync(folder.identityV1File, 'utf8')).toBe(v1Text);
  });
});

describe('identity.json version 2', () => {
  it('is what new keys are written as: device 1, the primary of a new account, with no 0.1 copy', async () => {
    const folder = userFolder(home(), 'carol');
    const created = await loadOrCreateIdentity(folder, 'carol', async () => '', { create: true });
    expect(created).toMatchObject({ created: true, device: 1, role: 'primary' });
    const file = JSON.parse(readFileSync(folder.identityFile, 'utf8')) as { v: number; account: object; public: object; private: object };
    expect(file).toMatchObject({ v: 2, username: 'carol', device: 1, role: 'primary', private: { encrypted: false } });
    expect(file.account).toEqual(file.public);
    expect(file.public).toEqual({ signingKey: ed25519PublicOf(created.identity.keys.signing), encryptionKey: rsaPublicOf(created.identity.keys.encryption) });
    expect(existsSync(folder.identityV1File)).toBe(false);
  });

  it('is refused when it contradicts itself, and an unknown version is refused', async () => {
    const { folder } = v01Folder('bob');
    const v2 = (await readPublicIdentity(folder))!;
    const write = (file: object) => writeFileSync(folder.identityFile, JSON.stringify(file));
    write({ ...v2, device: 2 });
    await expect(readPublicIdentity(folder)).rejects.toThrow(/device 2 cannot be primary/);
    write({ ...v2, role: 'linked' });
    await expect(readPublicIdentity(folder)).rejects.toThrow(/device 1 cannot be linked/);
    write({ ...v2, account: { ...v2.account, signingKey: { ...v2.account.signingKey, x: 'A'.repeat(43) } } });
    await expect(readPublicIdentity(folder)).rejects.toThrow(/not the account's/);
    write({ ...v2, v: 3 });
    await expect(readPublicIdentity(folder)).rejects.toThrow(/unsupported version 3/);
  });
});
