/**
 * How a device link fills CPace's inputs (draft-irtf-cfrg-cpace-21 §4.1; docs/PROTOCOL.md §18.2):
 *   PRS = the code's 8 secret characters (ASCII)
 *   CI  = lv_cat("e2ee-chat link v2", UTF-8(username), ASCII(slot))
 *   sid = sidA ‖ sidB, the primary's 16 random bytes then the new device's
 *   ADa = ADb = empty
 * The account and slot sit in CI, so they shape the generator and stay confidential (§10.1.1): a code
 * relayed into another account's run or another slot gives another generator and fails confirmation.
 * The label carries the version, so codes of a later link version never mix with these (design §14.6).
 */
import { utf8Encode, type Bytes } from '../../crypto/bytes.js';
import { USERNAME_PATTERN } from '../../protocol/limits.js';
import { LINK_SID_BYTES, LINK_SLOT_PATTERN } from '../../protocol/link-schemas.js';
import { lvCat, type CPaceInputs } from './cpace.js';
import { linkCodePrs, type LinkCode } from './link-code.js';

/** The first field of CI (17 ASCII bytes). */
export const LINK_CI_LABEL = utf8Encode('e2ee-chat link v2');
/** ADa and ADb: the parties' identities are in CI, so nothing travels beside the shares. */
export const LINK_AD: Bytes = new Uint8Array(0);

export interface LinkRunParameters {
  /** The account being linked to. */
  readonly username: string;
  /** The code (slot and secret). */
  readonly code: LinkCode;
  /** The primary's (CPace initiator's) 16 random bytes, its `sid` in link.join. */
  readonly sidA: Uint8Array;
  /** The new device's (CPace responder's) 16 random bytes, its `sid` in link.open. */
  readonly sidB: Uint8Array;
}

export function linkCpaceInputs(p: LinkRunParameters): CPaceInputs {
  if (!USERNAME_PATTERN.test(p.username)) throw new RangeError('"username" is not a valid username');
  if (!LINK_SLOT_PATTERN.test(p.code.slot)) throw new RangeError('"slot" is not a canonical slot number');
  for (const [name, part] of [['sidA', p.sidA], ['sidB', p.sidB]] as const) {
    if (!(part instanceof Uint8Array) || part.length !== LINK_SID_BYTES) throw new RangeError(`"${name}" expected Uint8Array of length 16`);
  }
  return {
    prs: linkCodePrs(p.code),
    ci: lvCat(LINK_CI_LABEL, utf8Encode(p.username), utf8Encode(p.code.slot)),
    sid: Uint8Array.from([...p.sidA, ...p.sidB]),
  };
}
