/**
 * The client's view of the server's key directory: every answer bound to its question and checked
 * against the pins (trust on first use, see peer-keys.ts). The directory is the server's, so it is the
 * adversary's: keys must name the user asked for, a prekey bundle must carry the identity pinned for
 * that user, and a trust decision pins exactly the keys the user was shown.
 */
import { ChatError } from '../protocol/errors.js';
import type { UserKeys } from '../protocol/events.js';
import { bindKeysAnswer, checkAgainstPin, samePeerKeys, toPinned } from './peer-keys.js';
import type { ServerConnection } from './server-connection.js';
import type { PeerKeyStore, PinnedPeer } from './stores.js';

/** What the user was shown before accepting a peer's keys: the keys themselves, or their fingerprints. */
export type SeenKeys = UserKeys | Pick<PinnedPeer, 'signingKeyThumbprint' | 'encryptionKeyThumbprint'>;

export class PeerDirectory {
  /**
   * Peers whose directory keys were checked against the pin on this connection: asked once per
   * connection, not per message. Cleared on disconnect, so a re-key is noticed at the next login.
   */
  private readonly checked = new Map<string, PinnedPeer>();

  constructor(
    private readonly connection: Pick<ServerConnection, 'call'>,
    private readonly pins: PeerKeyStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Forgets which peers were checked: the next use asks the directory again. */
  forgetChecked(): void {
    this.checked.clear();
  }

  /** The directory's current keys for a user, not checked against the pin (but they are `username`'s). */
  async fetchKeys(username: string): Promise<UserKeys> {
    const { ok: _ok, ...keys } = await this.connection.call('keys', { username });
    return bindKeysAnswer(username, keys);
  }

  /**
   * The peer's keys, checked against the pin (pinning them on first use). Throws PeerKeyChangedError
   * when the directory's keys differ from the pinned ones.
   */
  async peerKeys(username: string): Promise<PinnedPeer> {
    const cached = this.checked.get(username);
    if (cached) return cached;
    const pinned = await checkAgainstPin(this.pins, username, await this.fetchKeys(username), this.now());
    this.checked.set(username, pinned);
    return pinned;
  }

  /** The pinned keys, without asking the server (for sealing while offline). */
  async pinned(username: string): Promise<PinnedPeer> {
    const pinned = await this.pins.get(username);
    if (!pinned) throw new ChatError('not_connected', `not connected, and no keys pinned for "${username}" yet`);
    return pinned;
  }

  /**
   * Accepts keys for a peer, replacing the pin: exactly the keys the user was shown (`seen`, as returned
   * by fetchKeys), or, given only their fingerprints, the directory's current keys if and only if they
   * have those fingerprints. Never a second answer the user did not see. The new pin is unverified
   * unless `verified` says the user compared the safety number. Returns the old and new pins.
   */
  async trust(username: string, seen: SeenKeys, verified: boolean): Promise<{ previous: PinnedPeer | undefined; current: PinnedPeer }> {
    const now = this.now();
    let current: PinnedPeer;
    if ('signingKey' in seen) {
      current = await toPinned(bindKeysAnswer(username, seen), now);
    } else {
      current = await toPinned(await this.fetchKeys(username), now);
      if (!samePeerKeys(current, seen)) {
        throw new ChatError('peer_key_changed', `the server's keys for "${username}" are not the ones shown (their fingerprints differ); nothing was pinned`);
      }
    }
    current.verified = verified;
    // One step under the pin store's lock: a device list another process stores meanwhile is neither lost
    // (same keys: the pin is kept as stored, list included) nor carried over to other keys.
    const { previous, pinned } = await this.pins.update(username, (previous) => {
      if (previous && samePeerKeys(previous, current)) {
        // Same keys: keep the original pin (its date, its device list); only a new verification is recorded.
        const kept = previous.verified || !current.verified ? previous : { ...previous, verified: true };
        return { ...(kept !== previous && { pin: kept }), result: { previous, pinned: kept } };
      }
      // Other keys: the old pin's device list goes with it; list history starts again from the new key (§4.5).
      return { pin: current, result: { previous, pinned: current } };
    });
    current = pinned;
    this.checked.set(username, current);
    return { previous, current };
  }
}
