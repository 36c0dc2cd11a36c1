/**
 * `e2ee-chat link --user alice`: makes this machine one of alice's devices (docs/PROTOCOL.md §18). It
 * makes this device's keys, prints a one-time code (on a line of its own, `code: <code>`, and as a QR
 * code), and waits while the user types the code on alice's first device (`e2ee-chat devices approve`).
 * Once the primary's provisioning arrives and passes its checks, the folder is written (keys, the
 * account's public keys, the primary's pins), the device logs in as itself and publishes its prekeys.
 * When the primary sends history (`devices approve --history N`), it waits, bounded, until that history is
 * recorded, so `e2ee-chat history` shows it right after.
 *
 * Nothing is written to the folder before the link succeeded: the keys and first prekeys live in memory
 * until then, so a failed or abandoned link leaves the folder as it was and the user simply runs `link`
 * again, with a new code.
 */
import { ed25519SigningKeyFromSeed } from '../crypto/signing-key.js';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { requestDeviceLink } from '../client/device-link-request.js';
import { adoptProvisioning, type ProvisionedDevice } from '../client/link-provisioning.js';
import { exportLocalKeys } from '../client/local-prekeys.js';
import { FilePeerKeyStore } from '../client/node/file-stores.js';
import { readPublicIdentity, writeLinkedIdentity } from '../client/node/identity-file.js';
import { SqliteRatchetStore } from '../client/node/sqlite-ratchet-store.js';
import type { UserFolder } from '../client/node/user-folder.js';
import { MemoryRatchetStore } from '../client/ratchet-store.js';
import { base64urlDecode } from '../crypto/bytes.js';
import { generateUserKeyPairs, jwkThumbprint, type UserKeyPairs } from '../crypto/keys.js';
import { deviceNameProblem } from '../e2ee/link/link-messages.js';
import { ChatError } from '../protocol/errors.js';
import { MAX_DEVICE_NAME_BYTES } from '../protocol/limits.js';
import { addUserOptions, connectClient, debugLine, folderFor, passphraseFor, serverUrl, type UserOptions } from './common.js';
import { HistoryArrival } from './history-arrival.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { printable } from './terminal-text.js';
import { renderQrCode } from './qr-code.js';
import { terminalBackground } from './terminal-background.js';

interface LinkOptions extends UserOptions {
  name?: string;
}

/** The machine's name, cut to what a device name may be; 'device' when nothing usable is left. */
export function defaultDeviceName(host: string = hostname()): string {
  let name = host.split('.')[0] ?? '';
  while (name !== '' && new TextEncoder().encode(name).length > MAX_DEVICE_NAME_BYTES) name = [...name].slice(0, -1).join('');
  return name !== '' && deviceNameProblem(name) === undefined ? name : 'device';
}

/** The folder must hold no device yet: linking never replaces keys, and never mixes with another device's state. */
async function refuseUsedFolder(folder: UserFolder, username: string): Promise<void> {
  const existing = await readPublicIdentity(folder);
  if (existing) {
    throw new ChatError(
      'bad_request',
      `${folder.dir} already holds ${username}'s keys (device ${existing.device}); link a new device from a fresh folder (--home DIR or E2EE_CHAT_HOME)`,
    );
  }
  for (const file of [folder.stateFile, folder.ratchetFile, folder.peersFile]) {
    if (existsSync(file)) throw new ChatError('bad_request', `${file} is left from keys that are gone; move ${folder.dir} away first (nothing there can be read without them)`);
  }
}

/** Says where things stand on stdout (human mode) or stderr (with --json, stdout is NDJSON only). */
const say = (text: string) => (jsonOutput() ? process.stderr : process.stdout).write(text);

/** Writes the folder from the provisioning: prekeys, pins, then the identity file, whose presence makes the folder a user's. */
async function writeFolder(folder: UserFolder, provisioned: ProvisionedDevice, keys: UserKeyPairs, ratchet: MemoryRatchetStore, passphrase: string): Promise<void> {
  const secret = base64urlDecode(keys.signing.d);
  const store = await SqliteRatchetStore.open(folder.ratchetFile, secret, provisioned.username);
  try {
    await store.createKeys((await exportLocalKeys(ratchet, ed25519SigningKeyFromSeed(secret), Date.now())).pickle());
  } finally {
    store.close();
  }
  await adoptProvisioning(new FilePeerKeyStore(folder.peersFile), provisioned);
  await writeLinkedIdentity(folder, { username: provisioned.username, device: provisioned.device, account: provisioned.account, keys, passphrase });
}

export function registerLinkCommand(program: Command): void {
  addUserOptions(
    program
      .command('link')
      .description("make this machine one of your devices: prints a code to approve on your first device")
      .option('--name <name>', `this device's name in your device list (public; at most ${MAX_DEVICE_NAME_BYTES} bytes; default: the host name)`)
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nRun it on the new machine with your username. It prints a code such as 417-K7QM-9TZC, on a line\n' +
          'of its own ("code: ..."), and a QR code of it, then waits (the code expires in 10 minutes). On the\n' +
          'device you already use (your first device), run:\n' +
          '  e2ee-chat devices approve <code> --user NAME\n' +
          'Both devices show the same short key fingerprint; check they match. A code works once: if the link\n' +
          'fails, run link again for a new code. Nothing is written here until the link succeeds. If the first\n' +
          'device sends history (devices approve --history N), this waits until it is here (a minute at most).\n' +
          '\nWith --json: {"type":"link-code","username","code","uri","keyFingerprint","expiresAt"}, then\n' +
          '{"type":"linked","username","device","name","keyFingerprint","version","history"} (history: how many\n' +
          'messages the first device announced), then, when it announced some,\n' +
          '{"type":"history-received","username","count","expected"}.',
      ),
  ).action(async (opts: LinkOptions) => {
    if (opts.userFromHome) throw new ChatError('bad_request', 'name the account to link to with --user NAME');
    const username = opts.user;
    const folder = folderFor(opts);
    await refuseUsedFolder(folder, username);
    const name = opts.name ?? defaultDeviceName();
    const nameProblem = deviceNameProblem(name);
    if (nameProblem !== undefined) throw new ChatError('bad_request', `--name: ${nameProblem}`);
    // Asked first, so the wait for the primary is not followed by a prompt the user might miss.
    const passphrase = await passphraseFor(username, 'create');
    const keys = await generateUserKeyPairs();
    const ratchet = new MemoryRatchetStore();
    const pending = await requestDeviceLink({
      url: serverUrl(opts),
      username,
      name,
      keys,
      ratchet,
      ...(process.env.E2EE_CHAT_DEBUG && { onDebug: (message: string, cause?: unknown) => process.stderr.write(`${debugLine({ message, cause })}\n`) }),
    });
    const cancel = () => pending.cancel();
    process.once('SIGINT', cancel);
    let provisioned: ProvisionedDevice;
    try {
      if (jsonOutput()) writeJson({ type: 'link-code', username, code: pending.code, uri: pending.uri, keyFingerprint: pending.keyFingerprint, expiresAt: pending.expiresAt });
      say(
        `This machine will become one of ${printable(username)}'s devices ("${printable(name)}").\n` +
          `On a device ${printable(username)} already uses (the first one), run:\n` +
          `  e2ee-chat devices approve ${pending.code} --user ${printable(username)}\n` +
          `and check that it shows this device's key: ${pending.keyFingerprint}\n`,
      );
      if (!jsonOutput()) {
        process.stdout.write(`code: ${pending.code}\n`);
        // For the browser and phone clients to come (a terminal cannot scan it): the same code.
        process.stdout.write(`${renderQrCode(pending.uri, { background: terminalBackground(process.env) })}\n`);
      }
      say(`waiting for approval (the code expires in ${Math.max(1, Math.round((pending.expiresAt - Date.now()) / 60_000))} minutes)…\n`);
      provisioned = await pending.done;
      await writeFolder(folder, provisioned, keys, ratchet, passphrase);
      if (passphrase === '') {
        // As for a user made by receive: keys written without a passphrase are said to be so.
        process.stderr.write(
          `WARNING: this device's private keys are stored WITHOUT a passphrase in ${printable(folder.identityFile)}.\n` +
            `Anyone who can read that file can read ${printable(username)}'s messages. Set E2EE_CHAT_PASSPHRASE to protect new keys.\n`,
        );
      }
    } finally {
      process.off('SIGINT', cancel);
    }

    // Log in as the new device: its one-time prekeys go up, and its own list (verified under the account
    // key the primary gave) and the directory's account keys must agree with what the primary said.
    const history = new HistoryArrival();
    const opened = await connectClient(opts, { passphrase, listen: (client) => history.listen(client) });
    try {
      const devices = await opened.client.devices();
      const me = devices.find((d) => d.current);
      if (!me) throw new ChatError('device_list_invalid', "the server's device list does not name this device");
      const directory = await opened.client.fetchKeys(username);
      const account = opened.identity.account!;
      if ((await jwkThumbprint(directory.signingKey)) !== (await jwkThumbprint(account.signingKey))) {
        throw new ChatError('peer_key_changed', `the server's keys for ${username} are not the ones ${username}'s first device sent: do not use this device, and check the server`);
      }
      const version = provisioned.list.version;
      const expected = provisioned.historyCount;
      if (jsonOutput()) writeJson({ type: 'linked', username, device: me.device, name: me.name, keyFingerprint: pending.keyFingerprint, version, history: expected });
      say(`linked as ${printable(username)}, device ${me.device} ("${printable(me.name)}")\n`);
      if (expected > 0) {
        say(`waiting for ${expected} messages of history from your first device…\n`);
        const complete = await history.until(expected);
        if (jsonOutput()) writeJson({ type: 'history-received', username, count: history.recorded, expected });
        if (complete) say(`received ${history.recorded} messages of history\n`);
        else say(`received ${history.recorded} of ${expected} messages of history so far; the rest come with your next receive\n`);
      }
    } finally {
      await opened.close();
    }
  });
}
