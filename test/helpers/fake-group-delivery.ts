/**
 * An in-memory MLS Delivery Service with the semantics of docs/design/groups-mls.md §4–5, for client tests
 * of the group code before (and beside) the real server: per group one total order of commits and
 * application messages (a commit only for the current epoch, else `group_epoch_stale`), the routing list
 * the committers state, Welcomes through the added devices' queues, every entry stored once and fanned
 * out to the member devices' queues, a KeyPackage directory per device (one-time packages handed out once,
 * then the last-resort one), claims against the user's current device list.
 *
 * Queues are pumped by the test (`deliver`), so a device is offline until a test delivers to it, and the
 * test decides the order. It turns hostile on request: `onPush` rewrites, drops or duplicates a pushed
 * item, `onClaim` rewrites a claim's answer, `holdCommits(n)` keeps commit requests until n are waiting
 * (two members committing for one epoch "at once"), `loseRequests` and `loseAnswers` drop a commit
 * request before the server or its answer after it,
 * and `appendToLog` writes any entry into a group's log.
 */
import { base64urlEncode, type Bytes } from '../../src/crypto/bytes.js';
import type { Address } from '../../src/client/address.js';
import {
  GroupEpochStaleError,
  type ClaimedKeyPackage,
  type GroupCommitRequest,
  type GroupDelivery,
  type GroupLogEntry,
  type GroupWelcomeDelivery,
} from '../../src/client/groups/group-delivery.js';
import type { DeviceList } from '../../src/protocol/device-list-payload.js';
import { ChatError } from '../../src/protocol/errors.js';
import { GROUP_SYNC_BATCH } from '../../src/protocol/limits.js';

export type QueueItem = { readonly kind: 'message'; readonly entry: GroupLogEntry } | { readonly kind: 'welcome'; readonly welcome: GroupWelcomeDelivery };

/** Where a device's pushes go: its GroupManager. */
export interface GroupSink {
  receive(entry: GroupLogEntry): Promise<void>;
  welcome(welcome: GroupWelcomeDelivery): Promise<void>;
}

interface FakeGroup {
  epoch: number;
  readonly log: GroupLogEntry[];
  readonly members: Map<string, Address>;
}

const key = (a: Address) => `${a.user}/${a.device}`;
const gid = (id: Uint8Array) => base64urlEncode(id);

export class FakeGroupDelivery {
  readonly groups = new Map<string, FakeGroup>();
  readonly #packages = new Map<string, { oneTime: Bytes[]; lastResort?: Bytes }>();
  readonly #queues = new Map<string, QueueItem[]>();
  readonly #sinks = new Map<string, GroupSink>();
  /** Rewrites (or drops: [], duplicates: [i, i]) an item on its way into a device's queue. */
  onPush: ((to: Address, item: QueueItem) => QueueItem[]) | undefined;
  /** Rewrites a claim's answer before the claimer sees it. */
  onClaim: ((user: string, answer: { listVersion: number; packages: ClaimedKeyPackage[] }) => { listVersion: number; packages: ClaimedKeyPackage[] }) | undefined;
  readonly #held: { count: number; waiting: (() => void)[] } = { count: 0, waiting: [] };
  /** Devices whose next commit request never reaches the server (the connection drops before). */
  readonly loseRequests = new Set<string>();
  /** Devices whose next accepted commit's answer is lost (the connection drops after the server took it). */
  readonly loseAnswers = new Set<string>();
  /** Refuses an application message (the error it answers with) before anything is stored; undefined: takes it. */
  refuseSend: ((from: Address) => ChatError | undefined) | undefined;
  /** Devices whose next application message never reaches the server. */
  readonly loseSendRequests = new Set<string>();
  /** Devices whose next application message is ordered and pushed, and its answer lost. */
  readonly loseSendAnswers = new Set<string>();
  /** Every accepted and refused commit request, in order: what the tests count. */
  readonly commits: { from: string; epoch: number; accepted: boolean }[] = [];

  /** `lists`: the users' current device lists as the server holds them (its word; clients verify their own). */
  constructor(private readonly lists: (user: string) => DeviceList | undefined) {}

  /** The Delivery Service as one device's connection sees it. */
  connection(self: Address): GroupDelivery {
    return {
      createGroup: async (groupId) => this.create(self, groupId),
      commit: async (request) => {
        if (this.loseRequests.delete(key(self))) throw new ChatError('timeout', 'the commit was lost on its way to the server');
        const answer = await this.commit(self, request);
        if (this.loseAnswers.delete(key(self))) throw new ChatError('timeout', 'the commit was accepted, and its answer lost on the way');
        return answer;
      },
      send: async (groupId, epoch, message) => {
        if (this.loseSendRequests.delete(key(self))) throw new ChatError('not_connected', 'the message was lost on its way to the server');
        const refusal = this.refuseSend?.(self);
        if (refusal) throw refusal;
        const answer = this.send(self, groupId, epoch, message);
        if (this.loseSendAnswers.delete(key(self))) throw new ChatError('not_connected', 'the message was ordered, and its answer lost on the way');
        return answer;
      },
      sync: async (groupId, afterSeq) => {
        const group = this.member(self, groupId);
        return { messages: group.log.filter((e) => e.seq > afterSeq).slice(0, GROUP_SYNC_BATCH), epoch: group.epoch };
      },
      info: async (groupId) => {
        const group = this.member(self, groupId);
        return { epoch: group.epoch, members: [...group.members.values()] };
      },
      claimKeyPackages: async (user, listVersion) => this.claim(user, listVersion),
      uploadKeyPackages: async (packages, lastResort) => {
        const stock = this.#packages.get(key(self)) ?? { oneTime: [] };
        stock.oneTime.push(...packages);
        if (lastResort) stock.lastResort = lastResort;
        this.#packages.set(key(self), stock);
        return { stored: packages.length, oneTime: stock.oneTime.length };
      },
      countKeyPackages: async () => {
        const stock = this.#packages.get(key(self));
        return { oneTime: stock?.oneTime.length ?? 0, lastResort: stock?.lastResort !== undefined };
      },
    };
  }

  /** Where `address`'s queue is delivered when the test pumps it. */
  attach(address: Address, sink: GroupSink): void {
    this.#sinks.set(key(address), sink);
  }

  queued(address: Address): number {
    return this.#queues.get(key(address))?.length ?? 0;
  }

  /** Delivers `address`'s queue in order (items queued meanwhile too); returns how many went. */
  async deliver(address: Address): Promise<number> {
    const sink = this.#sinks.get(key(address));
    if (!sink) throw new Error(`no sink for ${key(address)}`);
    const queue = this.#queues.get(key(address)) ?? [];
    let count = 0;
    while (queue.length > 0) {
      const item = queue.shift()!;
      count++;
      if (item.kind === 'message') await sink.receive(item.entry);
      else await sink.welcome(item.welcome);
    }
    return count;
  }

  /** Puts an item straight into a device's queue (a hostile server's replay or forgery). */
  inject(to: Address, item: QueueItem): void {
    const queue = this.#queues.get(key(to)) ?? [];
    queue.push(item);
    this.#queues.set(key(to), queue);
  }

  /** The next `count` commit requests wait until all of them arrived, then go in arrival order. */
  holdCommits(count: number): void {
    this.#held.count = count;
  }

  private push(to: Address, item: QueueItem): void {
    for (const out of this.onPush ? this.onPush(to, item) : [item]) this.inject(to, out);
  }

  private group(groupId: Uint8Array): FakeGroup {
    const group = this.groups.get(gid(groupId));
    if (!group) throw new ChatError('unknown_group', 'no such group');
    return group;
  }

  private member(self: Address, groupId: Uint8Array): FakeGroup {
    const group = this.group(groupId);
    if (!group.members.has(key(self))) throw new ChatError('not_group_member', `${key(self)} is not a member`);
    return group;
  }

  private create(self: Address, groupId: Uint8Array): { epoch: number } {
    if (this.groups.has(gid(groupId))) throw new ChatError('group_exists', 'group id in use');
    this.groups.set(gid(groupId), { epoch: 0, log: [], members: new Map([[key(self), self]]) });
    return { epoch: 0 };
  }

  private async commit(self: Address, request: GroupCommitRequest): Promise<{ epoch: number; seq: number }> {
    if (this.#held.count > 0) {
      this.#held.count--;
      const last = this.#held.count === 0;
      const arrived = new Promise<void>((resolve) => this.#held.waiting.push(resolve));
      if (last) for (const go of this.#held.waiting.splice(0)) go();
      await arrived;
    }
    const group = this.member(self, request.groupId);
    if (request.epoch !== group.epoch) {
      this.commits.push({ from: key(self), epoch: request.epoch, accepted: false });
      throw new GroupEpochStaleError(`epoch ${request.epoch} is not current`, group.epoch);
    }
    this.commits.push({ from: key(self), epoch: request.epoch, accepted: true });
    const entry: GroupLogEntry = { groupId: Uint8Array.from(request.groupId), seq: group.log.length + 1, epoch: request.epoch, kind: 'commit', message: request.commit, from: self };
    group.log.push(entry);
    // Every member before the commit gets it (a removed one learns of its removal); the added get the Welcome.
    for (const member of group.members.values()) if (key(member) !== key(self)) this.push(member, { kind: 'message', entry });
    for (const r of request.remove) group.members.delete(key(r));
    for (const a of request.add) {
      group.members.set(key(a), a);
      this.push(a, { kind: 'welcome', welcome: { groupId: entry.groupId, seq: entry.seq, welcome: request.welcome!, from: self } });
    }
    group.epoch++;
    return { epoch: group.epoch, seq: entry.seq };
  }

  private send(self: Address, groupId: Uint8Array, epoch: number, message: Bytes): { seq: number } {
    const group = this.member(self, groupId);
    if (epoch > group.epoch) throw new GroupEpochStaleError('ahead of the group', group.epoch);
    const entry: GroupLogEntry = { groupId: Uint8Array.from(groupId), seq: group.log.length + 1, epoch, kind: 'application', message, from: self };
    group.log.push(entry);
    for (const member of group.members.values()) if (key(member) !== key(self)) this.push(member, { kind: 'message', entry });
    return { seq: entry.seq };
  }

  /** Writes an entry into a group's log as the next one (a hostile server's replay under a new number). */
  appendToLog(groupId: Uint8Array, entry: Omit<GroupLogEntry, 'seq'>): GroupLogEntry {
    const group = this.group(groupId);
    const full = { ...entry, seq: group.log.length + 1 };
    group.log.push(full);
    return full;
  }

  private claim(user: string, listVersion: number): { listVersion: number; packages: ClaimedKeyPackage[] } {
    const list = this.lists(user);
    if (!list) throw new ChatError('unknown_user', `no list for ${user}`);
    if (list.version !== listVersion) throw new ChatError('devices_changed', `the list of ${user} is at version ${list.version}`);
    const packages: ClaimedKeyPackage[] = [];
    for (const d of list.devices) {
      const stock = this.#packages.get(key({ user, device: d.deviceId }));
      const oneTime = stock?.oneTime.shift();
      if (oneTime) packages.push({ device: d.deviceId, keyPackage: oneTime, lastResort: false });
      else if (stock?.lastResort) packages.push({ device: d.deviceId, keyPackage: stock.lastResort, lastResort: true });
    }
    if (packages.length === 0) throw new ChatError('no_key_packages', `no device of ${user} has a KeyPackage`);
    const answer = { listVersion, packages };
    return this.onClaim ? this.onClaim(user, answer) : answer;
  }
}
