/**
 * Incoming group traffic (docs/design/groups-mls.md §4.2–4.4): log entries (commits and application
 * messages, pushed or synced) and Welcomes.
 *
 * Entries are handled in the group's order: one already handled (seq at or below the row's `lastSeq`) is
 * a duplicate or a replay and changes nothing; a gap in the sequence, or a message MLS finds `ahead` of
 * this device's epoch (a commit withheld or reordered), makes the device sync the log from where it is
 * before going on. Each entry is processed on the state as loaded; what it says (a text, a membership
 * change) is recorded in the group history, then the row saved compare-and-swap, and only then are
 * listeners told (record, commit, notify). Recorded first, so that nothing is lost: once the row is saved
 * a redelivery is a replay and changes nothing, and the server is told the entry was handled. A lost save
 * redoes the entry on the newer row; the history records an entry of one id once.
 *
 * This device's own commit, found in the log, is adopted from the pending state saved before it was sent
 * (a crash between the server's acceptance and the adoption is resolved here, on the next sync).
 */
import type { ClientState } from 'ts-mls';
import type { Bytes } from '../../crypto/bytes.js';
import { SIGNING_SECRET_PLACEHOLDER } from '../../e2ee/mls/ciphersuite.js';
import { groupEpoch, groupMembers } from '../../e2ee/mls/group-members.js';
import { groupNameOf } from '../../e2ee/mls/group-name.js';
import { joinFromWelcome, MissingDeviceListsError } from '../../e2ee/mls/group-join.js';
import { processGroupMessage } from '../../e2ee/mls/group-messages.js';
import { GroupMemberRefusedError } from '../../e2ee/mls/member-refused-error.js';
import { deserializeGroupState, serializeGroupState } from '../../e2ee/mls/group-state-codec.js';
import { welcomeKeyPackageRefs, type DeviceKeyPackage } from '../../e2ee/mls/key-package.js';
import { decodeKeyPackageMessage, decodeWelcomeMessage } from '../../e2ee/mls/mls-wire.js';
import { ChatError, DecryptionFailedError } from '../../protocol/errors.js';
import { GROUP_SYNC_BATCH } from '../../protocol/limits.js';
import { addressText } from '../address.js';
import type { GroupLogEntry, GroupWelcomeDelivery } from './group-delivery.js';
import { groupChangeEntry, groupTextEntry, type GroupHistoryEntry } from './group-history.js';
import { groupIdText } from './group-list.js';
import { decodeGroupPayload } from './group-payload.js';
import {
  inactiveRow,
  leaversStillIn,
  loadActiveGroup,
  memberAddresses,
  membershipChange,
  recordHistory,
  sameAddress,
  sameBytes,
  saveGroup,
  type GroupMembershipEvent,
  type GroupMessageEvent,
  type GroupRefusalEvent,
  type GroupRuntime,
  type LoadedGroup,
} from './group-runtime.js';
import type { GroupRow, KeyPackageRow } from './group-store.js';

/** Work a received entry asks for once the group's lock is released: a member's leave to commit. */
export interface FollowUp {
  readonly groupId: Uint8Array;
  readonly removeUser: string;
}

/** What an entry makes known: recorded in the history (texts, membership changes) and told to the listeners. */
type Told =
  | { readonly kind: 'message'; readonly event: GroupMessageEvent }
  /** A text of this device's own, found ordered in the log: recorded as sent, told to no one (it was shown as written). */
  | { readonly kind: 'sent'; readonly event: GroupMessageEvent }
  | { readonly kind: 'membership'; readonly event: GroupMembershipEvent }
  | { readonly kind: 'refused'; readonly event: GroupRefusalEvent };

interface Outcome {
  readonly row: GroupRow;
  readonly state: ClientState;
  readonly told?: Told;
  readonly followUps: readonly FollowUp[];
  readonly ahead?: true;
  /** Left unhandled (its epoch not reached, no sync left to try): nothing to save. */
  readonly stalled?: true;
}

/** A stored KeyPackage row as the package a Welcome is opened with (the signing secret is never in it: ciphersuite.ts). */
export function keyPackageFromRow(ref: Bytes, row: KeyPackageRow): DeviceKeyPackage {
  return {
    ref,
    message: row.message,
    publicPackage: decodeKeyPackageMessage(row.message),
    privatePackage: { initPrivateKey: row.initPrivateKey, hpkePrivateKey: row.hpkePrivateKey, signaturePrivateKey: SIGNING_SECRET_PLACEHOLDER },
  };
}

export class GroupInbound {
  constructor(private readonly rt: GroupRuntime) {}

  /** A pushed log entry: handled under the group's lock; returns what to do after it. */
  receive(entry: GroupLogEntry): Promise<FollowUp[]> {
    return this.rt.lock(entry.groupId, () => this.handle(entry, true));
  }

  /**
   * Fetches the log after the row's `lastSeq` and handles its entries in seq order, each once. Runs under
   * the group's lock (its callers hold it). Another group's entries and entries at or below where this
   * device is are dropped; a batch is sorted first (a server may return it in any order). An entry MLS
   * finds ahead of this device's epoch (the commit before it withheld) ends the sync where it is: this
   * device's place in the log stays before it, and the next sync (the next push past it, or the next
   * login) asks for the commit again. A missing seq is reported and passed (entries expire).
   */
  async catchUp(groupId: Uint8Array): Promise<FollowUp[]> {
    const loaded = await this.rt.store.loadGroup(groupId);
    if (!loaded || loaded.row.inactive) return [];
    const followUps: FollowUp[] = [];
    let last = loaded.row.lastSeq;
    for (;;) {
      const { messages } = await this.rt.delivery.sync(groupId, last);
      const fromHere = new Map<number, GroupLogEntry>();
      for (const entry of messages) {
        if (!sameBytes(entry.groupId, groupId) || entry.seq <= last) {
          this.rt.events.debug(`ignored a log entry the server returned for another group or from before this device's place (seq ${entry.seq})`);
          continue;
        }
        if (!fromHere.has(entry.seq)) fromHere.set(entry.seq, entry);
      }
      for (const entry of [...fromHere.values()].sort((a, b) => a.seq - b.seq)) {
        // Entries expire (the queue's TTL), so a hole is not always a lie: go on, and let MLS decide. A
        // withheld commit makes the entries after it `ahead`, which stops the sync below without moving on.
        if (entry.seq !== last + 1) this.rt.events.debug(`group ${groupIdText(groupId)}: the log skips from seq ${last} to ${entry.seq} (entries expired or withheld)`);
        followUps.push(...(await this.handle(entry, false)));
        const now = await this.rt.store.loadGroup(groupId);
        // Not moved past the entry: it could not be handled yet (its epoch is not reached), or the group is gone.
        if (!now || now.row.inactive || now.row.lastSeq < entry.seq) return followUps;
        last = entry.seq;
      }
      // A full batch may have more after it; a batch that moved nothing on ends the sync (a lying server's loop).
      if (messages.length < GROUP_SYNC_BATCH || fromHere.size === 0) return followUps;
    }
  }

  private async handle(entry: GroupLogEntry, mayCatchUp: boolean): Promise<FollowUp[]> {
    for (;;) {
      const loaded = await loadActiveGroup(this.rt, entry.groupId);
      if (!loaded) {
        this.rt.events.debug(`a message for group ${groupIdText(entry.groupId)}, which this device does not hold or is no longer a member of`);
        return [];
      }
      const { row, version } = loaded;
      if (entry.seq <= row.lastSeq) return [];
      if (mayCatchUp && entry.seq > row.lastSeq + 1) return this.catchUp(entry.groupId);
      const outcome = await this.process(loaded, entry, mayCatchUp);
      // Ahead of this device's epoch with no sync left to try: nothing is saved, so the place stays before it.
      if (outcome.stalled) return [];
      if (outcome.ahead) {
        const followUps = await this.catchUp(entry.groupId);
        // Caught up: the entry was in the log, and handled there; if the log lacked it, once more without syncing.
        const after = await this.rt.store.loadGroup(entry.groupId);
        if (after && entry.seq > after.row.lastSeq) followUps.push(...(await this.handle(entry, false)));
        return followUps;
      }
      if (outcome.told) await recordHistory(this.rt, this.historyOf(outcome.told));
      if (!(await saveGroup(this.rt, outcome.row, outcome.state, version))) continue;
      if (outcome.told) this.tell(outcome.told);
      return [...outcome.followUps];
    }
  }

  /** The history entries of what an entry made known (a refusal has none: nothing was said). */
  private historyOf(told: Told): GroupHistoryEntry[] {
    switch (told.kind) {
      case 'message':
        return [groupTextEntry(told.event, 'in')];
      case 'sent':
        return [groupTextEntry(told.event, 'out')];
      case 'membership':
        return [groupChangeEntry(told.event, this.rt.clock())];
      case 'refused':
        return [];
    }
  }

  private tell(told: Told): void {
    switch (told.kind) {
      case 'message':
        return this.rt.events.message(told.event);
      case 'membership':
        return this.rt.events.membership(told.event);
      case 'refused':
        return this.rt.events.refused(told.event);
      case 'sent':
        return;
    }
  }

  /** One entry on the state as loaded: what the row becomes, and what to record and tell once it is saved. */
  private async process(loaded: LoadedGroup, entry: GroupLogEntry, mayCatchUp: boolean): Promise<Outcome> {
    const { row, state } = loaded;
    const skip = (): Outcome => ({ row: { ...row, lastSeq: entry.seq }, state, followUps: [] });
    const device = await this.rt.device();
    if (sameAddress(entry.from, this.rt.self)) {
      const text = entry.kind === 'application' ? row.unsent?.find((u) => sameBytes(u.message, entry.message)) : undefined;
      if (text) {
        // A text of ours whose answer was lost (or whose process died before recording it): ordered here.
        const { unsent: held, ...rest } = row;
        const unsent = held!.filter((u) => u !== text);
        const event = { groupId: groupIdText(entry.groupId), name: groupNameOf(state), from: this.rt.self, text: text.text, sentAt: text.sentAt, seq: entry.seq };
        return { row: { ...rest, lastSeq: entry.seq, ...(unsent.length > 0 && { unsent }) }, state, told: { kind: 'sent', event }, followUps: [] };
      }
      const pending = row.pending;
      if (entry.kind !== 'commit' || !pending || !sameBytes(pending.commit, entry.message)) return skip();
      // Our own commit, accepted: adopt the state saved with it before it was sent.
      const adopted = deserializeGroupState(device, pending.state);
      const { pending: _done, ...rest } = row;
      return { row: { ...rest, state: pending.state, lastSeq: entry.seq }, state: adopted, told: this.membershipChanged(entry.groupId, state, adopted), followUps: [] };
    }
    if (row.joinedEpoch !== undefined && entry.epoch < row.joinedEpoch) return skip();

    let result: Awaited<ReturnType<typeof processGroupMessage>>;
    try {
      result = await this.withNewerLists(() => processGroupMessage(device, state, entry.message));
    } catch (cause) {
      const error = cause instanceof ChatError ? cause : new DecryptionFailedError({ cause });
      const told: Told = { kind: 'refused', event: { groupId: groupIdText(entry.groupId), seq: entry.seq, from: entry.from, error } };
      // A commit the server ordered right after this device's epoch ends that epoch for everyone who took
      // it: refused here, it leaves this device on a branch the server no longer accepts commits on.
      const epoch = Number(groupEpoch(state));
      if (entry.kind === 'commit' && entry.epoch === epoch) {
        return { ...skip(), row: { ...row, lastSeq: entry.seq, refusedCommit: { epoch, seq: entry.seq, from: entry.from, reason: error.message } }, told };
      }
      return { ...skip(), told };
    }
    switch (result.kind) {
      case 'stale':
        return skip();
      case 'ahead':
        if (mayCatchUp) return { ...skip(), ahead: true };
        this.rt.events.debug(`group ${groupIdText(entry.groupId)}: entry ${entry.seq} is for epoch ${result.epoch}, and the log holds no commit that leads there (yet)`);
        return { ...skip(), stalled: true };
      case 'commit': {
        // Past any commit refused before (a hostile server may show another one for that epoch), and past a
        // commit of ours still pending in an epoch this one ends: the server took this one instead.
        const { pending: _lost, refusedCommit: _passed, ...rest } = row;
        const base = row.pending && row.pending.epoch < Number(result.epoch) ? rest : { ...rest, ...(row.pending && { pending: row.pending }) };
        const stillLeaving = leaversStillIn(row, result.state);
        const next: GroupRow = result.removed
          ? inactiveRow({ ...base, lastSeq: entry.seq })
          : { ...base, state: serializeGroupState(result.state), lastSeq: entry.seq, leaving: stillLeaving };
        return { row: next, state: result.state, told: this.membershipChanged(entry.groupId, state, result.state, result.removed), followUps: [] };
      }
      case 'application':
        return this.application(row, entry, result.state, result.sender.username, result.sender.deviceId, result.plaintext);
    }
  }

  /**
   * Runs `work`; when it is refused only because a list held here may be older than the one the committer
   * checked (a device added to its user's list since, a user this device never looked up), fetches and
   * verifies those users' lists and runs it once more. A forgery stays refused: no verified list vouches for it.
   */
  private async withNewerLists<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof GroupMemberRefusedError) || error.usersToRefresh.length === 0) throw error;
      for (const user of error.usersToRefresh) {
        try {
          await this.rt.lists.refresh(user);
        } catch (cause) {
          // No connection: the entry is handled again later. Anything else (no such user, a list that does
          // not verify): nothing newer vouches for it, and `work` refuses it again below.
          if (cause instanceof ChatError && (cause.code === 'not_connected' || cause.code === 'timeout')) throw cause;
          this.rt.events.debug(`could not take in a newer device list of "${user}"`, cause);
        }
      }
      return work();
    }
  }

  private application(row: GroupRow, entry: GroupLogEntry, state: ClientState, user: string, device: number, plaintext: Uint8Array): Outcome {
    const groupId = groupIdText(entry.groupId);
    const name = groupNameOf(state);
    const from = { user, device };
    const next: GroupRow = { ...row, state: serializeGroupState(state), lastSeq: entry.seq };
    const payload = decodeGroupPayload(plaintext);
    if (payload === undefined) {
      const error = new ChatError('bad_request', 'an application message of a kind this client does not know');
      return { row: next, state, told: { kind: 'refused', event: { groupId, seq: entry.seq, from, error } }, followUps: [] };
    }
    if (payload.type === 'text') {
      return { row: next, state, told: { kind: 'message', event: { groupId, name, from, text: payload.text, sentAt: payload.sentAt, seq: entry.seq } }, followUps: [] };
    }
    // A leave: the sender's whole user goes.
    if (user === this.rt.self.user) {
      return { row: inactiveRow(next), state, told: { kind: 'membership', event: { groupId, name, epoch: Number(groupEpoch(state)), added: [], removed: [], left: true } }, followUps: [] };
    }
    const leaving = [...new Set([...(row.leaving ?? []), user])];
    // One member commits the removal at once: the lowest leaf among those staying (the others would only
    // lose the race for the epoch and find nothing left to do).
    const staying = groupMembers(state).filter((m) => !leaving.includes(m.username));
    const first = staying.reduce<(typeof staying)[number] | undefined>((a, m) => (a === undefined || m.leafIndex < a.leafIndex ? m : a), undefined);
    const mine = first !== undefined && first.username === this.rt.self.user && first.deviceId === this.rt.self.device;
    return { row: { ...next, leaving }, state, followUps: mine ? [{ groupId: entry.groupId, removeUser: user }] : [] };
  }

  private membershipChanged(groupId: Uint8Array, before: ClientState, after: ClientState, left = false): Told {
    const { added, removed } = membershipChange(before, after);
    const event: GroupMembershipEvent = {
      groupId: groupIdText(groupId),
      name: groupNameOf(after),
      epoch: Number(groupEpoch(after)),
      added,
      removed,
      ...(left && { left: true as const }),
    };
    return { kind: 'membership', event };
  }

  /**
   * A Welcome from this device's queue: joins with the KeyPackage it names (whose private half is then
   * deleted, unless it is the last-resort one), fetching and verifying the lists of members this device
   * has not seen yet. A Welcome for a group held and active, or naming none of our packages, is ignored.
   */
  async welcome(delivery: GroupWelcomeDelivery): Promise<void> {
    const device = await this.rt.device();
    const refs = welcomeKeyPackageRefs(decodeWelcomeMessage(delivery.welcome));
    let keyPackage;
    for (const ref of refs) {
      const row = await this.rt.store.loadKeyPackage(ref);
      if (row) {
        keyPackage = { kp: keyPackageFromRow(ref, row), lastResort: row.lastResort };
        break;
      }
    }
    if (!keyPackage) return this.rt.events.debug(`a Welcome naming none of this device's KeyPackages (from ${addressText(delivery.from)})`);
    let state: ClientState;
    try {
      state = await this.withNewerLists(async () => {
        try {
          return await joinFromWelcome(device, delivery.welcome, keyPackage.kp);
        } catch (error) {
          if (!(error instanceof MissingDeviceListsError)) throw error;
          // Fetching lists may fail for a passing reason (the connection): that throws, and the Welcome comes again.
          for (const user of error.usernames) await this.rt.lists.refresh(user);
          return joinFromWelcome(device, delivery.welcome, keyPackage.kp);
        }
      });
    } catch (error) {
      // A group with a member its user's verified list does not vouch for, or a Welcome that does not open:
      // refused for good, and said so (the Welcome is settled, not redelivered at every login).
      if (!(error instanceof ChatError) || (error.code !== 'group_member_refused' && error.code !== 'decryption_failed' && error.code !== 'bad_request')) throw error;
      this.rt.events.refused({ groupId: groupIdText(delivery.groupId), seq: delivery.seq, from: delivery.from, error });
      return;
    }
    const groupId = state.groupContext.groupId;
    if (!sameBytes(groupId, delivery.groupId)) this.rt.events.debug('a Welcome delivered under another group id than its own; its own is used');
    const joinedEvent: GroupMembershipEvent = { groupId: groupIdText(groupId), name: groupNameOf(state), epoch: Number(groupEpoch(state)), added: memberAddresses(state), removed: [], joined: true };
    const joined = await this.rt.lock(groupId, async () => {
      for (;;) {
        const held = await this.rt.store.loadGroup(groupId);
        if (held && !held.row.inactive) return false;
        await recordHistory(this.rt, [groupChangeEntry(joinedEvent, this.rt.clock())]);
        const row: GroupRow = { groupId: Uint8Array.from(groupId), state: serializeGroupState(state), lastSeq: delivery.seq, joinedEpoch: Number(groupEpoch(state)) };
        if (await saveGroup(this.rt, row, state, held?.version ?? 0)) return true;
      }
    });
    if (!keyPackage.lastResort) await this.rt.store.deleteKeyPackage(keyPackage.kp.ref);
    if (!joined) return;
    this.rt.events.membership(joinedEvent);
  }
}
