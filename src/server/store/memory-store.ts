/**
 * The in-memory reference store: same semantics as SQLite, nothing survives a restart. For tests and as
 * the baseline the durable store is measured against. Each method runs to completion before it yields,
 * which is what a transaction is here.
 */
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { checkPublication, dropPrimaryPreKeysOfOldIdentity, removeDevices } from './device-publish.js';
import type { CreateGroupResult, GroupCommitInput, GroupSendInput, GroupWriteLimits, GroupWriteResult, GroupWritePlan, GroupRefusal, MemberAddress } from './group-records.js';
import { groupWriteOutcome, planCommit, planSend } from './group-plan.js';
import { MemoryGroups } from './memory-groups.js';
import { MemoryKeyPackages } from './memory-key-packages.js';
import { MemoryPreKeyDirectory } from './memory-prekeys.js';
import { MemoryQueue } from './memory-queue.js';
import { readSendContext } from './send-context.js';
import type {
  AddedDevice,
  CheckedLists,
  CopyAddress,
  DeviceListInput,
  EnqueueInput,
  EnqueueManyResult,
  EnqueueResult,
  PreKeyUpload,
  PublishContext,
  PublishResult,
  QueueQuota,
  QueuedEnvelope,
  Receipt,
  ServerStore,
  Settlement,
  StoredDevice,
  SendContext,
  StoredDeviceList,
  TakenPreKeyBundles,
  UserRecord,
} from './server-store.js';

export class MemoryServerStore implements ServerStore {
  private readonly users = new Map<string, UserRecord>();
  private readonly queue = new MemoryQueue();
  private readonly preKeys = new MemoryPreKeyDirectory();
  private readonly deviceLists = new Map<string, StoredDeviceList>();
  private readonly keyPackages = new MemoryKeyPackages();
  private readonly groups = new MemoryGroups();

  async getUser(username: string) {
    return this.users.get(username);
  }

  async createUser(record: UserRecord, firstList?: DeviceListInput) {
    const existing = this.users.get(record.username);
    if (existing) return { created: false, record: existing };
    this.users.set(record.username, record);
    if (firstList) {
      const devices = firstList.devices.map((d): StoredDevice => ({ ...d, lastSeenAt: null }));
      this.deviceLists.set(record.username, { ...firstList, devices, updatedAt: record.registeredAt });
    }
    return { created: true, record };
  }

  async enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void, lists?: CheckedLists): Promise<EnqueueResult> {
    const many = this.enqueueNow([input], quota, lists);
    const result = many.status === 'accepted' ? many.copies[0]! : many;
    committed?.(result);
    return result;
  }

  async enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota, committed?: (result: EnqueueManyResult) => void, lists?: CheckedLists): Promise<EnqueueManyResult> {
    const result = this.enqueueNow(inputs, quota, lists);
    committed?.(result);
    return result;
  }

  private enqueueNow(inputs: readonly EnqueueInput[], quota: QueueQuota, lists: CheckedLists | undefined): EnqueueManyResult {
    if (lists?.some((l) => (this.deviceLists.get(l.username)?.version ?? null) !== l.version)) return { status: 'lists_changed' };
    return this.queue.enqueueMany(inputs, quota);
  }

  async acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]) {
    return this.queue.acceptedCopies(sender, senderDevice, clientId, recipients);
  }

  async pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    return this.queue.pending(recipient, device, afterSeq, limit, now);
  }

  async acknowledge(recipient: string, device: number, settled: readonly Settlement[], now: number, receiptExpiresAt: number, committed?: (receipts: Receipt[]) => void) {
    const receipts = this.queue.acknowledge(recipient, device, settled, now, receiptExpiresAt);
    committed?.(receipts);
    return receipts;
  }

  async pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number) {
    return this.queue.pendingReceipts(sender, senderDevice, afterSeq, limit);
  }

  async acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]) {
    this.queue.acknowledgeReceipts(sender, senderDevice, ids);
  }

  async sweepExpired(now: number) {
    this.groups.sweepExpired(now);
    return this.queue.sweepExpired(now);
  }

  async queueUsage(recipient: string) {
    return this.queue.userUsageOf(recipient);
  }

  async deviceQueueUsage(recipient: string, device: number) {
    return this.queue.deviceUsageOf(recipient, device);
  }

  async senderQueueUsage(sender: string, recipient: string, device: number) {
    return this.queue.pairUsageOf(sender, recipient, device);
  }

  async serverQueueBytes() {
    return this.queue.serverBytesNow();
  }

  async putPreKeys(username: string, device: number, upload: PreKeyUpload, _now: number): Promise<PreKeyCountResult> {
    return this.preKeys.put(username, device, upload);
  }

  async preKeyCounts(username: string, device: number): Promise<PreKeyCountResult> {
    return this.preKeys.counts(username, device);
  }

  async takePreKeyBundles(username: string, devices: readonly number[]): Promise<TakenPreKeyBundles> {
    return this.preKeys.takeMany(username, devices);
  }

  sendContext(sender: string, recipient: string): Promise<SendContext> {
    return readSendContext(this, sender, recipient);
  }

  async getDeviceList(username: string): Promise<StoredDeviceList | undefined> {
    const stored = this.deviceLists.get(username);
    return stored && { ...stored, devices: stored.devices.map((d) => ({ ...d })) };
  }

  async publishDeviceList(
    list: DeviceListInput,
    added: AddedDevice | undefined,
    removed: readonly number[],
    context: PublishContext,
    committed?: (result: PublishResult) => void,
  ): Promise<PublishResult> {
    const result = this.publishNow(list, added, removed, context);
    committed?.(result);
    return result;
  }

  private publishNow(list: DeviceListInput, added: AddedDevice | undefined, removed: readonly number[], context: PublishContext): PublishResult {
    const stored = this.deviceLists.get(list.username);
    const refused = checkPublication(list, added, removed, context, stored && { version: stored.version, devices: stored.devices.map((d) => d.device) });
    if (refused) return refused;
    // Checked first: a refused upload (prekey_limit) throws before anything changed, as a rolled-back transaction.
    if (added) this.preKeys.put(list.username, added.device, added.preKeys);
    dropPrimaryPreKeysOfOldIdentity(list, { identityOf: (u, d) => this.preKeys.counts(u, d).identityKey, remove: (u, d) => this.preKeys.remove(u, d) });
    const seen = new Map(stored?.devices.map((d) => [d.device, d.lastSeenAt]));
    const devices: StoredDevice[] = list.devices.map((d) => ({ ...d, lastSeenAt: seen.get(d.device) ?? null }));
    this.deviceLists.set(list.username, { ...list, devices, updatedAt: context.now });
    const receipts = removeDevices(list.username, removed, {
      queues: (device) => this.queue.removeDeviceQueues(list.username, device, context.now, context.receiptExpiresAt),
      preKeys: (device) => {
        this.preKeys.remove(list.username, device);
        this.keyPackages.remove(list.username, device);
      },
      receiptsOwedTo: (device) => this.queue.removeReceiptsOwedTo(list.username, device),
    });
    return { status: 'published', version: list.version, receipts };
  }

  async touchDevice(username: string, device: number, now: number): Promise<void> {
    const d = this.deviceLists.get(username)?.devices.find((x) => x.device === device);
    if (d) d.lastSeenAt = Math.max(d.lastSeenAt ?? 0, now);
  }

  async putKeyPackages(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number) {
    return this.keyPackages.put(username, device, packages, lastResort, maxStored);
  }

  async keyPackageCounts(username: string, device: number) {
    return this.keyPackages.counts(username, device);
  }

  async claimKeyPackages(username: string, devices: readonly number[]) {
    return this.keyPackages.claim(username, devices);
  }

  async createGroup(groupId: string, creator: MemberAddress, _now: number, maxGroupsPerCreator: number): Promise<CreateGroupResult> {
    return this.groups.create(groupId, creator, maxGroupsPerCreator);
  }

  async getGroup(groupId: string) {
    return this.groups.get(groupId);
  }

  async commitGroup(input: GroupCommitInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writeGroup(planCommit(this.groups.get(input.groupId), input, limits, this.groups.logsBytes()), limits);
  }

  async sendGroupMessage(input: GroupSendInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writeGroup(planSend(this.groups.get(input.groupId), input, limits, this.groups.logsBytes()), limits);
  }

  /** References first: a quota refusal there leaves the group as it was. */
  private writeGroup(plan: GroupRefusal | GroupWritePlan, limits: GroupWriteLimits): GroupWriteResult {
    if ('status' in plan) return plan;
    const outcome = groupWriteOutcome(plan, this.queue.enqueueMany(plan.deliveries, limits.quota));
    if (outcome.status === 'accepted') this.groups.apply(plan);
    return outcome;
  }

  async groupLog(groupId: string, afterSeq: number, limit: number, now: number) {
    return this.groups.log(groupId, afterSeq, limit, now);
  }

  async groupLogEntries(refs: readonly { groupId: string; seq: number }[]) {
    return this.groups.entries(refs);
  }

  async ping() {}
  async close() {}
}
