/** The embedded default store: SQLite in WAL mode under the data folder, schema migrations in code. */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { checkPublication, dropPrimaryPreKeysOfOldIdentity, removeDevices } from './device-publish.js';
import { GroupCommit } from './group-commit.js';
import type { PreKeyCountResult } from '../../protocol/prekey-schemas.js';
import { userFromRow, type UserRow } from './sql-rows.js';
import type {
  AcceptedCopy,
  CheckedLists,
  AddedDevice,
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
  SendContext,
  StoredDeviceList,
  TakenPreKeyBundles,
  UserRecord,
} from './server-store.js';
import type { ClaimedKeyPackageRecord, CreateGroupResult, GroupCommitInput, GroupLogRow, GroupRecord, GroupRefusal, GroupSendInput, GroupWriteLimits, GroupWritePlan, GroupWriteResult, MemberAddress, PutKeyPackagesResult } from './group-records.js';
import { groupWriteOutcome, planCommit, planSend } from './group-plan.js';
import { SqliteDeviceTables } from './sqlite-devices.js';
import { SqliteGroupTables } from './sqlite-groups.js';
import { SqliteKeyPackageTables } from './sqlite-key-packages.js';
import { SqlitePreKeyTables } from './sqlite-prekeys.js';
import { SqliteQueueTables } from './sqlite-queue.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { readSendContext } from './send-context.js';
import { UsageCounters } from './usage-counters.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';

export const SQLITE_FILE_NAME = 'e2ee-chat.sqlite';

/**
 * The database holds who talks to whom and the queued ciphertext: owner-only (0600) whatever the data
 * folder's mode or the umask. SQLite gives the -wal and -shm files the database file's permissions
 * when it creates them, so creating the database 0600 first covers all three; files left by an older
 * server (created 0644) are tightened here too.
 */
function createPrivateFiles(dbPath: string): void {
  closeSync(openSync(dbPath, 'a', 0o600));
  for (const path of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
    if (existsSync(path)) chmodSync(path, 0o600);
  }
}

export class SqliteServerStore implements ServerStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly writes: GroupCommit;
  private readonly walSync: WalSync;
  private readonly checkpointer: WalCheckpointer;
  private readonly sql;
  private readonly queue: SqliteQueueTables;
  private readonly preKeys: SqlitePreKeyTables;
  private readonly devices: SqliteDeviceTables;
  private readonly keyPackages: SqliteKeyPackageTables;
  private readonly groups: SqliteGroupTables;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.path = join(dataDir, SQLITE_FILE_NAME);
    createPrivateFiles(this.path);
    this.db = new Database(this.path);
    // Wait for another process's lock rather than failing at once (two terminals, one user).
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    // NORMAL: commits do not fsync on the event loop; WalSync fsyncs the WAL off-thread before any write
    // is acknowledged, so an acknowledged write survives power loss, not only a process crash.
    this.db.pragma('synchronous = NORMAL');
    // Checkpoints run on a worker thread (wal-checkpointer.ts), never inside a commit on the event loop.
    this.db.pragma('wal_autocheckpoint = 0');
    try {
      this.migrate();
    } catch (err) {
      // The migration rolled back; the file stays as it was, and no handle on it is left open.
      this.db.close();
      throw err;
    }
    const db = this.db;
    this.sql = {
      selectUser: db.prepare<[string], UserRow>('SELECT * FROM users WHERE username = ?'),
      insertUser: db.prepare<[UserRow]>(
        `INSERT INTO users (username, signing_key, encryption_key, signing_key_thumbprint, encryption_key_thumbprint, registered_at)
         VALUES (@username, @signing_key, @encryption_key, @signing_key_thumbprint, @encryption_key_thumbprint, @registered_at)
         ON CONFLICT (username) DO NOTHING`,
      ),
    };
    // After the migrations: the counters are read from the queue as it now is.
    const usage = UsageCounters.fromQueue(db);
    this.queue = new SqliteQueueTables(db, usage);
    this.preKeys = new SqlitePreKeyTables(db);
    this.devices = new SqliteDeviceTables(db);
    this.keyPackages = new SqliteKeyPackageTables(db);
    this.groups = new SqliteGroupTables(db);
    this.walSync = new WalSync(`${this.path}-wal`);
    // A failing checkpoint costs disk (the WAL grows), never data: say so, and keep serving.
    this.checkpointer = new WalCheckpointer(this.path, (message) => process.emitWarning(`WAL checkpoint failed: ${message}`, 'E2eeChatStoreWarning'));
    this.writes = new GroupCommit(
      (run) => usage.during(() => this.db.transaction(run)()),
      () => this.walSync.sync(),
    );
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_MIGRATIONS.length) {
      throw new Error(`database schema version ${current} is newer than this server understands (${SQLITE_MIGRATIONS.length})`);
    }
    // IMMEDIATE: the write lock is held from the version check to the last migration.
    this.db
      .transaction(() => {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        for (let v = version; v < SQLITE_MIGRATIONS.length; v++) this.db.exec(SQLITE_MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${Math.max(version, SQLITE_MIGRATIONS.length)}`);
      })
      .immediate();
  }

  async getUser(username: string): Promise<UserRecord | undefined> {
    const row = this.sql.selectUser.get(username);
    return row ? userFromRow(row) : undefined;
  }

  async createUser(record: UserRecord, firstList?: DeviceListInput): Promise<{ created: boolean; record: UserRecord }> {
    return this.writes.run(() => {
      const info = this.sql.insertUser.run({
        username: record.username,
        signing_key: JSON.stringify(record.signingKey),
        encryption_key: JSON.stringify(record.encryptionKey),
        signing_key_thumbprint: record.signingKeyThumbprint,
        encryption_key_thumbprint: record.encryptionKeyThumbprint,
        registered_at: record.registeredAt,
      });
      if (info.changes !== 1) return { created: false, record: userFromRow(this.sql.selectUser.get(record.username)!) };
      if (firstList) this.devices.write(firstList, [], record.registeredAt);
      return { created: true, record };
    });
  }

  async enqueue(input: EnqueueInput, quota: QueueQuota, committed?: (result: EnqueueResult) => void, lists?: CheckedLists): Promise<EnqueueResult> {
    const one = (r: EnqueueManyResult): EnqueueResult => (r.status === 'accepted' ? r.copies[0]! : r);
    return one(await this.enqueueMany([input], quota, committed && ((r) => committed(one(r))), lists));
  }

  enqueueMany(inputs: readonly EnqueueInput[], quota: QueueQuota, committed?: (result: EnqueueManyResult) => void, lists?: CheckedLists): Promise<EnqueueManyResult> {
    // Checked and inserted in this one transaction: no other write can slip between a check and its insert.
    return this.writes.run((): EnqueueManyResult => {
      if (lists?.some((l) => this.devices.version(l.username) !== l.version)) return { status: 'lists_changed' };
      return this.queue.enqueueMany(inputs, quota);
    }, committed);
  }

  async acceptedCopies(sender: string, senderDevice: number, clientId: string, recipients: readonly CopyAddress[]): Promise<Array<AcceptedCopy | undefined>> {
    return this.queue.acceptedCopies(sender, senderDevice, clientId, recipients);
  }

  async pending(recipient: string, device: number, afterSeq: number, limit: number, now: number): Promise<QueuedEnvelope[]> {
    return this.queue.pending(recipient, device, afterSeq, limit, now);
  }

  acknowledge(
    recipient: string,
    device: number,
    settled: readonly Settlement[],
    now: number,
    receiptExpiresAt: number,
    committed?: (receipts: Receipt[]) => void,
  ): Promise<Receipt[]> {
    return this.writes.run(() => this.queue.acknowledge(recipient, device, settled, now, receiptExpiresAt), committed);
  }

  async pendingReceipts(sender: string, senderDevice: number, afterSeq: number, limit: number): Promise<Receipt[]> {
    return this.queue.pendingReceipts(sender, senderDevice, afterSeq, limit);
  }

  acknowledgeReceipts(sender: string, senderDevice: number, ids: readonly string[]): Promise<void> {
    return this.writes.run(() => this.queue.acknowledgeReceipts(sender, senderDevice, ids));
  }

  sweepExpired(now: number): Promise<number> {
    return this.writes.run(() => {
      this.groups.sweepExpired(now);
      return this.queue.sweepExpired(now);
    });
  }

  async queueUsage(recipient: string): Promise<{ count: number; bytes: number }> {
    return this.queue.userUsage(recipient);
  }

  async deviceQueueUsage(recipient: string, device: number): Promise<{ count: number; bytes: number }> {
    return this.queue.deviceUsage(recipient, device);
  }

  async senderQueueUsage(sender: string, recipient: string, device: number): Promise<{ count: number; bytes: number }> {
    return this.queue.pairUsage(sender, recipient, device);
  }

  async serverQueueBytes(): Promise<number> {
    return this.queue.serverBytes();
  }

  putPreKeys(username: string, device: number, upload: PreKeyUpload, now: number): Promise<PreKeyCountResult> {
    return this.writes.run(() => this.preKeys.put(username, device, upload, now));
  }

  async preKeyCounts(username: string, device: number): Promise<PreKeyCountResult> {
    return this.preKeys.counts(username, device);
  }

  takePreKeyBundles(username: string, devices: readonly number[]): Promise<TakenPreKeyBundles> {
    return this.writes.run(() => this.preKeys.takeMany(username, devices));
  }

  sendContext(sender: string, recipient: string): Promise<SendContext> {
    return readSendContext(this, sender, recipient);
  }

  async getDeviceList(username: string): Promise<StoredDeviceList | undefined> {
    return this.devices.get(username);
  }

  publishDeviceList(
    list: DeviceListInput,
    added: AddedDevice | undefined,
    removed: readonly number[],
    context: PublishContext,
    committed?: (result: PublishResult) => void,
  ): Promise<PublishResult> {
    return this.writes.run((): PublishResult => {
      const stored = this.devices.get(list.username);
      const refused = checkPublication(list, added, removed, context, stored && { version: stored.version, devices: stored.devices.map((d) => d.device) });
      if (refused) return refused;
      this.devices.write(list, removed, context.now);
      if (added) this.preKeys.put(list.username, added.device, added.preKeys, context.now);
      dropPrimaryPreKeysOfOldIdentity(list, { identityOf: (u, d) => this.preKeys.counts(u, d).identityKey, remove: (u, d) => this.preKeys.remove(u, d) });
      const receipts = removeDevices(list.username, removed, {
        queues: (device) => this.queue.removeDeviceQueues(list.username, device, context.now, context.receiptExpiresAt),
        preKeys: (device) => {
          this.preKeys.remove(list.username, device);
          this.keyPackages.remove(list.username, device);
        },
        receiptsOwedTo: (device) => this.queue.removeReceiptsOwedTo(list.username, device),
      });
      return { status: 'published', version: list.version, receipts };
    }, committed);
  }

  async touchDevice(username: string, device: number, now: number): Promise<void> {
    // Most logins and acks are of users without a list (every protocol-1 user): no row, so no write
    // transaction and no share of an fsync for them.
    if (!this.devices.has(username, device)) return;
    return this.writes.run(() => this.devices.touch(username, device, now));
  }

  putKeyPackages(username: string, device: number, packages: readonly string[], lastResort: string | undefined, maxStored: number): Promise<PutKeyPackagesResult> {
    return this.writes.run(() => this.keyPackages.put(username, device, packages, lastResort, maxStored));
  }

  async keyPackageCounts(username: string, device: number): Promise<{ oneTime: number; lastResort: boolean }> {
    return this.keyPackages.counts(username, device);
  }

  claimKeyPackages(username: string, devices: readonly number[]): Promise<ClaimedKeyPackageRecord[]> {
    return this.writes.run(() => this.keyPackages.claim(username, devices));
  }

  createGroup(groupId: string, creator: MemberAddress, now: number, maxGroupsPerCreator: number): Promise<CreateGroupResult> {
    return this.writes.run(() => this.groups.create(groupId, creator, now, maxGroupsPerCreator));
  }

  async getGroup(groupId: string): Promise<GroupRecord | undefined> {
    return this.groups.get(groupId);
  }

  commitGroup(input: GroupCommitInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writes.run(() => this.writeGroup(planCommit(this.groups.get(input.groupId), input, limits, this.groups.logsBytes()), limits));
  }

  sendGroupMessage(input: GroupSendInput, limits: GroupWriteLimits): Promise<GroupWriteResult> {
    return this.writes.run(() => this.writeGroup(planSend(this.groups.get(input.groupId), input, limits, this.groups.logsBytes()), limits));
  }

  /** Inside the write transaction. References first: the queue checks every quota before inserting any, so a refusal writes nothing. */
  private writeGroup(plan: GroupRefusal | GroupWritePlan, limits: GroupWriteLimits): GroupWriteResult {
    if ('status' in plan) return plan;
    const outcome = groupWriteOutcome(plan, this.queue.enqueueMany(plan.deliveries, limits.quota));
    if (outcome.status === 'accepted') this.groups.apply(plan);
    return outcome;
  }

  async groupLog(groupId: string, afterSeq: number, limit: number, now: number): Promise<GroupLogRow[]> {
    return this.groups.log(groupId, afterSeq, limit, now);
  }

  async groupLogEntries(refs: readonly { groupId: string; seq: number }[]): Promise<GroupLogRow[]> {
    return this.groups.entries(refs);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    // Writes already requested commit and reach the disk; later ones are refused.
    await this.writes.close();
    await this.walSync.close();
    await this.checkpointer.close();
    if (this.db.open) this.db.close();
  }
}
