/**
 * Trust on first use: the first keys the directory returns for a peer are pinned; later, keys that differ
 * from the pin are refused with `peer_key_changed` until the user accepts them (`trust`).
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { jwkThumbprint } from '../crypto/keys.js';
import { ChatError } from '../protocol/errors.js';
import type { UserKeys } from '../protocol/events.js';
import type { PeerKeyStore, PinnedPeer } from './stores.js';

export async function toPinned(keys: UserKeys, now: number): Promise<PinnedPeer> {
  return {
    username: keys.username,
    signingKey: keys.signingKey,
    encryptionKey: keys.encryptionKey,
    signingKeyThumbprint: await jwkThumbprint(keys.signingKey),
    encryptionKeyThumbprint: await jwkThumbprint(keys.encryptionKey),
    pinnedAt: now,
    verified: false,
  };
}

/** The raw Ed25519 key of a pinned peer (its JWK's x). */
export const signingKeyOf = (peer: PinnedPeer): Uint8Array => base64urlDecode(peer.signingKey.x);

type Fingerprints = Pick<PinnedPeer, 'signingKeyThumbprint' | 'encryptionKeyThumbprint'>;

export function samePeerKeys(a: Fingerprints, b: Fingerprints): boolean {
  return a.signingKeyThumbprint === b.signingKeyThumbprint && a.encryptionKeyThumbprint === b.encryptionKeyThumbprint;
}

export class PeerKeyChangedError extends ChatError {
  constructor(
    readonly pinned: PinnedPeer,
    readonly current: PinnedPeer,
  ) {
    super(
      'peer_key_changed',
      `WARNING: the keys of "${pinned.username}" have changed since you first talked. This happens when they ` +
        `reinstall, but also when someone is impersonating them. Compare fingerprints with them in person, ` +
        `then accept the new keys with: e2ee-chat trust ${pinned.username}`,
    );
    this.name = 'PeerKeyChangedError';
  }
}

/**
 * The directory's answer to "keys of `asked`" must name `asked`. Otherwise a server could answer for
 * "bob" with its own keys labelled "mallory": pinned under "mallory", they would pass every pin check
 * for "bob" and open what is written to bob.
 */
export function bindKeysAnswer(asked: string, answer: UserKeys): UserKeys {
  if (answer.username !== asked) {
    throw new ChatError('bad_response', `the server answered a request for the keys of "${asked}" with the keys of "${answer.username}"`);
  }
  return answer;
}

/**
 * Pins on first sight; returns the pin when the directory agrees with it; throws when it does not. The
 * pin is keyed by the name asked for, never by a name the answer carries.
 */
export async function checkAgainstPin(store: PeerKeyStore, asked: string, fromDirectory: UserKeys, now: number): Promise<PinnedPeer> {
  const current = await toPinned(bindKeysAnswer(asked, fromDirectory), now);
  // Read first so the common case (already pinned) takes no lock; first use pins under the lock, and
  // whichever process pinned first wins for both.
  const pinned = (await store.get(asked)) ?? (await store.putIfAbsent(current));
  if (!samePeerKeys(pinned, current)) throw new PeerKeyChangedError(pinned, current);
  return pinned;
}
