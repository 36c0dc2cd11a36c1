/**
 * A device's groups (docs/design/groups-mls.md §4, §7): creating one, adding and removing users, updating
 * this device's keys, leaving, sending; incoming traffic goes through GroupInbound, and every change
 * through GroupCommitLoop (one MLS commit, pending before it is sent, rebased and made again when another
 * commit took the epoch). Each change here is written so that made again it leaves out what another member
 * already did (an add of a device now present, a removal done), and ends when nothing is left.
 *
 * Adds claim KeyPackages for every device of each user's list as this client verified it, and take only
 * packages whose credential names the device they were claimed for; MLS then checks each against the
 * lists again (device-identity-check.ts). A device that left its user's list is removed by the first
 * member to notice; a device that joined its user's list is added by that user's other devices (§7).
 */
import { base64urlDecode, randomBytes, type Bytes } from '../../crypto/bytes.js';
import type { Ed25519SigningKey } from '../../crypto/signing-key.js';
import { commitAdd, commitRemove, commitSelfUpdate, createDeviceGroup, GROUP_ID_BYTES } from '../../e2ee/mls/group-commits.js';
import { groupEpoch, groupMembers } from '../../e2ee/mls/group-members.js';
import { groupNameOf } from '../../e2ee/mls/group-name.js';
import { encryptGroupMessage } from '../../e2ee/mls/group-messages.js';
import { deserializeGroupState, serializeGroupState } from '../../e2ee/mls/group-state-codec.js';
import { createDeviceKeyPackage, type DeviceKeyPackage } from '../../e2ee/mls/key-package.js';
import { decodeMemberCredential } from '../../e2ee/mls/member-credential.js';
import { openMlsDevice, type MlsDevice } from '../../e2ee/mls/mls-device.js';
import { decodeKeyPackageMessage } from '../../e2ee/mls/mls-wire.js';
import type { DeviceList } from '../../protocol/device-list-payload.js';
import { ChatError } from '../../protocol/errors.js';
import { addressText, type Address } from '../address.js';
import { type ClaimedKeyPackage, type GroupDelivery, type GroupLogEntry, type GroupWelcomeDelivery } from './group-delivery.js';
import { GroupCommitLoop, type MakeChange } from './group-commit-loop.js';
import { groupChangeEntry, groupTextEntry, type GroupHistoryStore } from './group-history.js';
import { GroupInbound, type FollowUp } from './group-inbound.js';
import { KeyPackagePublisher } from './group-key-packages.js';
import { findGroupId, groupIdText, listGroups, type ListedGroup } from './group-list.js';
import { encodeGroupPayload } from './group-payload.js';
import {
  inactiveRow,
  KeyedLock,
  leaversStillIn,
  loadActiveGroup,
  memberAddresses,
  recordHistory,
  requireGroup,
  sameBytes,
  saveGroup,
  type GroupDeviceLists,
  type GroupEvents,
  type GroupMembershipEvent,
  type GroupRuntime,
} from './group-runtime.js';
import type { GroupStore } from './group-store.js';

/** Failures of a send that say nothing about the message: it is kept, to go again later. */
const PASSING_SEND_FAILURES: ReadonlySet<string> = new Set(['not_connected', 'timeout', 'rate_limited', 'internal']);

export interface GroupInfo {
  readonly groupId: string;
  readonly name: string | undefined;
  readonly epoch: number;
  readonly members: readonly Address[];
  readonly active: boolean;
  /** Set when the commit that ended this device's epoch was refused here: the group can no longer change from this device. */
  readonly forked?: { readonly seq: number; readonly from: Address; readonly reason: string };
}

export interface GroupManagerOptions {
  readonly self: Address;
  readonly signingKey: Ed25519SigningKey;
  readonly store: GroupStore;
  /** What was said and changed in the groups, recorded before each row save that makes it known (group-history.ts). */
  readonly history: GroupHistoryStore;
  readonly delivery: GroupDelivery;
  readonly lists: GroupDeviceLists;
  readonly events: GroupEvents;
  readonly clock?: () => number;
  /**
   * The publisher of this device's KeyPackages, when it is kept outside: lazy-group-manager.ts keeps the
   * stock before this code is loaded, and one publisher means one run at a time. By default, one of its own.
   */
  readonly keyPackages?: KeyPackagePublisher;
}

export class GroupManager {
  readonly #rt: GroupRuntime;
  readonly #inbound: GroupInbound;
  readonly #commits: GroupCommitLoop;
  readonly keyPackages: KeyPackagePublisher;
  #device: Promise<MlsDevice> | undefined;

  constructor(private readonly options: GroupManagerOptions) {
    const lock = new KeyedLock();
    this.#rt = {
      self: options.self,
      device: () => this.device(),
      store: options.store,
      history: options.history,
      delivery: options.delivery,
      lists: options.lists,
      events: options.events,
      clock: options.clock ?? Date.now,
      lock: (groupId, work) => lock.run(groupIdText(groupId), work),
    };
    this.#inbound = new GroupInbound(this.#rt);
    this.#commits = new GroupCommitLoop(this.#rt, this.#inbound);
    this.keyPackages = options.keyPackages ?? new KeyPackagePublisher(() => this.newKeyPackage(), options.store, options.delivery, this.#rt.clock);
  }

  /** A new KeyPackage of this device, for the publisher to save and upload. */
  async newKeyPackage(): Promise<DeviceKeyPackage> {
    return createDeviceKeyPackage(await this.device());
  }

  /** This device as an MLS client, opened once its own verified list names it (a failed opening is tried again next time). */
  private device(): Promise<MlsDevice> {
    const { self, signingKey, lists } = this.options;
    const opening = (this.#device ??= openMlsDevice({ username: self.user, deviceId: self.device }, signingKey, async (u) => (await lists.held(u)) ?? undefined));
    opening.catch(() => this.#device === opening && (this.#device = undefined));
    return opening;
  }

  /** A new group of this device, its user's other devices and every device of `users`; returns its id. */
  async createGroup(name: string | undefined, users: readonly string[]): Promise<string> {
    const device = await this.device();
    const groupId = randomBytes(GROUP_ID_BYTES);
    const state = await createDeviceGroup(device, groupId, name);
    await this.options.delivery.createGroup(groupId);
    if (!(await saveGroup(this.#rt, { groupId, state: serializeGroupState(state), lastSeq: 0 }, state, 0))) throw new ChatError('internal', 'a new group id is already in the store');
    const id = groupIdText(groupId);
    await this.addUsers(id, [this.options.self.user, ...users.filter((u) => u !== this.options.self.user)]);
    return id;
  }

  /** Adds every device of each user that is not in the group yet (this user's own devices too). False: nothing to add. */
  addUsers(groupId: string, users: readonly string[]): Promise<boolean> {
    const claims = new Map<string, readonly ClaimedKeyPackage[]>();
    return this.change(groupId, async (device, state) => {
      const present = new Set(memberAddresses(state).map(addressText));
      const packages: Bytes[] = [];
      const add: Address[] = [];
      for (const user of new Set(users)) {
        const list = await this.options.lists.refresh(user);
        if (!list) throw new ChatError('group_member_refused', `"${user}" has no device list this client verified: none of its devices can be added`);
        const missing = list.devices.filter((d) => !present.has(addressText({ user, device: d.deviceId })));
        if (missing.length === 0) continue;
        // Claimed once per call: a retry after a lost epoch reuses them (a Welcome of a refused commit never went out).
        let claimed = claims.get(user);
        if (!claimed) claims.set(user, (claimed = await this.claim(user, list)));
        for (const entry of missing) {
          const found = claimed.find((p) => p.device === entry.deviceId);
          if (!found) {
            this.options.events.debug(`no KeyPackage for ${user}/${entry.deviceId}: it is left out (its own user's devices add it at their next login; others, by adding the user again)`);
            continue;
          }
          const member = decodeMemberCredential(decodeKeyPackageMessage(found.keyPackage).leafNode.credential);
          if (member?.username !== user || member.deviceId !== entry.deviceId) {
            throw new ChatError('group_member_refused', `the server handed out, as ${user}/${entry.deviceId}'s KeyPackage, one of another credential`);
          }
          packages.push(found.keyPackage);
          add.push({ user, device: entry.deviceId });
        }
      }
      if (packages.length === 0) return undefined;
      return { commit: await commitAdd(device, state, packages), add, remove: [] };
    });
  }

  /** One KeyPackage per device of `user`'s current list, for the list version this client verified. */
  private async claim(user: string, list: DeviceList): Promise<readonly ClaimedKeyPackage[]> {
    const first = await this.claimFor(user, list.version);
    if (first !== 'devices_changed') return first;
    // The server holds another list: take it in (verified like any), and claim once more against it.
    const newer = await this.options.lists.refresh(user);
    if (!newer || newer.version === list.version) throw new ChatError('bad_response', `the server refused a KeyPackage claim for "${user}" at the list version it serves`);
    const again = await this.claimFor(user, newer.version);
    if (again === 'devices_changed') throw new ChatError('devices_changed', `the device list of "${user}" keeps changing`);
    return again;
  }

  private async claimFor(user: string, version: number): Promise<readonly ClaimedKeyPackage[] | 'devices_changed'> {
    try {
      const answer = await this.options.delivery.claimKeyPackages(user, version);
      return answer.listVersion === version ? answer.packages : 'devices_changed';
    } catch (error) {
      // None of the user's devices has published a KeyPackage yet: nothing of theirs can be added now.
      if (error instanceof ChatError && error.code === 'no_key_packages') return [];
      if (error instanceof ChatError && error.code === 'devices_changed') return 'devices_changed';
      throw error;
    }
  }

  /** Removes every device of each user (never this device: it leaves instead). False: none of them was in the group. */
  removeUsers(groupId: string, users: readonly string[]): Promise<boolean> {
    if (users.includes(this.options.self.user)) return Promise.reject(new ChatError('bad_request', 'a user leaves a group (leaveGroup) rather than removing itself'));
    return this.removeDevices(groupId, (m) => users.includes(m.user));
  }

  private removeDevices(groupId: string, which: (member: Address) => boolean): Promise<boolean> {
    return this.change(groupId, async (device, state) => {
      const targets = groupMembers(state).filter((m) => which({ user: m.username, device: m.deviceId }) && !(m.username === this.options.self.user && m.deviceId === this.options.self.device));
      if (targets.length === 0) return undefined;
      const remove = targets.map((m) => ({ user: m.username, device: m.deviceId }));
      return { commit: await commitRemove(device, state, targets), add: [], remove };
    });
  }

  /** A commit with a fresh UpdatePath from this device: what any earlier copy of its state knew opens nothing from now on. */
  async updateKeys(groupId: string): Promise<void> {
    await this.change(groupId, async (device, state) => ({ commit: await commitSelfUpdate(device, state), add: [], remove: [] }));
  }

  /**
   * This user leaves: a leave request goes to the group (group-payload.ts), the first member staying to
   * read it commits the removal of all this user's devices, and this device stops at once.
   */
  async leaveGroup(groupId: string): Promise<void> {
    await this.sendPayload(groupId, encodeGroupPayload({ type: 'leave' }));
    const id = base64urlDecode(groupId);
    const left = await this.#rt.lock(id, async () => {
      for (;;) {
        const loaded = await requireGroup(this.#rt, id);
        const event: GroupMembershipEvent = { groupId, name: groupNameOf(loaded.state), epoch: Number(groupEpoch(loaded.state)), added: [], removed: [], left: true };
        await recordHistory(this.#rt, [groupChangeEntry(event, this.#rt.clock())]);
        if (await saveGroup(this.#rt, inactiveRow(loaded.row), loaded.state, loaded.version)) return event;
      }
    });
    this.options.events.membership(left);
  }

  /**
   * Sends a text to the group; resolves with its place in the group's order, once the text is recorded in
   * the history as this device's own (the MLS state cannot read it back). Texts of this device still
   * unsent (GroupRow.unsent) go first, so the group reads them in the order they were written.
   */
  async sendMessage(groupId: string, text: string): Promise<{ seq: number }> {
    const id = base64urlDecode(groupId);
    // One read says whether anything is owed before the text: leaves to commit, texts still unsent.
    const row = (await this.#rt.store.loadGroup(id))?.row;
    if (row?.leaving?.length) await this.removeLeavers(groupId);
    if (row?.unsent?.length) this.runFollowUps(await this.#rt.lock(id, () => this.catchUpAndResend(id)));
    const sentAt = this.#rt.clock();
    return this.sendPayload(groupId, encodeGroupPayload({ type: 'text', text, sentAt }), { text, sentAt });
  }

  /**
   * Commits the removal of every user who asked to leave and is still a member, before this device says
   * anything more: a leaver's devices keep the group's keys until a commit removes them, and the member
   * the leave names to commit it (group-inbound.ts) may be away. Fails, and so stops the send, when the
   * removal cannot be committed: sending anyway would let the leaver read it.
   */
  private async removeLeavers(groupId: string): Promise<void> {
    const loaded = await loadActiveGroup(this.#rt, base64urlDecode(groupId));
    if (!loaded) return; // the send reports it
    for (const user of leaversStillIn(loaded.row, loaded.state)) await this.removeDevices(groupId, (m) => m.user === user);
  }

  /** Sends `payload`; a `text` is kept with the state that encrypted it until it is seen ordered. */
  private async sendPayload(groupId: string, payload: Bytes, text?: { text: string; sentAt: number }): Promise<{ seq: number }> {
    const id = base64urlDecode(groupId);
    // Encrypted and saved under the lock: the secret tree's generation moves on before anything leaves.
    const { message, epoch, name } = await this.#rt.lock(id, async () => {
      for (;;) {
        const loaded = await requireGroup(this.#rt, id);
        const sent = await encryptGroupMessage(await this.device(), loaded.state, payload);
        const epoch = Number(groupEpoch(loaded.state));
        const unsent = text ? [...(loaded.row.unsent ?? []), { message: sent.message, epoch, ...text }] : loaded.row.unsent;
        if (await saveGroup(this.#rt, { ...loaded.row, state: serializeGroupState(sent.state), ...(unsent && { unsent }) }, sent.state, loaded.version)) {
          return { message: sent.message, epoch, name: groupNameOf(sent.state) };
        }
      }
    });
    let answer: { seq: number };
    try {
      answer = await this.options.delivery.send(id, epoch, message);
    } catch (error) {
      // The text is kept (GroupRow.unsent): say so, or a person would type it again and it would go twice.
      if (text && error instanceof ChatError && PASSING_SEND_FAILURES.has(error.code)) {
        throw new ChatError(error.code, `${error.message}; the text is kept, and goes at the next login or before the next text to this group`, { cause: error });
      }
      // Refused: nothing was stored, and the caller is told so; the text must not go later behind its back.
      if (text && error instanceof ChatError) await this.#rt.lock(id, () => this.forgetUnsent(id, message));
      throw error;
    }
    await this.#rt.lock(id, () => this.ordered(id, message, answer.seq, name));
    return answer;
  }

  /**
   * The server ordered a message of ours at `seq`: if it is an unsent text, it is recorded as sent before
   * the row leaves it out; and the message counts as handled when it is next in order (otherwise a later
   * sync skips it as ours). Call under the group's lock. `name` is listed as of the send; any later save
   * lists the name of its own state.
   */
  private async ordered(id: Uint8Array, message: Bytes, seq: number, name: string | undefined): Promise<void> {
    for (;;) {
      const loaded = await this.#rt.store.loadGroup(id);
      if (!loaded || loaded.row.inactive) return;
      const { unsent: held, ...row } = loaded.row;
      const text = held?.find((u) => sameBytes(u.message, message));
      if (text) await recordHistory(this.#rt, [groupTextEntry({ groupId: groupIdText(id), name, from: this.options.self, text: text.text, sentAt: text.sentAt, seq }, 'out')]);
      const unsent = (held ?? []).filter((u) => u !== text);
      const lastSeq = seq === row.lastSeq + 1 ? seq : row.lastSeq;
      if (!text && lastSeq === row.lastSeq) return;
      if (await this.options.store.saveGroup({ ...row, lastSeq, ...(unsent.length > 0 && { unsent }) }, name, loaded.version)) return;
    }
  }

  /** Drops a text from the unsent ones (a refusal): call under the group's lock. */
  private async forgetUnsent(id: Uint8Array, message: Bytes): Promise<void> {
    for (;;) {
      const loaded = await loadActiveGroup(this.#rt, id);
      if (!loaded) return;
      const { unsent: held, ...row } = loaded.row;
      const rest = (held ?? []).filter((u) => !sameBytes(u.message, message));
      if (rest.length === (held ?? []).length) return;
      if (await this.options.store.saveGroup({ ...row, ...(rest.length > 0 && { unsent: rest }) }, groupNameOf(loaded.state), loaded.version)) return;
    }
  }

  /**
   * Reads the group's log (a text of ours whose answer was lost is found there and recorded as it passes,
   * group-inbound.ts), then sends each text still unsent again, as is, oldest first. Call under the
   * group's lock. A passing failure (no connection) stops it, for the next login or send to go on; a
   * refusal drops that text, said as a debug event, so that one bad text never blocks the group.
   */
  private async catchUpAndResend(id: Uint8Array): Promise<FollowUp[]> {
    const followUps = await this.#inbound.catchUp(id);
    for (;;) {
      const loaded = await loadActiveGroup(this.#rt, id);
      const next = loaded?.row.unsent?.[0];
      if (!loaded || !next) return followUps;
      let seq: number;
      try {
        seq = (await this.options.delivery.send(id, next.epoch, next.message)).seq;
      } catch (error) {
        if (!(error instanceof ChatError) || PASSING_SEND_FAILURES.has(error.code)) throw error;
        this.options.events.debug(`group ${groupIdText(id)}: a text written at ${new Date(next.sentAt).toISOString()} was refused by the server and is dropped`, error);
        await this.forgetUnsent(id, next.message);
        continue;
      }
      await this.ordered(id, next.message, seq, groupNameOf(loaded.state));
    }
  }

  /** One change through the commit loop (group-commit-loop.ts); leaves read meanwhile are committed after. */
  private async change(groupId: string, make: MakeChange): Promise<boolean> {
    const followUps: FollowUp[] = [];
    try {
      return await this.#commits.change(base64urlDecode(groupId), make, followUps);
    } finally {
      this.runFollowUps(followUps);
    }
  }

  /** Leaves asked for by members this device is to remove: committed after the lock is released, failures reported. */
  private runFollowUps(followUps: readonly FollowUp[]): void {
    for (const f of followUps) {
      this.background(
        this.removeDevices(groupIdText(f.groupId), (m) => m.user === f.removeUser),
        `could not commit the removal of "${f.removeUser}", who left group ${groupIdText(f.groupId)}`,
      );
    }
  }

  readonly #background = new Set<Promise<unknown>>();

  /** Work started by what was received, not awaited by it; failures are reported. */
  private background(work: Promise<unknown>, failure: string): void {
    const tracked = work.catch((cause: unknown) => this.options.events.debug(failure, cause));
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }

  /** Resolves once the work started in the background (leave removals, KeyPackage upkeep after a join) is done. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.all([...this.#background]);
  }

  /** A `group.message` push (or a test's delivery). */
  async receive(entry: GroupLogEntry): Promise<void> {
    this.runFollowUps(await this.#inbound.receive(entry));
  }

  /** A `group.welcome` push: join the group it names. */
  async welcome(delivery: GroupWelcomeDelivery): Promise<void> {
    await this.#inbound.welcome(delivery);
    this.background(this.keyPackages.maintain(), 'KeyPackage upkeep after a join failed');
  }

  /**
   * After a login: every group is synced from its log (a commit or a text of ours whose answer was lost
   * is found there), its texts never sent go out, and this user's devices still missing from it are added.
   */
  async catchUpAll(): Promise<void> {
    const self = this.options.self.user;
    const ownList = await this.options.lists.held(self);
    for (const g of await this.options.store.listGroups()) {
      if (g.inactive) continue;
      const groupId = groupIdText(g.groupId);
      try {
        const followUps = await this.#rt.lock(g.groupId, () => this.catchUpAndResend(g.groupId));
        this.runFollowUps(followUps);
        // A device of this user linked before it had published KeyPackages was left out when its list
        // came (design §7): each login tries again for the ones still missing.
        const members = (await this.groupInfo(groupId)).members;
        const missing = ownList?.devices.some((d) => !members.some((m) => m.user === self && m.device === d.deviceId)) ?? false;
        if (missing) await this.addUsers(groupId, [self]);
      } catch (cause) {
        this.options.events.debug(`could not sync group ${groupId}`, cause);
      }
    }
  }

  /**
   * A verified list of `user` replaced the one held (§7): in every group with devices of `user`, those the
   * new list no longer names (or names with another key) are removed; when `user` is this user, the
   * devices it newly names are added. Failures are reported, never thrown: the list is taken in anyway.
   */
  async deviceListChanged(user: string, list: DeviceList | null): Promise<void> {
    for (const g of await this.options.store.listGroups()) {
      if (g.inactive) continue;
      const groupId = groupIdText(g.groupId);
      try {
        const listed = (m: Address) => list?.devices.some((d) => d.deviceId === m.device) ?? false;
        await this.removeDevices(groupId, (m) => m.user === user && !listed(m));
        if (user === this.options.self.user && list) {
          const info = await this.groupInfo(groupId);
          if (info.members.some((m) => m.user === user)) await this.addUsers(groupId, [user]);
        }
      } catch (cause) {
        this.options.events.debug(`could not bring group ${groupId} in line with the new device list of "${user}"`, cause);
      }
    }
  }

  groups(): Promise<ListedGroup[]> {
    return listGroups(this.options.store);
  }

  /** The local name ↔ id map: the active group with this id, or the one active group of this name. */
  findGroup(nameOrId: string): Promise<string> {
    return findGroupId(this.options.store, nameOrId);
  }

  /** The group as this device's MLS state says; for a group this device left or was removed from, only its name (members none). */
  async groupInfo(groupId: string): Promise<GroupInfo> {
    const id = base64urlDecode(groupId);
    const found = await this.options.store.loadGroup(id);
    if (!found) throw new ChatError('unknown_group', `no group ${groupId} on this device`);
    if (found.row.inactive) {
      const summary = (await this.options.store.listGroups()).find((g) => sameBytes(g.groupId, id));
      return { groupId, name: summary?.name, epoch: -1, members: [], active: false };
    }
    const state = deserializeGroupState(await this.device(), found.row.state);
    const epoch = Number(groupEpoch(state));
    const refused = found.row.refusedCommit;
    const forked = refused && refused.epoch === epoch ? { forked: { seq: refused.seq, from: refused.from, reason: refused.reason } } : {};
    return { groupId, name: groupNameOf(state), epoch, members: memberAddresses(state), active: true, ...forked };
  }

  /**
   * The server's routing list beside the MLS roster (§4.5): a difference costs delivery, never
   * confidentiality, and is reported, not repaired.
   */
  async routingDiffers(groupId: string): Promise<{ missing: Address[]; extra: Address[] }> {
    const info = await this.groupInfo(groupId);
    const routed = await this.options.delivery.info(base64urlDecode(groupId));
    const routedText = new Set(routed.members.map(addressText));
    const rosterText = new Set(info.members.map(addressText));
    return { missing: info.members.filter((m) => !routedText.has(addressText(m))), extra: routed.members.filter((m) => !rosterText.has(addressText(m))) };
  }
}
