/**
 * `e2ee-chat trust <peer>`: accept a peer's (changed) keys, after showing the warning, both fingerprints
 * and the safety number. It pins exactly the keys it showed: one answer from the server, displayed, then
 * pinned. With `--expect <60 digits>` (for scripts, like signal-cli's `trust -v`) it accepts only if the
 * safety number of those keys is the given one, and then records the peer as verified.
 */
import type { Command } from 'commander';
import { formatFingerprint } from '../client/fingerprint.js';
import { samePeerKeys, toPinned } from '../client/peer-keys.js';
import { formatSafetyNumber } from '../e2ee/safety-number.js';
import type { PinnedPeer } from '../client/stores.js';
import { ChatError } from '../protocol/errors.js';
import { addUserOptions, confirm, connectClient, parseSafetyNumber, requireSafetyNumber, safetyNumberWith, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

/** A fingerprint read back from peers.json: a tampered file must not be able to drive the terminal. */
const fingerprint = (thumbprint: string) => printable(formatFingerprint(thumbprint));

/**
 * What `trust` shows before accepting keys (shared with chat's /trust): the warning when they differ from
 * the pin, the old and new fingerprints, and the safety number. `name` is already printable.
 */
export function keyReviewLines(name: string, pinned: PinnedPeer | undefined, current: PinnedPeer, digits: string): string[] {
  const lines = pinned
    ? samePeerKeys(pinned, current)
      ? [`${name}'s keys have not changed.`]
      : [
          `WARNING: ${name}'s keys differ from the ones you pinned on ${new Date(pinned.pinnedAt).toISOString()}.`,
          'This is expected if they reinstalled or lost their device; it is also what an impersonator would cause.',
          'Compare the new fingerprints with them over another channel (in person, a call) before accepting.',
          `  old signing    ${fingerprint(pinned.signingKeyThumbprint)}`,
          `  old encryption ${fingerprint(pinned.encryptionKeyThumbprint)}`,
        ]
    : [`You have not pinned keys for ${name} yet.`];
  lines.push(
    `  new signing    ${fingerprint(current.signingKeyThumbprint)}`,
    `  new encryption ${fingerprint(current.encryptionKeyThumbprint)}`,
    `  safety number  ${formatSafetyNumber(digits)}`,
  );
  return lines;
}

export function registerTrustCommand(program: Command): void {
  addUserOptions(
    program
      .command('trust')
      .description("accept a peer's current keys from the server (after they changed), replacing the pinned ones")
      .argument('<peer>', 'the peer whose keys to accept')
      .option('-y, --yes', 'accept without asking (for scripts); only after comparing fingerprints')
      .option('--expect <digits>', 'accept only if the safety number is this one (60 digits, spaces ignored); marks the peer verified', parseSafetyNumber),
  ).action(async (peer: string, opts: UserOptions & { yes?: boolean; expect?: string }) => {
    const opened = await connectClient(opts);
    const { client, peers, identity } = opened;
    const name = printable(peer);
    try {
      // The one answer this command uses: what is shown below is what gets pinned.
      const shown = await client.fetchKeys(peer);
      const current = await toPinned(shown, Date.now());
      const digits = safetyNumberWith(identity, peer, shown.signingKey);
      const pinned = await peers.get(peer);
      if (opts.expect !== undefined) requireSafetyNumber(peer, digits, opts.expect);
      if (pinned && samePeerKeys(pinned, current) && (opts.expect === undefined || pinned.verified)) {
        process.stdout.write(`${name}'s keys have not changed; nothing to do.\n`);
        return;
      }
      const lines = keyReviewLines(name, pinned, current, digits);
      process.stderr.write(lines.join('\n') + '\n');
      if (opts.expect === undefined && !opts.yes && !(await confirm(`Accept these keys for ${name}?`))) {
        throw new ChatError('peer_key_changed', `keys for ${name} not accepted (use --yes or --expect to accept non-interactively)`);
      }
      await client.trustPeer(peer, shown, { verified: opts.expect !== undefined });
      process.stdout.write(opts.expect !== undefined ? `Now trusting ${name}'s keys; the safety number matches: verified.\n` : `Now trusting ${name}'s new keys.\n`);
    } finally {
      await opened.close();
    }
  });
}
