/**
 * Binds MLS leaves to our device lists: ts-mls asks its AuthenticationService about every credential it
 * meets (a KeyPackage being added, a leaf in an UpdatePath or Update, every leaf of the tree a Welcome
 * brings, the signer of a GroupInfo), and ours accepts a credential only when
 *
 *   - it is our basic credential (member-credential.ts) naming (username, deviceId), and
 *   - the user's device list, as this client verified it under the pinned account key (PROTOCOL.md §17.5),
 *     lists that device, and
 *   - the leaf's signature key is byte for byte that device's DSK.
 *
 * Anything else is refused: a device the list does not name (never linked, or removed), a key other than
 * the listed one, a user whose list this client has not verified. So the server, which relays KeyPackages
 * and commits, cannot slip a device of its own into a group.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import { constantTimeEqual } from '../../crypto/bytes.js';
import type { DeviceList } from '../../protocol/device-list-payload.js';
import { decodeMemberCredential, type MemberIdentity } from './member-credential.js';

/** The device lists this client verified (17.5), by username; undefined when it holds none for the user. */
export type VerifiedDeviceLists = (username: string) => DeviceList | undefined | Promise<DeviceList | undefined>;

export type IdentityRefusal = 'not_our_credential' | 'no_verified_list' | 'device_not_listed' | 'signature_key_mismatch';

export type IdentityCheckResult =
  | { readonly ok: true; readonly member: MemberIdentity }
  | { readonly ok: false; readonly reason: IdentityRefusal; readonly member?: MemberIdentity };

export async function checkMemberIdentity(credential: Credential, signaturePublicKey: Uint8Array, lists: VerifiedDeviceLists): Promise<IdentityCheckResult> {
  const member = decodeMemberCredential(credential);
  if (member === undefined) return { ok: false, reason: 'not_our_credential' };
  const list = await lists(member.username);
  if (list === undefined || list.username !== member.username) return { ok: false, reason: 'no_verified_list', member };
  const entry = list.devices.find((d) => d.deviceId === member.deviceId);
  if (entry === undefined) return { ok: false, reason: 'device_not_listed', member };
  if (!constantTimeEqual(entry.signingKey, signaturePublicKey)) return { ok: false, reason: 'signature_key_mismatch', member };
  return { ok: true, member };
}

/**
 * The AuthenticationService handed to ts-mls. It answers true or false; `refusals` keeps why, so a caller
 * can tell "this add is forged" from "fetch carol's list, then retry". Operations that read `refusals`
 * make one service per call (group-join.ts, group-messages.ts), so what it holds is that call's and
 * stays small (one entry per leaf checked at most).
 */
export class DeviceListAuthenticationService implements AuthenticationService {
  readonly #lists: VerifiedDeviceLists;
  readonly refusals: { reason: IdentityRefusal; member?: MemberIdentity }[] = [];
  /** Users met without a verified list, when those are let through (see the constructor). */
  readonly missingLists = new Set<string>();

  readonly #acceptMissingLists: boolean;
  readonly #deferRefusals: boolean;

  /**
   * `acceptMissingLists` is for a join's first pass only (group-join.ts): it lets ts-mls go on past a
   * user whose list is not here yet, so one pass names every such user; the state that pass makes is
   * thrown away. Every other refusal stays a refusal.
   *
   * `deferRefusals` answers true to ts-mls and only records the refusal: the caller MUST then refuse the
   * whole operation when `refusals` is not empty, and drop the state ts-mls returned (ts-mls's results are
   * new states, nothing is applied until the caller saves one). Why: ts-mls 1.6.4 checks a commit's Adds
   * in an async reduce that awaits each check before the previous step, so two refused Adds leave the
   * first rejection unobserved — an unhandled rejection, which ends a Node process. A forged commit with
   * two bad Adds must not crash its receivers. Only for services made for one call (group-messages.ts,
   * group-join.ts); the device's long-lived service keeps refusing (mls-device.ts).
   */
  constructor(lists: VerifiedDeviceLists, options: { acceptMissingLists?: boolean; deferRefusals?: boolean } = {}) {
    this.#lists = lists;
    this.#acceptMissingLists = options.acceptMissingLists ?? false;
    this.#deferRefusals = options.deferRefusals ?? false;
  }

  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    const result = await checkMemberIdentity(credential, signaturePublicKey, this.#lists);
    if (!result.ok) {
      if (this.#acceptMissingLists && result.reason === 'no_verified_list') {
        this.missingLists.add(result.member!.username);
        return true;
      }
      // A bound for the one long-lived service (mls-device.ts), which nobody reads.
      if (this.refusals.length < 64) this.refusals.push(result.member === undefined ? { reason: result.reason } : { reason: result.reason, member: result.member });
      if (this.#deferRefusals) return true;
    }
    return result.ok;
  }
}
