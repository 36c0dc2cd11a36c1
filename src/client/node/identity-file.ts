/**
 * Node-only: this device's key pairs on disk, `identity.json` in the user's folder. The public halves are
 * always readable (for `keys`); the private halves are sealed with the passphrase when there is one
 * (scrypt + AES-256-GCM, crypto/passphrase-seal.ts).
 *
 * Version 2 (docs/design/devices-v2.md §10) says which device of the account this folder is: its id, its
 * role (the primary, device 1, holds the account keys; a linked device holds its own and only the
 * account's public keys), the account's public keys and this device's. For the primary `public` equals
 * `account` and `private` holds the account keys, exactly as version 1 did.
 *
 * A version 1 file (e2ee-chat 0.1) is rewritten as version 2 the first time it is read (§11.2 step 1):
 * device 1, primary, `account` = `public`, the private part moved over untouched (sealed boxes stay
 * sealed: no passphrase is needed, and the same one opens them). The version 1 file is kept beside it as
 * `identity.v1.json`. A 0.1 client cannot read version 2 (it checks `v`): there is no way back.
 */
import { readFile } from 'node:fs/promises';
import { utf8Decode, utf8Encode } from '../../crypto/bytes.js';
import {
  ed25519PublicOf,
  generateUserKeyPairs,
  rsaPublicOf,
  type Ed25519PublicJwk,
  type RsaPublicJwk,
  type UserKeyPairs,
} from '../../crypto/keys.js';
import { WrongPassphraseError, openWithPassphrase, sealWithPassphrase, type SealedBox } from '../../crypto/passphrase-seal.js';
import { ChatError } from '../../protocol/errors.js';
import { MAX_DEVICE_ID } from '../../protocol/limits.js';
import { PRIMARY_DEVICE } from '../address.js';
import type { ClientIdentity } from '../chat-client.js';
import { withFileLock, writeFileAtomic, writeFileExclusive } from './atomic-file.js';
import type { UserFolder } from './user-folder.js';

export interface PublicKeys {
  signingKey: Ed25519PublicJwk;
  encryptionKey: RsaPublicJwk;
}

type PrivateKeys = { encrypted: false; keys: UserKeyPairs } | { encrypted: true; box: SealedBox };

/** The primary (device 1) holds the account keys; a linked device holds its own. */
export type DeviceRole = 'primary' | 'linked';

interface IdentityFileV1 {
  v: 1;
  username: string;
  createdAt: number;
  public: PublicKeys;
  private: PrivateKeys;
}

export interface IdentityFileV2 {
  v: 2;
  username: string;
  /** This device's id in the account's device list. */
  device: number;
  role: DeviceRole;
  createdAt: number;
  /** The account's public keys: the registered ones, pinned by peers and signing the device list. */
  account: PublicKeys;
  /** This device's public keys (the primary's are the account's). */
  public: PublicKeys;
  /** This device's private keys, sealed with the passphrase when there is one. */
  private: PrivateKeys;
}

/** Associated data for the sealed keys: a box cannot be moved into another user's file. Unchanged since v1. */
const sealContext = (username: string) => `e2ee-chat/v1/identity/${username}`;

const samePublicKeys = (a: PublicKeys, b: PublicKeys): boolean =>
  a.signingKey.x === b.signingKey.x && a.encryptionKey.n === b.encryptionKey.n && a.encryptionKey.e === b.encryptionKey.e;

/** Version 2 of a version 1 file: the keys of 0.1 are the account's and device 1's (§3.4). */
function upgradedFromV1(file: IdentityFileV1): IdentityFileV2 {
  const { username, createdAt } = file;
  return { v: 2, username, device: PRIMARY_DEVICE, role: 'primary', createdAt, account: file.public, public: file.public, private: file.private };
}

/** A version 2 file as read, refused when it contradicts itself (a hand-edited or damaged file). */
function checkedV2(file: IdentityFileV2, path: string): IdentityFileV2 {
  const bad = (what: string) => new Error(`${path}: ${what}`);
  if (!Number.isInteger(file.device) || file.device < 1 || file.device > MAX_DEVICE_ID) throw bad(`device ${String(file.device)} is not a device id`);
  if (file.role !== 'primary' && file.role !== 'linked') throw bad(`unknown role ${String(file.role)}`);
  if ((file.role === 'primary') !== (file.device === PRIMARY_DEVICE)) throw bad(`device ${file.device} cannot be ${file.role}: device 1 is the primary`);
  if (file.role === 'primary' && !samePublicKeys(file.account, file.public)) throw bad("the primary's keys are not the account's");
  return file;
}

/**
 * Rewrites a version 1 file as version 2, keeping the version 1 file as identity.v1.json. Under the
 * identity file's lock: of two processes upgrading at once, one writes and the other reads its result.
 * A crash leaves either file whole: the copy is written (exclusively: one cut short earlier is kept)
 * before identity.json is replaced atomically, so a crash between the two just upgrades again.
 */
async function upgradeIdentityFile(folder: UserFolder): Promise<IdentityFileV2> {
  return withFileLock(folder.identityFile, async () => {
    const text = await readFile(folder.identityFile, 'utf8');
    const file = JSON.parse(text) as IdentityFileV1 | IdentityFileV2;
    if (file.v !== 1) return checkedV2(file, folder.identityFile);
    const upgraded = upgradedFromV1(file);
    await writeFileExclusive(folder.identityV1File, text);
    await writeFileAtomic(folder.identityFile, JSON.stringify(upgraded, null, 2));
    return upgraded;
  });
}

/** This device's identity file (public halves readable, private halves as stored), upgraded to version 2 if it was version 1. */
export async function readPublicIdentity(folder: UserFolder): Promise<IdentityFileV2 | undefined> {
  let text: string;
  try {
    text = await readFile(folder.identityFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const file = JSON.parse(text) as { v?: unknown };
  if (file.v === 1) return upgradeIdentityFile(folder);
  if (file.v === 2) return checkedV2(file as IdentityFileV2, folder.identityFile);
  throw new Error(`${folder.identityFile}: unsupported version ${String(file.v)}`);
}

/** An identity read from a folder: its keys are the JWK pair identity.json holds. */
export type FolderIdentity = ClientIdentity & { keys: UserKeyPairs };

export interface LoadedIdentity {
  identity: FolderIdentity;
  created: boolean;
  encrypted: boolean;
  /** This device's id (1 for every folder from before devices). */
  device: number;
  role: DeviceRole;
  /** The account's public keys (equal to this device's on the primary). */
  account: PublicKeys;
}

/**
 * Loads this device's identity, creating keys on first use when `create` allows it (otherwise a missing
 * identity is 'no_local_user': making keys is the job of the command that registers the name). New keys
 * make the primary of a new account. `getPassphrase` is asked only when needed (creating, or opening a
 * sealed file); an empty passphrase means "store unencrypted".
 */
export async function loadOrCreateIdentity(
  folder: UserFolder,
  username: string,
  getPassphrase: (purpose: 'create' | 'unlock') => Promise<string>,
  options: { create: boolean } = { create: true },
): Promise<LoadedIdentity> {
  const existing = await readPublicIdentity(folder);
  if (existing) return unlock(folder, username, existing, getPassphrase);
  if (!options.create) throw new ChatError('no_local_user', `there are no keys for "${username}" on this machine (looked in ${folder.dir})`);
  const keys = await generateUserKeyPairs();
  const passphrase = await getPassphrase('create');
  const publicKeys = { signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption) };
  const file = await identityFile(username, PRIMARY_DEVICE, publicKeys, keys, passphrase);
  // Two first runs at once (two terminals) must not each keep their own keys: one file wins, and the
  // loser uses it.
  if (!(await writeFileExclusive(folder.identityFile, JSON.stringify(file, null, 2)))) {
    return unlock(folder, username, (await readPublicIdentity(folder))!, getPassphrase);
  }
  return { identity: { username, keys }, created: true, encrypted: passphrase !== '', device: file.device, role: file.role, account: file.account };
}

/** A version 2 file for this device's `keys`: the primary when `device` is 1 (its keys are the account's), else a linked device. */
async function identityFile(username: string, device: number, account: PublicKeys, keys: UserKeyPairs, passphrase: string): Promise<IdentityFileV2> {
  return {
    v: 2,
    username,
    device,
    role: device === PRIMARY_DEVICE ? 'primary' : 'linked',
    createdAt: Date.now(),
    account,
    public: { signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption) },
    private: passphrase
      ? { encrypted: true, box: await sealWithPassphrase(utf8Encode(JSON.stringify(keys)), passphrase, sealContext(username)) }
      : { encrypted: false, keys },
  };
}

/**
 * Writes the identity of a device just linked to `username`'s account as device `device` (its own keys,
 * made for the link, and the account's public keys from the primary's provisioning). Refuses a folder
 * that holds an identity already: linking never replaces keys.
 */
export async function writeLinkedIdentity(
  folder: UserFolder,
  linked: { username: string; device: number; account: PublicKeys; keys: UserKeyPairs; passphrase: string },
): Promise<LoadedIdentity> {
  if (linked.device === PRIMARY_DEVICE) throw new RangeError('a linked device is never device 1');
  const file = checkedV2(await identityFile(linked.username, linked.device, linked.account, linked.keys, linked.passphrase), folder.identityFile);
  if (!(await writeFileExclusive(folder.identityFile, JSON.stringify(file, null, 2)))) {
    throw new ChatError('bad_request', `${folder.identityFile} exists already: this folder holds keys for ${linked.username}; nothing was replaced`);
  }
  const { username, device, keys, account } = linked;
  return { identity: { username, device, keys, account }, created: true, encrypted: linked.passphrase !== '', device, role: file.role, account };
}

async function unlock(
  folder: UserFolder,
  username: string,
  file: IdentityFileV2,
  getPassphrase: (purpose: 'create' | 'unlock') => Promise<string>,
): Promise<LoadedIdentity> {
  const device = { device: file.device, role: file.role, account: file.account };
  // A linked device runs on its own keys and knows the account's public ones (its list is signed by them).
  const identityOf = (keys: UserKeyPairs): FolderIdentity =>
    file.role === 'linked' ? { username, device: file.device, keys, account: file.account } : { username, keys };
  if (!file.private.encrypted) return { identity: identityOf(file.private.keys), created: false, encrypted: false, ...device };
  const passphrase = await getPassphrase('unlock');
  try {
    const plain = await openWithPassphrase(file.private.box, passphrase, sealContext(username));
    return { identity: identityOf(JSON.parse(utf8Decode(plain)) as UserKeyPairs), created: false, encrypted: true, ...device };
  } catch (err) {
    if (err instanceof WrongPassphraseError) {
      throw new ChatError('wrong_passphrase', `cannot unlock ${folder.identityFile}: wrong passphrase`, { cause: err });
    }
    throw err;
  }
}
