/**
 * Link slot numbers (docs/design/devices-v2.md §6.3): decimal without leading zeros, drawn at random among
 * the free ones from 100–999 while fewer than 100 slots are open, else from 1,000–999,999. Three digits in
 * the usual case keep the link code short to type; the wide range takes over only under load. A slot
 * number routes and is not secret, but drawing it at random (rather than counting up) keeps it from
 * telling anyone how many links the server has seen.
 */
import type { RandomSource } from '../crypto/random.js';

/** The short range, used while fewer than SHORT_RANGE_BELOW slots are open. */
export const SHORT_SLOTS = { min: 100, max: 999 } as const;
/** The wide range, used from SHORT_RANGE_BELOW open slots on. */
export const WIDE_SLOTS = { min: 1_000, max: 999_999 } as const;
/** Open slots below which numbers come from the short range. */
export const SHORT_RANGE_BELOW = 100;
/**
 * The most open slots the numbering supports. With at most this many taken, a draw in the wide range hits
 * a free number with probability above 0.89 and a draw in the short range (at most 99 of 900 taken) above
 * 0.89 too, so a handful of draws always suffices.
 */
export const MAX_NUMBERED_SLOTS = 100_000;
/** Draws before giving up; at a failure rate below 0.11 per draw, reaching it means a broken RNG. */
const MAX_DRAWS = 64;

/**
 * A free slot number, uniform among the free numbers of the range that `openCount` selects (rejection
 * sampling: a draw that lands on a taken number is drawn again, which leaves the rest equally likely).
 */
export function drawSlotNumber(random: RandomSource, openCount: number, isTaken: (slot: string) => boolean): string {
  if (!Number.isSafeInteger(openCount) || openCount < 0 || openCount >= MAX_NUMBERED_SLOTS) {
    throw new RangeError(`"openCount" expected an integer in 0 … ${MAX_NUMBERED_SLOTS - 1}`);
  }
  const range = openCount < SHORT_RANGE_BELOW ? SHORT_SLOTS : WIDE_SLOTS;
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const offset = uniformBelowOrNull(random, range.max - range.min + 1);
    if (offset === null) continue;
    const slot = String(range.min + offset);
    if (!isTaken(slot)) return slot;
  }
  throw new Error(`no free link slot number in ${MAX_DRAWS} draws: the random source is not random`);
}

const TWO_32 = 2 ** 32;

/**
 * A uniform integer in 0 … n−1 from 32 random bits, or null for the top values that would bias it (the
 * caller draws again, so every draw, of either kind, counts toward its bound).
 */
function uniformBelowOrNull(random: RandomSource, n: number): number | null {
  const bytes = random(4);
  if (bytes.length !== 4) throw new RangeError(`"random" expected 4 bytes, got ${bytes.length}`);
  const value = ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
  return value < TWO_32 - (TWO_32 % n) ? value % n : null;
}
