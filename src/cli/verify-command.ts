/**
 * `e2ee-chat verify <peer>`: prints the 60-digit safety number of this user and the peer (docs/PROTOCOL.md
 * §16.12; the same digits on both sides) and, once the user confirms the peer sees the same number,
 * records the peer as verified. With `--expect <60 digits>` (for scripts) the confirmation is the
 * comparison: it succeeds only if the number is the given one, and otherwise changes nothing (a peer seen
 * for the first time is not even pinned). A peer whose keys changed since they were pinned is refused
 * with the TOFU warning: `trust` them first (which clears "verified"), then verify again.
 */
import type { Command } from 'commander';
import { PeerKeyChangedError, toPinned } from '../client/peer-keys.js';
import { samePeerKeys } from '../client/peer-keys.js';
import { formatSafetyNumber } from '../e2ee/safety-number.js';
import { addUserOptions, confirm, connectClient, parseSafetyNumber, requireSafetyNumber, safetyNumberWith, type UserOptions } from './common.js';
import { printable } from './terminal-text.js';

export function registerVerifyCommand(program: Command): void {
  addUserOptions(
    program
      .command('verify')
      .description("show the safety number you share with a peer; compare it with theirs, then mark them verified")
      .argument('<peer>', 'the peer to verify')
      .option('-y, --yes', 'mark the peer verified without asking (only after comparing the numbers)')
      .option('--expect <digits>', 'mark the peer verified only if the safety number is this one (60 digits, spaces ignored)', parseSafetyNumber),
  ).action(async (peer: string, opts: UserOptions & { yes?: boolean; expect?: string }) => {
    const opened = await connectClient(opts);
    const { client, peers, identity } = opened;
    const name = printable(peer);
    try {
      const fromServer = await toPinned(await client.fetchKeys(peer), Date.now());
      const pinned = await peers.get(peer);
      if (pinned && !samePeerKeys(pinned, fromServer)) throw new PeerKeyChangedError(pinned, fromServer);
      const keys = pinned ?? fromServer;
      const digits = safetyNumberWith(identity, peer, keys.signingKey);
      process.stdout.write(`Safety number for ${printable(identity.username)} and ${name}:\n${formatSafetyNumber(digits)}\n`);
      if (opts.expect !== undefined) requireSafetyNumber(peer, digits, opts.expect);
      else process.stderr.write(`Compare it with the number ${name} sees (in person or on a call); it must be identical.\n`);
      if (keys.verified) {
        process.stdout.write(`${name} is already verified.\n`);
        return;
      }
      if (opts.expect !== undefined || opts.yes || (await confirm(`Does ${name} see the same number?`))) {
        await peers.put({ ...keys, verified: true });
        process.stdout.write(`${name} is now verified.\n`);
      } else {
        // Pinned on first use, as any first contact would, but not verified.
        if (!pinned) await peers.put(keys);
        process.stdout.write(`${name} was not marked as verified.\n`);
      }
    } finally {
      await opened.close();
    }
  });
}
