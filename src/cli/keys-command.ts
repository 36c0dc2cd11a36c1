/** `e2ee-chat keys`: the user's own key fingerprints, and the peers pinned so far. */
import type { Command } from 'commander';
import { jwkThumbprint } from '../crypto/keys.js';
import { formatFingerprint } from '../client/fingerprint.js';
import { FilePeerKeyStore } from '../client/node/file-stores.js';
import { readPublicIdentity } from '../client/node/identity-file.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, folderFor, type UserOptions } from './common.js';
import { JSON_HELP, jsonOutput, writeJson } from './output.js';
import { printable } from './terminal-text.js';

export function registerKeysCommand(program: Command): void {
  addUserOptions(
    program
      .command('keys')
      .description("print your key fingerprints and those of the peers you have pinned")
      .option('--json', JSON_HELP)
      .addHelpText(
        'after',
        '\nWith --json, one object for your keys (self true), then one per pinned peer (self false):\n' +
          '  {"type":"keys","username","self","passphraseProtected","verified","pinnedAt",\n' +
          '   "signingKeyThumbprint","encryptionKeyThumbprint","signingFingerprint","encryptionFingerprint"}\n' +
          'Thumbprints: RFC 7638 SHA-256, base64url; fingerprints: the same as hex in groups of four.\n' +
          'passphraseProtected: yours only (else null); verified, pinnedAt (ms since the epoch): peers only.',
      ),
  ).action(async (opts: UserOptions) => {
    const folder = folderFor(opts);
    const file = await readPublicIdentity(folder);
    if (!file) throw new ChatError('no_local_user', `no keys for ${opts.user} in ${folder.dir}; run "e2ee-chat receive --user ${opts.user}" first`);
    // The user's own account keys are pinned beside the peers' (the user's own device list is verified
    // under them, PROTOCOL.md §21.2); they are shown above as "your keys", not as a peer.
    const peers = (await new FilePeerKeyStore(folder.peersFile).all()).filter((p) => p.username !== opts.user);
    if (jsonOutput()) {
      const signing = await jwkThumbprint(file.account.signingKey);
      const encryption = await jwkThumbprint(file.account.encryptionKey);
      writeJson({
        type: 'keys',
        username: opts.user,
        self: true,
        passphraseProtected: file.private.encrypted,
        verified: null,
        pinnedAt: null,
        signingKeyThumbprint: signing,
        encryptionKeyThumbprint: encryption,
        signingFingerprint: formatFingerprint(signing),
        encryptionFingerprint: formatFingerprint(encryption),
      });
      for (const p of peers) {
        writeJson({
          type: 'keys',
          username: p.username,
          self: false,
          passphraseProtected: null,
          verified: p.verified,
          pinnedAt: p.pinnedAt,
          signingKeyThumbprint: p.signingKeyThumbprint,
          encryptionKeyThumbprint: p.encryptionKeyThumbprint,
          signingFingerprint: formatFingerprint(p.signingKeyThumbprint),
          encryptionFingerprint: formatFingerprint(p.encryptionKeyThumbprint),
        });
      }
      return;
    }
    const out: string[] = [
      `${opts.user} (${file.private.encrypted ? 'private keys passphrase-protected' : 'private keys NOT passphrase-protected'})`,
      `  signing    (Ed25519)       ${formatFingerprint(await jwkThumbprint(file.account.signingKey))}`,
      `  encryption (RSA-2048 OAEP) ${formatFingerprint(await jwkThumbprint(file.account.encryptionKey))}`,
    ];
    if (peers.length > 0) out.push('', 'Pinned peers:');
    for (const p of peers) {
      out.push(
        // Pinned names were read from peers.json, and got there from a server's answer: escape them.
        `${printable(p.username)}${p.verified ? ' (verified)' : ''}, pinned ${new Date(p.pinnedAt).toISOString()}`,
        `  signing    (Ed25519)       ${formatFingerprint(p.signingKeyThumbprint)}`,
        `  encryption (RSA-2048 OAEP) ${formatFingerprint(p.encryptionKeyThumbprint)}`,
      );
    }
    process.stdout.write(out.join('\n') + '\n');
  });
}
