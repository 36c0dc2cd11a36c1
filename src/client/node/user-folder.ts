/** Node-only: where a user's files live. One folder per user under E2EE_CHAT_HOME (default ~/.e2ee-chat). */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { USERNAME_PATTERN } from '../../protocol/limits.js';
import { ChatError } from '../../protocol/errors.js';

export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.E2EE_CHAT_HOME || join(homedir(), '.e2ee-chat'));
}

export interface UserFolder {
  readonly dir: string;
  readonly identityFile: string;
  /** A version 1 identity file (e2ee-chat 0.1) as it was before its upgrade to version 2. */
  readonly identityV1File: string;
  readonly peersFile: string;
  /** History, seen ids and outbox (SQLite, rows sealed with a key derived from the private key). */
  readonly stateFile: string;
  /** Ratchet sessions and PQXDH prekeys (SQLite, rows sealed the same way). */
  readonly ratchetFile: string;
  /** What this device showed of its groups: messages and membership changes (SQLite, sealed rows; sqlite-group-history.ts). */
  readonly groupHistoryFile: string;
  /** The user's preferences (plain JSON: nothing secret; user-settings.ts). */
  readonly settingsFile: string;
  /** The link codes this device tried as the primary, hashed, for LINK_TTL_MS (plain JSON; tried-link-codes-file.ts). */
  readonly linkCodesFile: string;
  /** Where received files go unless the user names another folder. */
  readonly downloadsDir: string;
}

export function userFolder(home: string, username: string): UserFolder {
  // The name becomes a path segment: the pattern keeps it from escaping the home folder.
  if (!USERNAME_PATTERN.test(username)) {
    throw new ChatError('invalid_username', `"${username}" is not a valid username (^[a-z][a-z0-9_-]{0,31}$)`);
  }
  const dir = join(home, username);
  return {
    dir,
    identityFile: join(dir, 'identity.json'),
    identityV1File: join(dir, 'identity.v1.json'),
    peersFile: join(dir, 'peers.json'),
    stateFile: join(dir, 'state.sqlite'),
    ratchetFile: join(dir, 'ratchet.sqlite'),
    groupHistoryFile: join(dir, 'group-history.sqlite'),
    settingsFile: join(dir, 'settings.json'),
    linkCodesFile: join(dir, 'link-codes.json'),
    downloadsDir: join(dir, 'downloads'),
  };
}

/**
 * The users with keys in `home`, sorted: folders whose name is a valid username and that hold an
 * identity file. A missing home folder has none.
 */
export function localUsers(home: string): string[] {
  let entries;
  try {
    entries = readdirSync(home, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory() && USERNAME_PATTERN.test(e.name) && existsSync(userFolder(home, e.name).identityFile))
    .map((e) => e.name)
    .sort();
}
