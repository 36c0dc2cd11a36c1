/** `e2ee-chat trust <peer>`: accept a peer's changed keys, after showing the warning and both fingerprints. */
import type { Command } from 'commander';
import { formatFingerprint } from '../client/fingerprint.js';
import { samePeerKeys, toPinned } from '../client/peer-keys.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, confirm, connectClient, type UserOptions } from './common.js';

export function registerTrustCommand(program: Command): void {
  addUserOptions(
    program
      .command('trust')
      .description("accept a peer's current keys from the server (after they changed), replacing the pinned ones")
      .argument('<peer>', 'the peer whose keys to accept')
      .option('-y, --yes', 'accept without asking (for scripts); only after comparing fingerprints'),
  ).action(async (peer: string, opts: UserOptions & { yes?: boolean }) => {
    const opened = await connectClient(opts);
    const { client, peers } = opened;
    try {
      const pinned = await peers.get(peer);
      const current = await toPinned(await client.fetchKeys(peer), Date.now());
      if (pinned && samePeerKeys(pinned, current)) {
        process.stdout.write(`${peer}'s keys have not changed; nothing to do.\n`);
        return;
      }
      const lines = pinned
        ? [
            `WARNING: ${peer}'s keys differ from the ones you pinned on ${new Date(pinned.pinnedAt).toISOString()}.`,
            'This is expected if they reinstalled or lost their device; it is also what an impersonator would cause.',
            'Compare the new fingerprints with them over another channel (in person, a call) before accepting.',
            `  old signing    ${formatFingerprint(pinned.signingKeyThumbprint)}`,
            `  old encryption ${formatFingerprint(pinned.encryptionKeyThumbprint)}`,
          ]
        : [`You have not pinned keys for ${peer} yet.`];
      lines.push(`  new signing    ${formatFingerprint(current.signingKeyThumbprint)}`, `  new encryption ${formatFingerprint(current.encryptionKeyThumbprint)}`);
      process.stderr.write(lines.join('\n') + '\n');
      if (!opts.yes && !(await confirm(`Accept these keys for ${peer}?`))) {
        throw new ChatError('peer_key_changed', `keys for ${peer} not accepted (use --yes to accept non-interactively)`);
      }
      await client.trustPeer(peer);
      process.stdout.write(`Now trusting ${peer}'s new keys.\n`);
    } finally {
      await opened.close();
    }
  });
}
