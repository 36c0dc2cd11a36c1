/**
 * The rule both TriedLinkCodes stores follow (stores.ts; docs/design/devices-v2.md §6.6), as one pure
 * function so that the memory and file stores cannot drift apart: a code is claimed once per `ttlMs`;
 * entries that old are forgotten; at most `maxEntries` are kept.
 */
import { LINK_CODE_HASH_PATTERN } from '../e2ee/link/link-code.js';

/** One code the primary tried: its linkCodeHash and when (this device's clock, ms since epoch). */
export interface TriedLinkCode {
  readonly hash: string;
  readonly at: number;
}

/**
 * The most entries a ledger keeps. Only the user adds entries (each one is a code they typed into
 * `devices approve` on this device; a server cannot make the primary claim a code), so pruning by age
 * alone keeps a ledger to a handful. The cap bounds the file anyway (1,000 entries are about 80 KB)
 * against what age does not prune: a script approving in a loop, or entries stamped by a clock that was
 * far ahead. Past it the OLDEST entries are forgotten rather than new codes refused: reaching it takes
 * a thousand approvals on this device within LINK_TTL_MS, which only the user's own script can do, and
 * refusing would lock the user out of linking for that long.
 */
export const MAX_TRIED_LINK_CODES = 1000;

/** noble-style input checks, shared by the stores' entry points. */
export function checkClaim(codeHash: string, now: number, ttlMs: number): void {
  if (typeof codeHash !== 'string' || !LINK_CODE_HASH_PATTERN.test(codeHash)) throw new TypeError('"codeHash" expected linkCodeHash output: 43 base64url characters');
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError('"now" expected ms since epoch: a non-negative integer');
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError('"ttlMs" expected a positive integer');
}

/**
 * Claims `codeHash` at `now` among `entries` (oldest claim first). Claimed: the entries to keep, which
 * are the ones less than `ttlMs` old, then the new one, the oldest dropped past `maxEntries`. Refused
 * (tried less than `ttlMs` before): `entries` as given, nothing changes. An entry stamped after `now` (the
 * clock went back) counts as recent: the code stays refused rather than run twice.
 */
export function claimAmong(
  entries: readonly TriedLinkCode[],
  codeHash: string,
  now: number,
  ttlMs: number,
  maxEntries: number = MAX_TRIED_LINK_CODES,
): { claimed: boolean; entries: readonly TriedLinkCode[] } {
  checkClaim(codeHash, now, ttlMs);
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('"maxEntries" expected a positive integer');
  const live = entries.filter((e) => now - e.at < ttlMs);
  if (live.some((e) => e.hash === codeHash)) return { claimed: false, entries };
  return { claimed: true, entries: [...live, { hash: codeHash, at: now }].slice(-maxEntries) };
}
