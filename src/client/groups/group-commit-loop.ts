/**
 * How one change to a group becomes one accepted commit (docs/design/groups-mls.md §4.2): made on the
 * state this device holds, saved with its epoch as the row's pending commit before it is sent, and adopted
 * once the Delivery Service accepted it (the membership change recorded in the group history first). When another commit took the epoch (`group_epoch_stale`), the
 * log is synced first (a commit of ours that another process of this device sent is found there and
 * adopted), the pending commit is dropped if it is still pending, and the change is made again on the new
 * epoch; a change left with nothing to do ends there ("rebase and retry").
 *
 * A pending commit found on the row at the start (a crash, a lost answer, another process's send still on
 * its way) is never dropped unseen: after a sync, if it is still pending, it is sent again. The server
 * takes it at most once (one commit per epoch), so whichever process's send wins, every process of the
 * device ends adopting the same commit.
 */
import type { ClientState } from 'ts-mls';
import type { PendingCommit } from '../../e2ee/mls/group-commits.js';
import { groupEpoch } from '../../e2ee/mls/group-members.js';
import { groupNameOf } from '../../e2ee/mls/group-name.js';
import { deserializeGroupState, serializeGroupState } from '../../e2ee/mls/group-state-codec.js';
import type { MlsDevice } from '../../e2ee/mls/mls-device.js';
import { ChatError } from '../../protocol/errors.js';
import { addressText, type Address } from '../address.js';
import { isEpochStale } from './group-delivery.js';
import type { FollowUp, GroupInbound } from './group-inbound.js';
import { groupChangeEntry } from './group-history.js';
import { groupIdText } from './group-list.js';
import { leaversStillIn, membershipChange, recordHistory, requireGroup, sameBytes, saveGroup, type GroupMembershipEvent, type GroupRuntime, type LoadedGroup } from './group-runtime.js';
import type { PendingCommitRow, RefusedCommitRow } from './group-store.js';

/**
 * How many times one change is made again after losing its epoch: each loss means another member's
 * commit landed, so this many in a row is a group under a storm of changes (or a lying server).
 */
export const MAX_COMMIT_ATTEMPTS = 8;

/** What one attempt of a change makes: the commit and the routing the server is told. */
export interface GroupChange {
  readonly commit: PendingCommit;
  readonly add: readonly Address[];
  readonly remove: readonly Address[];
}
/** Makes the change on the state given; undefined: nothing left to do (another member did it). */
export type MakeChange = (device: MlsDevice, state: ClientState) => Promise<GroupChange | undefined>;

type Outcome = 'done' | 'nothing' | 'retry';

/** No change made here can land: the group's order went on with a commit this device refused. */
function groupForked(state: ClientState, refused: RefusedCommitRow): ChatError {
  const name = groupNameOf(state);
  return new ChatError(
    'group_forked',
    `${name === undefined ? 'this group' : `group "${name}"`} cannot change from this device: the change that ended epoch ${refused.epoch} (seq ${refused.seq}, from ${addressText(refused.from)}) was refused here (${refused.reason}), and the server went on with it. ` +
      'Messages still reach the members that refused it too; to add, remove or re-key, create a new group with the members you trust.',
  );
}

export class GroupCommitLoop {
  constructor(
    private readonly rt: GroupRuntime,
    private readonly inbound: GroupInbound,
  ) {}

  /**
   * Makes, sends and adopts one change; true when a commit of it landed, false when nothing was left to
   * do. Runs under the group's lock from making to adopting, so this process's receives of the group
   * wait for it (another process is kept apart by the compare-and-swap saves). Leaves read while syncing
   * are added to `followUps`, for the caller to run once the lock is released.
   */
  async change(id: Uint8Array, make: MakeChange, followUps: FollowUp[]): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      const outcome = await this.rt.lock(id, () => this.attempt(id, make, followUps));
      if (outcome !== 'retry') return outcome === 'done';
    }
    throw new ChatError('group_epoch_stale', `the change lost its epoch ${MAX_COMMIT_ATTEMPTS} times in a row; nothing was changed`);
  }

  private async attempt(id: Uint8Array, make: MakeChange, followUps: FollowUp[]): Promise<Outcome> {
    let loaded = await requireGroup(this.rt, id);
    if (loaded.row.pending) {
      // A commit of ours from before: the log says whether it was taken; if not, it goes again.
      followUps.push(...(await this.inbound.catchUp(id)));
      loaded = await requireGroup(this.rt, id);
      if (loaded.row.pending && (await this.submit(id, loaded, loaded.row.pending, followUps)) === 'done') return 'retry';
      loaded = await requireGroup(this.rt, id);
      if (loaded.row.pending) return 'retry';
    }
    const made = await make(await this.rt.device(), loaded.state);
    if (!made) return 'nothing';
    const pending: PendingCommitRow = {
      epoch: Number(made.commit.epoch),
      commit: made.commit.commit,
      ...(made.commit.welcome && { welcome: made.commit.welcome }),
      add: made.add,
      remove: made.remove,
      state: serializeGroupState(made.commit.pendingState),
    };
    if (!(await saveGroup(this.rt, { ...loaded.row, pending }, loaded.state, loaded.version))) return 'retry';
    return this.submit(id, loaded, pending, followUps);
  }

  /** Sends a saved pending commit; adopts it when taken, or syncs and drops it when another took the epoch. */
  private async submit(id: Uint8Array, before: LoadedGroup, pending: PendingCommitRow, followUps: FollowUp[]): Promise<'done' | 'retry'> {
    let answer: { epoch: number; seq: number };
    try {
      answer = await this.rt.delivery.commit({ groupId: id, epoch: pending.epoch, commit: pending.commit, ...(pending.welcome && { welcome: pending.welcome }), add: pending.add, remove: pending.remove });
    } catch (error) {
      if (!isEpochStale(error)) throw error; // it stays pending: the next sync or change says whether it was taken
      // Synced before dropping: another process of this device may have sent this very commit and won.
      followUps.push(...(await this.inbound.catchUp(id)));
      await this.dropPending(id, pending);
      const now = await requireGroup(this.rt, id);
      // Retrying would lose again and again: the commit that took this epoch was refused here.
      if (now.row.refusedCommit && now.row.refusedCommit.epoch === Number(groupEpoch(now.state))) throw groupForked(now.state, now.row.refusedCommit);
      return 'retry';
    }
    const after = deserializeGroupState(await this.rt.device(), pending.state);
    const { added, removed } = membershipChange(before.state, after);
    const change: GroupMembershipEvent = { groupId: groupIdText(id), name: groupNameOf(after), epoch: Number(groupEpoch(after)), added, removed };
    const adopted = await this.adopt(id, pending, answer.seq, change);
    if (adopted) {
      this.rt.events.membership(change);
      if (answer.seq !== adopted.lastSeq) followUps.push(...(await this.inbound.catchUp(id)));
    }
    return 'done';
  }

  /**
   * Adopts an accepted pending commit, unless another process already did (it found it in the log, and
   * recorded the change); the change is recorded in the history before the row is saved.
   */
  private async adopt(id: Uint8Array, pending: PendingCommitRow, seq: number, change: GroupMembershipEvent): Promise<{ lastSeq: number } | undefined> {
    for (;;) {
      const loaded = await this.rt.store.loadGroup(id);
      if (!loaded?.row.pending || !sameBytes(loaded.row.pending.commit, pending.commit)) return undefined;
      const { pending: _adopted, ...row } = loaded.row;
      const lastSeq = seq === row.lastSeq + 1 ? seq : row.lastSeq;
      const state = deserializeGroupState(await this.rt.device(), pending.state);
      await recordHistory(this.rt, [groupChangeEntry(change, this.rt.clock())]);
      // A removal of ours may be the one a leave asked for: it is no longer owed.
      if (await saveGroup(this.rt, { ...row, state: pending.state, lastSeq, leaving: leaversStillIn(row, state) }, state, loaded.version)) return { lastSeq };
    }
  }

  private async dropPending(id: Uint8Array, pending: PendingCommitRow): Promise<void> {
    for (;;) {
      const loaded = await requireGroup(this.rt, id);
      if (!loaded.row.pending || !sameBytes(loaded.row.pending.commit, pending.commit)) return;
      const { pending: _dropped, ...row } = loaded.row;
      if (await saveGroup(this.rt, row, loaded.state, loaded.version)) return;
    }
  }
}
