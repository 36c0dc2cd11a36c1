/**
 * What the web app shows about a peer's keys: a key change waiting for the user's decision, and the
 * safety number to compare. The words follow the CLI's `trust` and `verify` (same checks, same library
 * calls): accepting takes exactly the keys the user was shown, by their fingerprints, never a newer
 * answer; "verified" is recorded only for the keys whose number was on the screen.
 */
import { formatFingerprint, formatSafetyNumber, PeerKeyChangedError, type ChatClient, type SeenKeys } from '../../src/client/index.js';

export interface KeyChange {
  readonly peer: string;
  /** The fingerprint of the signing key pinned when you first talked (or last accepted). */
  readonly pinned: string;
  /** The fingerprint of the signing key the server gives for the peer now. */
  readonly current: string;
  /** What accepting pins: the keys shown, by their thumbprints. */
  readonly seen: SeenKeys;
  /** The user chose to keep sending blocked for now; the full warning is folded to one line. */
  readonly kept: boolean;
}

export function keyChangeOf(err: PeerKeyChangedError): KeyChange {
  return {
    peer: err.pinned.username,
    pinned: formatFingerprint(err.pinned.signingKeyThumbprint),
    current: formatFingerprint(err.current.signingKeyThumbprint),
    seen: { signingKeyThumbprint: err.current.signingKeyThumbprint, encryptionKeyThumbprint: err.current.encryptionKeyThumbprint },
    kept: false,
  };
}

export interface SafetyNumberView {
  readonly peer: string;
  /** The 60 digits, as both sides compute them. */
  readonly digits: string;
  /** Twelve groups of five, for reading aloud. */
  readonly groups: readonly string[];
  readonly verified: boolean;
  /** The keys the number was computed from: marking verified pins exactly these. */
  readonly seen: SeenKeys;
}

/** The safety number with `peer`; throws PeerKeyChangedError when their keys changed since they were pinned. */
export async function safetyNumberView(client: ChatClient, peer: string): Promise<SafetyNumberView> {
  const { digits, pin } = await client.safetyNumber(peer);
  return {
    peer,
    digits,
    groups: formatSafetyNumber(digits).split(' '),
    verified: pin.verified,
    seen: { signingKeyThumbprint: pin.signingKeyThumbprint, encryptionKeyThumbprint: pin.encryptionKeyThumbprint },
  };
}
