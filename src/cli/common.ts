/** What the user-facing commands share: options, opening the user's keys and stores, connecting. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ChatClient } from '../client/chat-client.js';
import { FilePeerKeyStore } from '../client/node/file-stores.js';
import { FileTriedLinkCodes } from '../client/node/tried-link-codes-file.js';
import { nodeBlobHttp } from '../client/node/node-blob-http.js';
import { SqliteMessageStore } from '../client/node/sqlite-message-store.js';
import { SqliteGroupHistory } from '../client/node/sqlite-group-history.js';
import { SqliteRatchetStore } from '../client/node/sqlite-ratchet-store.js';
import { base64urlDecode, base64urlEncode, constantTimeEqual, utf8Encode } from '../crypto/bytes.js';
import type { Ed25519PublicJwk } from '../crypto/keys.js';
import { SAFETY_NUMBER_DIGITS, safetyNumber } from '../e2ee/safety-number.js';
import { loadOrCreateIdentity, type FolderIdentity, type LoadedIdentity } from '../client/node/identity-file.js';
import { defaultHome, localUsers, userFolder, type UserFolder } from '../client/node/user-folder.js';
import { readSettings } from '../client/node/user-settings.js';
import { ChatError } from '../protocol/errors.js';
import { setJsonOutput } from './output.js';
import { ask, askHidden } from './prompt.js';
import { printable } from './terminal-text.js';

export const DEFAULT_SERVER = 'http://localhost:5001';

export interface UserOptions {
  /** Always set once the command runs: from --user, E2EE_CHAT_USER, or the only user in the home folder. */
  user: string;
  /** The name was not given (flag or env) but taken from the home folder, where it already has keys. */
  userFromHome?: boolean;
  server?: string;
  home?: string;
  json?: boolean;
}

/**
 * Adds --user, --server and --home. --user may be left out: E2EE_CHAT_USER (environment or .env) names
 * the user, or else the only user with keys in the home folder; with none or several, the command stops
 * and lists the users it found. A name taken from the folder is one that already has keys, so a command
 * that creates users (receive, chat) never creates one from a guess.
 */
export function addUserOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('-u, --user <name>', 'your username (^[a-z][a-z0-9_-]{0,31}$); default: the only user in the home folder').env('E2EE_CHAT_USER'),
    )
    .option('-s, --server <url>', `server URL (env E2EE_CHAT_SERVER, default ${DEFAULT_SERVER})`)
    .option('--home <dir>', 'folder for keys and state (env E2EE_CHAT_HOME, default ~/.e2ee-chat)')
    .hook('preAction', (command, actionCommand) => {
      // A parent's hook also runs before its subcommands' actions (devices approve): theirs settle their own options.
      if (actionCommand !== command) return;
      const opts = command.opts<Partial<UserOptions>>();
      setJsonOutput(opts.json === true);
      if (opts.user !== undefined && opts.user !== '') return;
      command.setOptionValue('user', onlyLocalUser(homeOf(opts)));
      command.setOptionValue('userFromHome', true);
    });
}

function homeOf(opts: Pick<UserOptions, 'home'>): string {
  return opts.home ? opts.home : defaultHome();
}

/** The one user with keys in `home`; refuses (listing them) when there are none or several. */
function onlyLocalUser(home: string): string {
  const users = localUsers(home);
  if (users.length === 1) return users[0]!;
  const how = 'name one with --user NAME or E2EE_CHAT_USER=NAME (environment or .env)';
  if (users.length === 0) {
    throw new ChatError('no_local_user', `no user given and no user has keys in ${home}; ${how}, and create it with: e2ee-chat receive --user NAME`);
  }
  throw new ChatError('no_local_user', `no user given and ${home} holds several users (${users.join(', ')}); ${how}`);
}

export function serverUrl(opts: UserOptions): string {
  return opts.server || process.env.E2EE_CHAT_SERVER || DEFAULT_SERVER;
}

export function folderFor(opts: UserOptions): UserFolder {
  return userFolder(homeOf(opts), opts.user);
}

export async function passphraseFor(username: string, purpose: 'create' | 'unlock'): Promise<string> {
  const fromEnv = process.env.E2EE_CHAT_PASSPHRASE;
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY) {
    if (purpose === 'unlock') {
      throw new ChatError('wrong_passphrase', `${username}'s keys are encrypted: set E2EE_CHAT_PASSPHRASE or run in a terminal`);
    }
    return '';
  }
  if (purpose === 'unlock') return askHidden(`Passphrase for ${username}'s keys: `);
  for (;;) {
    const first = await askHidden(`Choose a passphrase to protect ${username}'s keys (empty for none): `);
    if (first === '') return '';
    if ((await askHidden('Repeat it: ')) === first) return first;
    process.stderr.write('The two passphrases differ; try again.\n');
  }
}

/** How to get keys for a name: the one command that makes keys and registers the name. */
const createHint = (user: string) => `create them and register the name with: e2ee-chat receive --user ${user} (or e2ee-chat chat --user ${user})`;

/**
 * The user's keys. Only `create` (the `receive` command) makes new ones; every other command on an
 * unknown local user fails with 'no_local_user' and says how to create one, rather than silently
 * making keys and claiming the name on the server.
 */
export async function openIdentity(
  opts: UserOptions,
  { create = false, passphrase }: { create?: boolean; passphrase?: string } = {},
): Promise<LoadedIdentity & { folder: UserFolder }> {
  const folder = folderFor(opts);
  let loaded: LoadedIdentity;
  try {
    loaded = await loadOrCreateIdentity(folder, opts.user, async (purpose) => passphrase ?? passphraseFor(opts.user, purpose), { create });
  } catch (err) {
    if (err instanceof ChatError && err.code === 'no_local_user') {
      throw new ChatError('no_local_user', `${err.message}; ${createHint(opts.user)} (or point --home / E2EE_CHAT_HOME at the folder that holds them)`);
    }
    throw err;
  }
  if (loaded.created) {
    process.stderr.write(`Created keys for ${printable(opts.user)} in ${printable(folder.dir)}\n`);
    if (!loaded.encrypted) {
      process.stderr.write(
        `WARNING: ${printable(opts.user)}'s private keys are stored WITHOUT a passphrase in ${printable(folder.identityFile)}.\n` +
          `Anyone who can read that file can read your messages. Set E2EE_CHAT_PASSPHRASE to protect new keys.\n`,
      );
    }
  }
  return { ...loaded, folder };
}

/**
 * The user's keys and local message store, without connecting: for commands that read local files only
 * (history, outbox). Refuses a user with no keys here (no_local_user); asks for the passphrase if needed.
 */
export async function openLocalMessages(opts: UserOptions): Promise<{ identity: FolderIdentity; folder: UserFolder; messages: SqliteMessageStore }> {
  const { identity, folder } = await openIdentity(opts);
  const messages = await SqliteMessageStore.open(folder.stateFile, base64urlDecode(identity.keys.signing.d), identity.username);
  return { identity, folder, messages };
}

/** Causes followed down a debug event's chain: enough for "timeout ← socket error ← reason". */
const MAX_DEBUG_CAUSES = 4;

/**
 * A debug event as one terminal line. Its texts carry what the network sent (server error texts, the
 * frames that failed their schema, socket errors and their causes), so every part goes through
 * printable(): no escape sequence, and no line break that could fake another line of output.
 */
export function debugLine(d: { message: string; cause?: unknown }): string {
  const parts = [`debug: ${printable(d.message)}`];
  let cause = d.cause;
  for (let depth = 0; cause !== undefined && cause !== null && depth < MAX_DEBUG_CAUSES; depth++) {
    parts.push(printable(describeCause(cause)));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join(': ');
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (typeof cause !== 'object') return String(cause);
  try {
    return JSON.stringify(cause) ?? String(cause);
  } catch {
    return String(cause);
  }
}

/**
 * The record of the user's groups' conversations and the list of their groups, without connecting
 * (history --group); `close` closes both files.
 */
export async function openLocalGroups(opts: UserOptions): Promise<{
  groupHistory: SqliteGroupHistory;
  groups: () => Promise<{ groupId: string; name: string | undefined; active: boolean }[]>;
  close(): void;
}> {
  const { identity, folder } = await openIdentity(opts);
  const secret = base64urlDecode(identity.keys.signing.d);
  const ratchet = await SqliteRatchetStore.open(folder.ratchetFile, secret, identity.username);
  const groupHistory = await SqliteGroupHistory.open(folder.groupHistoryFile, secret, identity.username);
  return {
    groupHistory,
    groups: async () => (await ratchet.groups().listGroups()).map((g) => ({ groupId: base64urlEncode(g.groupId), name: g.name, active: !g.inactive })),
    close: () => {
      groupHistory.close();
      ratchet.close();
    },
  };
}

export interface OpenedClient {
  client: ChatClient;
  identity: FolderIdentity;
  folder: UserFolder;
  peers: FilePeerKeyStore;
  messages: SqliteMessageStore;
  /**
   * Every group message and membership change this run takes in, recorded by the client before it saves
   * the group's state and acks (undisplayed until a command shows it): whichever command of the user is
   * connected when a group message arrives, `receive` and `history --group` have it. Texts this device
   * sends are recorded by the client too, once the server ordered them.
   */
  groupHistory: SqliteGroupHistory;
  /**
   * Settles if the client stops for good while the command runs, with the error the command then exits
   * with: this device was removed from its user's list (the client's `removed` event), or a reconnect
   * found the name bound to other keys on the server (`refused`). Never settles otherwise. The same found
   * at login is connectClient's own error instead.
   */
  stopped: Promise<ChatError>;
  /** Closes the client (sending pending acks) and the local store. */
  close(): Promise<void>;
}

/** For the commands that show messages (receive, chat): `--no-read-receipts` turns read receipts off for one run. */
export const NO_READ_RECEIPTS_HELP = 'send no read receipts this run (default: the read-receipts setting, on unless "e2ee-chat settings read-receipts off")';

/** Whether this run sends read receipts: not when --no-read-receipts was given, else as the user's setting says. */
export async function readReceiptsWanted(opts: UserOptions & { readReceipts?: boolean }): Promise<boolean> {
  if (opts.readReceipts === false) return false;
  return (await readSettings(folderFor(opts).settingsFile)).readReceipts;
}

/**
 * Opens the user's keys and local stores and connects. With `allowOffline`, an unreachable server is not
 * an error: the client starts disconnected and keeps trying in the background.
 */
export async function connectClient(
  opts: UserOptions,
  options: {
    allowOffline?: boolean;
    mode?: 'ratchet' | 'hybrid';
    createUser?: boolean;
    readReceipts?: boolean;
    /** Adds listeners before the client connects, for events of the first login's backlog (see ChatClient.connect). */
    listen?: (client: ChatClient) => void;
    /** The passphrase, when this run already has it (link, which just wrote the keys): not asked again. */
    passphrase?: string;
  } = {},
): Promise<OpenedClient> {
  const createUser = options.createUser ?? false;
  const { identity, folder } = await openIdentity(opts, { create: createUser, ...(options.passphrase !== undefined && { passphrase: options.passphrase }) });
  const peers = new FilePeerKeyStore(folder.peersFile);
  const secret = base64urlDecode(identity.keys.signing.d);
  const messages = await SqliteMessageStore.open(folder.stateFile, secret, identity.username);
  const ratchet = await SqliteRatchetStore.open(folder.ratchetFile, secret, identity.username);
  const groupHistory = await SqliteGroupHistory.open(folder.groupHistoryFile, secret, identity.username);
  const clientOptions = {
    url: serverUrl(opts),
    identity,
    peers,
    messages,
    ratchet,
    // MLS group states and KeyPackages, beside the ratchet sessions (sealed the same way).
    groups: ratchet.groups(),
    // What was said and changed in them: the client records it before each save that makes it known.
    groupHistory,
    mode: options.mode ?? 'ratchet',
    register: createUser,
    // Off unless the command shows messages and asked for them (markRead is only called by those).
    readReceipts: options.readReceipts ?? false,
    blobHttp: nodeBlobHttp(),
    // Shared by every process of the user: `devices approve` in two terminals runs a code once.
    triedLinkCodes: new FileTriedLinkCodes(folder.linkCodesFile),
    ...(process.env.E2EE_CHAT_ACK_DELAY_MS && { ackDelayMs: Number(process.env.E2EE_CHAT_ACK_DELAY_MS) }),
  };
  let stoppedNow!: (err: ChatError) => void;
  const stopped = new Promise<ChatError>((resolve) => (stoppedNow = resolve));
  // Listening from before the login: a removal heard, or a debug event of the login's backlog, while the
  // login's own work runs is not missed.
  const listen = (c: ChatClient) => {
    if (process.env.E2EE_CHAT_DEBUG) c.on('debug', (d) => process.stderr.write(`${debugLine(d)}\n`));
    c.on('removed', (r) => stoppedNow(removedDeviceError(r.username, folder.dir, r.error)));
    c.on('refused', (r) => stoppedNow(explainLoginFailure(r.error, opts, folder) as ChatError));
    options.listen?.(c);
  };
  let client: ChatClient;
  try {
    client = await ChatClient.connect(clientOptions, listen);
  } catch (err) {
    if (!(options.allowOffline && err instanceof ChatError && err.code === 'not_connected')) {
      messages.close();
      ratchet.close();
      groupHistory.close();
      throw explainLoginFailure(err, opts, folder);
    }
    client = ChatClient.offline(clientOptions, listen);
  }
  return {
    client,
    identity,
    folder,
    peers,
    messages,
    groupHistory,
    stopped,
    close: async () => {
      await client.close();
      messages.close();
      ratchet.close();
      groupHistory.close();
    },
  };
}

export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  return /^y(es)?$/i.test((await ask(`${question} [y/N] `)).trim());
}

/** Commander parser for `--expect <digits>`: the 60-digit safety number, spaces ignored. */
export function parseSafetyNumber(text: string): string {
  const digits = text.replace(/\s+/g, '');
  if (!new RegExp(`^\\d{${SAFETY_NUMBER_DIGITS}}$`).test(digits)) {
    throw new InvalidArgumentError(`expected the ${SAFETY_NUMBER_DIGITS}-digit safety number (spaces allowed)`);
  }
  return digits;
}

/** The safety number this user shares with `peer` if `peer`'s identity key is `peerSigningKey`. */
export function safetyNumberWith(identity: FolderIdentity, peer: string, peerSigningKey: Ed25519PublicJwk): string {
  return safetyNumber(
    // The account's key, never a linked device's own: the number belongs to the person (§16.12).
    { identityKey: base64urlDecode((identity.account?.signingKey ?? identity.keys.signing).x), username: identity.username },
    { identityKey: base64urlDecode(peerSigningKey.x), username: peer },
  );
}

/**
 * For `--expect`: refuses unless `actual` is the number the user was given. Compared in constant time
 * (both are 60 ASCII digits), so timing tells a prober nothing about how many leading digits matched.
 */
export function requireSafetyNumber(peer: string, actual: string, expected: string): void {
  if (!constantTimeEqual(utf8Encode(actual), utf8Encode(expected))) {
    throw new ChatError(
      'peer_key_changed',
      `the safety number computed from the keys the server gave for ${printable(peer)} is not the one expected: ` +
        'they are not the keys your peer sees. Nothing was changed.',
    );
  }
}

/** Login refusals that mean "these keys are not (or not yet) this name's on this server", said in CLI terms. */
function explainLoginFailure(err: unknown, opts: UserOptions, folder: UserFolder): unknown {
  if (!(err instanceof ChatError)) return err;
  if (err.code === 'username_taken') {
    return new ChatError(
      'username_taken',
      `that name belongs to other keys on this server (${serverUrl(opts)}), not to the keys in ${folder.dir}. ` +
        `If it is yours, restore your key folder (${folder.dir}) from a backup; otherwise pick another name.`,
      { cause: err },
    );
  }
  if (err.code === 'unknown_device') return removedDeviceError(opts.user, folder.dir, err);
  if (err.code === 'unknown_user') {
    return new ChatError('unknown_user', `${err.message} (${serverUrl(opts)}): register it with: e2ee-chat receive --user ${opts.user}`, { cause: err });
  }
  return err;
}

/**
 * What a command says when this device is not in its user's list any more (`unknown_device` at login, or
 * the client's `removed` event while running; design §6.9): removed, its history kept here, and how to
 * link the machine again: as a new device, from another folder (`link` never reuses a folder that holds
 * keys, and device ids are never reused). The code stays `unknown_device`, for scripts.
 */
export function removedDeviceError(username: string, folderDir: string, cause?: unknown): ChatError {
  return new ChatError(
    'unknown_device',
    `this device was removed from ${username}'s devices; its history stays in this folder (${folderDir}); ` +
      `to link this machine again, run \`e2ee-chat link --user ${username} --home NEW_DIR\` with a new, empty folder`,
    { cause },
  );
}
