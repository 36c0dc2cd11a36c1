/**
 * The ServerStore on PostgreSQL (`pg`), for relays that outgrow one machine: the semantics of the SQLite
 * store, with what several nodes sharing one database need on top (locks, advisory locks and unique
 * keys instead of SQLite's single writer; docs/ARCHITECTURE.md "PostgreSQL store"). Every write resolves
 * after its COMMIT, so an acknowledged write is durable.
 */
import type pg from 'pg';
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { checkPublication, dropPrimaryPreKeysOfOldIdentity, removeDevices } from './device-publish.js';
import type { ClaimedKeyPackageRecord, CreateGroupResult, GroupCommitInput, GroupLogRow, GroupRecord, GroupRefusal, GroupSendInput, GroupWriteLimits, GroupWritePlan, GroupWriteResult, MemberAddress, PutKeyPackagesResult } from './group-records.js';
import { groupWriteOutcome, planCommit, planSend } from './group-plan.js';
import { KeyedSerial } from './keyed-serial.js';
import { applyGroupWrite, createGroup, getGroup, groupLog, groupLogEntries, groupLogsBytes, sweepGroupLogs } from './postgres-groups.js';
import { claimKeyPackages, keyPackageCounts, putKeyPackages, removeKeyPackages } from './postgres-key-packages.js';
import { getDeviceList, lockUserLists, sendContext, touchDevice, writeDeviceList } from './postgres-devices.js';
import { migratePostgres } from './postgres-migrations.js';
import { createPostgresPool, inTransaction, Rollback, type PostgresStoreOptions } from './postgres-pool.js';
import { preKeyCounts, putPreKeys, removePreKeys, takePreKeyBundles } from './postgres-prekeys.js';
import * as queue from './postgres-queue.js';
import { enqueueBatch, type BatchedSend } from './postgres-send-batch.js';
import { readServerBytes, readUsage } from './postgres-usage.js';
import { assertDistinctCopies } from './quota.js';
import { userFromRow, type UserRow } from './sql-rows.js';
import { WriteBatcher, type BatchBounds, type BatchStats, type Settled } from './write-batcher.js';
import type {
  AcceptedCopy,
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
  SendContext,
  Settlement,
  StoredDeviceList,
  TakenPreKeyBundles,
  UserRecord,
} from './server-store.js';

/** A send waiting for its batch, with what to tell once it is committed. */
interface QueuedSend extends BatchedSend {
  committed?: (result: EnqueueManyResult) => void;
}

/**
 * At most 64 sends or 4 MiB of envelopes per transaction: enough to take a node's whole backlog in a
 * few batches, small enough that one batch's statements stay short and its locks briefly held.
 */
const SEND_BATCH_BOUNDS: BatchBounds = { maxItems: 64, maxWeight: 4 * 1024 * 1024 };

const sendWeight = (send: QueuedSend): number => send.inputs.reduce((sum, i) => sum + i.envelope.length, 0);

/** An ack waiting for its batch, with what to tell once it is committed. */
interface QueuedAck extends queue.AckRequest {
  committed?: (receipts: Receipt[]) => void;
}

/**
 * At most 64 acks or 4,096 settled copies per transaction: the statement that deletes them carries one
 * array element per copy, and a batch's queue row locks stay briefly held.
 */
const ACK_BATCH_BOUNDS: BatchBounds = { maxItems: 64, maxWeight: 4096 };

/** Whole `ack` events' receipt ids per statement, within the same bounds as the acks' copies. */
const SEEN_RECEIPTS_BOUNDS: BatchBounds = ACK_BATCH_BOUNDS;

export class PostgresServerStore implements ServerStore {
  /** Where the store is, for logs and /health: host, port, database and schema, never the password. */
  readonly location: string;
  /** Shared with the blob store (blobs/postgres-blob-store.ts): one pool, one schema, per node. */
  readonly pool: pg.Pool;
  /** Bundle fetches of one user, in call order on this node (lowest key first, as SQLite serves them). */
  private readonly bundleTakes = new KeyedSerial();
  /**
   * Sends, written in batches (group commit, issue 13): one transaction at a time carries every send
   * that arrived while the previous one ran, in arrival order. That order also keeps one sender's
   * messages in the order they were sent (a pool of parallel transactions would let a later send take
   * its seq first).
   */
  private readonly sends = new WriteBatcher<QueuedSend, EnqueueManyResult>((batch) => this.writeSends(batch), SEND_BATCH_BOUNDS, sendWeight);
  /**
   * Acks, written in batches the same way: one transaction carries every ack that arrived while the
   * previous one ran, each with its own receipts, in arrival order (so one connection's acks, and the
   * receipts they owe one sender, keep their order).
   */
  private readonly acks = new WriteBatcher<QueuedAck, Receipt[]>((batch) => this.writeAcks(batch), ACK_BATCH_BOUNDS, (a) => a.settled.length);
  /** Receipts their senders have seen, forgotten in batches too: one statement (one commit) for many acks. */
  private readonly seenReceipts = new WriteBatcher<queue.SeenReceipts, void>(
    async (batch) => {
      await queue.acknowledgeReceiptsBatch(this.pool, batch);
      return batch.map(() => ({ ok: true, value: undefined }));
    },
    SEEN_RECEIPTS_BOUNDS,
    (a) => a.ids.length,
  );
  private closed = false;

  private constructor(pool: pg.Pool, location: string) {
    this.pool = pool;
    this.location = location;
  }

  /**
   * Connects, creates the schema if one is named and brings it up to date; the store is usable when the
   * promise resolves. A failure ends the pool: nothing is left connected.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresServerStore> {
    const pool = createPostgresPool(options);
    try {
      await migratePostgres(pool, options.schema);
    } catch (err) {
      await pool.end();
      // Named by its location, never its URL: the operator sees which database, and no password.
      throw new Error(`could not open the PostgreSQL store at ${describeLocation(options)}: ${(err as Error).message}`, { cause: err });
    }
    return new PostgresServerStore(pool, describeLocation(options));
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] && userFromRow(rows[0]);
  }

  createUser(record: UserRecord, firstList?: DeviceListInput): Promise<{ created: boolean; record: UserRecord }> {
    return inTransaction(this.pool, async (client) => {
      const inserted = await client.query(
        `INSERT INTO users (username, signing_key, encryption_key, signing_key_thumbprint, encryption_key_thumbprint, registered_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING`,
        [record.username, JSON.stringify(record.signingKey), JSON.stringify(record.encryptionKey), record.signingKeyThumbprint, record.encryptionKeyThumbprint, record.registeredAt],
      );
      if (inserted.rowCount !== 1) {
        const { rows } = await client.query<UserRow>('SELECT * FROM users WHERE username = $1', [record.username]);
        return { created: false, record: userFromRow(rows[0]!) };
      }
      if (firstList) {
        await lockUserLists(client, record.username);
        await writeDeviceList(client, firstList, [], record.registeredAt);
      }
      return { created: true, record };
    });
  }

  async enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void, lists?: CheckedLists): Promise<EnqueueResult> {
    const one = (r: EnqueueManyResult): EnqueueResult => (r.status === 'accepted' ? r.copies[0]! : r);
    return one(await this.enqueueMany([input], quota, committed && ((r) => committed(one(r))), lists));
  }

  enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota, committed?: (result: EnqueueManyResult) => void, lists?: CheckedLists): Promise<EnqueueManyResult> {
    try {
      // Checked before the send joins a batch: a malformed send fails alone.
      assertDistinctCopies(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.sends.submit({ inputs, quota, ...(lists && { lists }), ...(committed && { committed }) });
  }

  /** How the sends were batched on this node so far (one batch is one transaction). */
  get sendBatches(): BatchStats {
    return this.sends.stats;
  }

  /**
   * One batch: one transaction (retried whole on a deadlock), then each send's `committed` in arrival
   * order, after COMMIT: decided, visible to every node and durable at once. A callback that throws
   * fails its own send only.
   */
  private async writeSends(batch: readonly QueuedSend[]): Promise<Array<Settled<EnqueueManyResult>>> {
    const results = await inTransaction(this.pool, async (client) => {
      const outcome = await enqueueBatch(client, batch);
      return outcome.wrote ? outcome.results : new Rollback(outcome.results);
    });
    return batch.map((send, k): Settled<EnqueueManyResult> => {
      const value = results[k]!;
      try {
        send.committed?.(value);
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error };
      }
    });
  }

  acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Promise<Array<AcceptedCopy | undefined>> {
    return queue.acceptedCopies(this.pool, sender, senderDevice, clientId, recipients);
  }

  pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    return queue.pending(this.pool, recipient, device, afterSeq, limit, now);
  }

  acknowledge(
    recipient: string,
    device: number,
    settled: readonly Settlement[],
    now: number,
    receiptExpiresAt: number,
    committed?: (receipts: Receipt[]) => void,
  ): Promise<Receipt[]> {
    return this.acks.submit({ recipient, device, settled, now, receiptExpiresAt, ...(committed && { committed }) });
  }

  /** How the acks were batched on this node so far (one batch is one transaction). */
  get ackBatches(): BatchStats {
    return this.acks.stats;
  }

  /**
   * One batch: one transaction (retried whole on a deadlock), then each ack's `committed` in arrival
   * order, after COMMIT. A callback that throws fails its own ack only.
   */
  private async writeAcks(batch: readonly QueuedAck[]): Promise<Array<Settled<Receipt[]>>> {
    const receipts = await inTransaction(this.pool, (client) => queue.acknowledgeBatch(client, batch));
    return batch.map((ack, k): Settled<Receipt[]> => {
      const value = receipts[k]!;
      try {
        ack.committed?.(value);
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error };
      }
    });
  }

  pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number): Promise<Receipt[]> {
    return queue.pendingReceipts(this.pool, sender, senderDevice, afterSeq, limit);
  }

  acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.seenReceipts.submit({ sender, senderDevice, ids });
  }

  sweepExpired(now: number): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      await sweepGroupLogs(client, now);
      return queue.sweepExpired(client, now);
    });
  }

  queueUsage(recipient: string): Promise<{ count: number; bytes: number }> {
    return readUsage(this.pool, 'SELECT count, bytes FROM user_usage WHERE recipient = $1', [recipient]);
  }

  deviceQueueUsage(recipient: string, device: number): Promise<{ count: number; bytes: number }> {
    return readUsage(this.pool, 'SELECT count, bytes FROM device_usage WHERE recipient = $1 AND recipient_device = $2', [recipient, device]);
  }

  senderQueueUsage(sender: string, recipient: string, device: number): Promise<{ count: number; bytes: number }> {
    return readUsage(this.pool, 'SELECT count, bytes FROM pair_usage WHERE recipient = $1 AND recipient_device = $2 AND sender = $3', [recipient, device, sender]);
  }

  serverQueueBytes(): Promise<number> {
    return readServerBytes(this.pool);
  }

  putPreKeys(username: string, device: number, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult> {
    return inTransaction(this.pool, (client) => putPreKeys(client, username, device, upload, now));
  }

  preKeyCounts(username: string, device: number): Promise<PreKeyCountResult> {
    return preKeyCounts(this.pool, username, device);
  }

  takePreKeyBundles(username: string, devices: readonly number[]): Promise<TakenPreKeyBundles> {
    return this.bundleTakes.run(username, () => inTransaction(this.pool, (client) => takePreKeyBundles(client, username, devices)));
  }

  getDeviceList(username: string): Promise<StoredDeviceList | undefined> {
    return getDeviceList(this.pool, username);
  }

  sendContext(sender: string, recipient: string): Promise<SendContext> {
    return sendContext(this.pool, sender, recipient);
  }

  async publishDeviceList(
    list: DeviceListInput,
    added: AddedDevice | undefined,
    removed: readonly number[],
    context: PublishContext,
    committed?: (result: PublishResult) => void,
  ): Promise<PublishResult> {
    const result = await inTransaction(this.pool, async (client): Promise<PublishResult> => {
      await lockUserLists(client, list.username);
      const stored = await getDeviceList(client, list.username);
      const refused = checkPublication(list, added, removed, context, stored && { version: stored.version, devices: stored.devices.map((d) => d.device) });
      if (refused) return refused;
      await writeDeviceList(client, list, removed, context.now);
      if (added) await putPreKeys(client, list.username, added.device, added.preKeys, context.now);
      // The shared rule is synchronous (device-publish.ts): read device 1's identity first, then apply it.
      const primaryIdentity = (await preKeyCounts(client, list.username, 1)).identityKey;
      let dropPrimary = false;
      dropPrimaryPreKeysOfOldIdentity(list, { identityOf: () => primaryIdentity, remove: () => (dropPrimary = true) });
      if (dropPrimary) await removePreKeys(client, list.username, 1);
      const steps = await this.removalSteps(client, list.username, removed, context);
      const receipts = removeDevices(list.username, removed, steps);
      return { status: 'published', version: list.version, receipts };
    });
    committed?.(result);
    return result;
  }

  /**
   * removeDevices (device-publish.ts) is synchronous and decides the order; the deletions it asks for
   * are run here first, in that same order, and their results handed to it.
   */
  private async removalSteps(client: pg.PoolClient, username: string, removed: readonly number[], context: PublishContext) {
    const receipts = new Map<number, Receipt[]>();
    const owed = new Map<number, Set<string>>();
    for (const device of removed) {
      receipts.set(device, await queue.removeDeviceQueues(client, username, device, context.now, context.receiptExpiresAt));
      await removePreKeys(client, username, device);
      await removeKeyPackages(client, username, device);
    }
    for (const device of removed) owed.set(device, await queue.removeReceiptsOwedTo(client, username, device));
    return {
      queues: (device: number) => receipts.get(device)!,
      preKeys: () => undefined,
      receiptsOwedTo: (device: number) => owed.get(device)!,
    };
  }

  touchDevice(username: string, device: number, now: number): Promise<void> {
    return touchDevice(this.pool, username, device, now);
  }

  putKeyPackages(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number): Promise<PutKeyPackagesResult> {
    return inTransaction(this.pool, (client) => putKeyPackages(client, username, device, packages, lastResort, maxStored));
  }

  keyPackageCounts(username: string, device: number): Promise<{ oneTime: number; lastResort: boolean }> {
    return keyPackageCounts(this.pool, username, device);
  }

  claimKeyPackages(username: string, devices: readonly number[]): Promise<ClaimedKeyPackageRecord[]> {
    return inTransaction(this.pool, (client) => claimKeyPackages(client, username, devices));
  }

  createGroup(groupId: string, creator: MemberAddress, now: number, maxGroupsPerCreator: number): Promise<CreateGroupResult> {
    return inTransaction(this.pool, (client) => createGroup(client, groupId, creator, now, maxGroupsPerCreator));
  }

  getGroup(groupId: string): Promise<GroupRecord | undefined> {
    return getGroup(this.pool, groupId);
  }

  commitGroup(input: GroupCommitInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writeGroup(input.groupId, (group, logsBytes) => planCommit(group, input, limits, logsBytes), limits);
  }

  sendGroupMessage(input: GroupSendInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writeGroup(input.groupId, (group, logsBytes) => planSend(group, input, limits, logsBytes), limits);
  }

  /** The group FOR UPDATE, the plan, the references (a quota refusal rolls back), then the group's rows. */
  private writeGroup(groupId: string, plan: (group: GroupRecord | undefined, logsBytes: number) => GroupRefusal | GroupWritePlan, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return inTransaction(this.pool, async (client): Promise<GroupWriteResult | Rollback<GroupWriteResult>> => {
      const group = await getGroup(client, groupId, true);
      const decided = plan(group, await groupLogsBytes(client));
      if ('status' in decided) return decided;
      assertDistinctCopies(decided.deliveries);
      // A batch of one send: a refusal is decided before anything is written.
      const queued = (await enqueueBatch(client, [{ inputs: decided.deliveries, quota: limits.quota }])).results[0]!;
      const outcome = groupWriteOutcome(decided, queued);
      if (outcome.status !== 'accepted') return new Rollback(outcome);
      await applyGroupWrite(client, decided);
      return outcome;
    });
  }

  groupLog(groupId: string, afterSeq: number, limit: number, now: number): Promise<GroupLogRow[]> {
    return groupLog(this.pool, groupId, afterSeq, limit, now);
  }

  groupLogEntries(refs: readonly { groupId: string; seq: number }[]): Promise<GroupLogRow[]> {
    return groupLogEntries(this.pool, refs);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /** Waits for the requests in flight (each holds a pooled connection until it is done), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** user@host:port/database (schema): the connection string without its password. */
function describeLocation(options: PostgresStoreOptions): string {
  const url = new URL(options.connectionString);
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  return `postgres://${user}${url.host}${url.pathname}${options.schema ? ` (schema ${options.schema})` : ''}`;
}
