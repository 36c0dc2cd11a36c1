/**
 * `e2ee-chat verify <peer>`: prints the 60-digit safety number of this user and the peer (docs/PROTOCOL.md
 * §16.12; the same digits on both sides) and, once the user confirms the peer sees the same number,
 * records the peer as verified. A peer whose keys changed since they were pinned is refused with the
 * TOFU warning: `trust` them first (which clears "verified"), then verify again.
 */
import type { Command } from 'commander';
import { base64urlDecode } from '../crypto/bytes.js';
import { formatSafetyNumber, safetyNumber } from '../e2ee/safety-number.js';
import { addUserOptions, confirm, connectClient, type UserOptions } from './common.js';

export function registerVerifyCommand(program: Command): void {
  addUserOptions(
    program
      .command('verify')
      .description("show the safety number you share with a peer; compare it with theirs, then mark them verified")
      .argument('<peer>', 'the peer to verify')
      .option('-y, --yes', 'mark the peer verified without asking (only after comparing the numbers)'),
  ).action(async (peer: string, opts: UserOptions & { yes?: boolean }) => {
    const opened = await connectClient(opts);
    const { client, peers, identity } = opened;
    try {
      const pinned = await client.peerKeys(peer); // pins on first use; throws the warning if the keys changed
      const digits = safetyNumber(
        { identityKey: base64urlDecode(identity.keys.signing.x), username: identity.username },
        { identityKey: base64urlDecode(pinned.signingKey.x), username: peer },
      );
      process.stdout.write(`Safety number for ${identity.username} and ${peer}:\n${formatSafetyNumber(digits)}\n`);
      process.stderr.write(`Compare it with the number ${peer} sees (in person or on a call); it must be identical.\n`);
      if (pinned.verified) {
        process.stdout.write(`${peer} is already verified.\n`);
        return;
      }
      if (opts.yes || (await confirm(`Does ${peer} see the same number?`))) {
        await peers.put({ ...pinned, verified: true });
        process.stdout.write(`${peer} is now verified.\n`);
      } else {
        process.stdout.write(`${peer} was not marked as verified.\n`);
      }
    } finally {
      await opened.close();
    }
  });
}
