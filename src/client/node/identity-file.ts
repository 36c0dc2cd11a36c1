/**
 * Node-only: a user's key pairs on disk. The public halves are always readable (for `keys`); the private
 * halves are sealed with the passphrase when there is one (scrypt + AES-256-GCM, crypto/passphrase-seal.ts).
 */
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
import type { ClientIdentity } from '../chat-client.js';
import { readJsonFile, writeFileExclusive } from './atomic-file.js';
import type { UserFolder } from './user-folder.js';

interface IdentityFileV1 {
  v: 1;
  username: string;
  createdAt: number;
  public: { signingKey: Ed25519PublicJwk; encryptionKey: RsaPublicJwk };
  private: { encrypted: false; keys: UserKeyPairs } | { encrypted: true; box: SealedBox };
}

/** Associated data for the sealed keys: a box cannot be moved into another user's file. */
const sealContext = (username: string) => `e2ee-chat/v1/identity/${username}`;

export async function readPublicIdentity(folder: UserFolder): Promise<IdentityFileV1 | undefined> {
  const file = await readJsonFile<IdentityFileV1>(folder.identityFile);
  if (file && file.v !== 1) throw new Error(`${folder.identityFile}: unsupported version ${String(file.v)}`);
  return file;
}

export interface LoadedIdentity {
  identity: ClientIdentity;
  created: boolean;
  encrypted: boolean;
}

/**
 * Loads the user's identity, creating keys on first use when `create` allows it (otherwise a missing
 * identity is 'no_local_user': making keys is the job of the command that registers the name).
 * `getPassphrase` is asked only when needed (creating, or opening a sealed file); an empty passphrase
 * means "store unencrypted".
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
  const file: IdentityFileV1 = {
    v: 1,
    username,
    createdAt: Date.now(),
    public: { signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption) },
    private: passphrase
      ? { encrypted: true, box: await sealWithPassphrase(utf8Encode(JSON.stringify(keys)), passphrase, sealContext(username)) }
      : { encrypted: false, keys },
  };
  // Two first runs at once (two terminals) must not each keep their own keys: one file wins, and the
  // loser uses it.
  if (!(await writeFileExclusive(folder.identityFile, JSON.stringify(file, null, 2)))) {
    return unlock(folder, username, (await readPublicIdentity(folder))!, getPassphrase);
  }
  return { identity: { username, keys }, created: true, encrypted: passphrase !== '' };
}

async function unlock(
  folder: UserFolder,
  username: string,
  file: IdentityFileV1,
  getPassphrase: (purpose: 'create' | 'unlock') => Promise<string>,
): Promise<LoadedIdentity> {
  if (!file.private.encrypted) return { identity: { username, keys: file.private.keys }, created: false, encrypted: false };
  const passphrase = await getPassphrase('unlock');
  try {
    const plain = await openWithPassphrase(file.private.box, passphrase, sealContext(username));
    return { identity: { username, keys: JSON.parse(utf8Decode(plain)) as UserKeyPairs }, created: false, encrypted: true };
  } catch (err) {
    if (err instanceof WrongPassphraseError) {
      throw new ChatError('wrong_passphrase', `cannot unlock ${folder.identityFile}: wrong passphrase`, { cause: err });
    }
    throw err;
  }
}
