/**
 * An address: one device of one user, `(username, deviceId)` (docs/design/devices-v2.md §3.1). It is what
 * a ratchet session belongs to: each of a peer's devices has its own (Sesame's per-device sessions, §7).
 *
 * A username alone stands for that user's device 1. Everything from before devices is device 1's (§3.4),
 * and so is every caller that still speaks protocol 1: it names peers only, and they are device 1.
 */
export interface Address {
  readonly user: string;
  readonly device: number;
}

/** An address, or a username standing for its device 1. */
export type AddressLike = string | Address;

/** The device of every v0.1 user and of every protocol 1 connection; the primary, holder of the account key. */
export const PRIMARY_DEVICE = 1;

export function addressOf(a: AddressLike): Address {
  return typeof a === 'string' ? { user: a, device: PRIMARY_DEVICE } : a;
}

/**
 * `alice/3`, as the design writes an address in text (logs and the CLI), and the name a session row is
 * kept under. Usernames cannot contain '/' (USERNAME_PATTERN), so no username reads as an address.
 */
export const addressText = (a: Address): string => `${a.user}/${a.device}`;
