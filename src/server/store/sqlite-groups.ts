/**
 * The group tables of the SQLite store (migration 7). Statements only: the caller runs each write inside
 * its write transaction (SQLite has one writer), so reading a group, deciding (group-plan.ts) and writing
 * the plan cannot interleave with another commit: of two commits for one epoch, exactly one is accepted.
 */
import type Database from 'better-sqlite3';
import type { CreateGroupResult, GroupLogRow, GroupRecord, GroupWritePlan, MemberAddress } from './group-records.js';
import { GROUP_LOG_COLUMNS, groupFromRows, logEntryFromRow, type GroupLogDbRow, type GroupMemberRow, type GroupRow } from './sql-group-rows.js';

export class SqliteGroupTables {
  private readonly sql;

  constructor(db: Database.Database) {
    this.sql = {
      selectGroup: db.prepare<[string], GroupRow>('SELECT group_id, creator, epoch, last_seq, log_bytes FROM groups WHERE group_id = ?'),
      selectMembers: db.prepare<[string], GroupMemberRow>('SELECT username, device_id, joined_seq FROM group_members WHERE group_id = ? ORDER BY username, device_id'),
      countCreated: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM groups WHERE creator = ?'),
      sumLogBytes: db.prepare<[], { bytes: number }>('SELECT coalesce(sum(log_bytes), 0) AS bytes FROM groups'),
      insertGroup: db.prepare('INSERT INTO groups (group_id, creator, epoch, last_seq, log_bytes, created_at) VALUES (?, ?, 0, 0, 0, ?)'),
      updateGroup: db.prepare('UPDATE groups SET epoch = ?, last_seq = ?, log_bytes = ? WHERE group_id = ?'),
      insertMember: db.prepare('INSERT INTO group_members (group_id, username, device_id, joined_seq) VALUES (?, ?, ?, ?)'),
      deleteMember: db.prepare('DELETE FROM group_members WHERE group_id = ? AND username = ? AND device_id = ?'),
      insertEntry: db.prepare(
        `INSERT INTO group_log (${GROUP_LOG_COLUMNS}) VALUES (@groupId, @seq, @epoch, @kind, @sender, @senderDevice, @message, @welcome, @sentAt, @expiresAt)`,
      ),
      selectLog: db.prepare<[string, number, number, number], GroupLogDbRow>(
        `SELECT ${GROUP_LOG_COLUMNS} FROM group_log WHERE group_id = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`,
      ),
      selectEntry: db.prepare<[string, number], GroupLogDbRow>(`SELECT ${GROUP_LOG_COLUMNS} FROM group_log WHERE group_id = ? AND seq = ?`),
      expiredBytes: db.prepare<[number], { group_id: string; bytes: number }>(
        `SELECT group_id, sum(length(message) + coalesce(length(welcome), 0)) AS bytes FROM group_log WHERE expires_at <= ? GROUP BY group_id`,
      ),
      freeBytes: db.prepare('UPDATE groups SET log_bytes = log_bytes - ? WHERE group_id = ?'),
      deleteExpired: db.prepare('DELETE FROM group_log WHERE expires_at <= ?'),
    };
  }

  /** Every group's log bytes together (the server cap's share of groups, group-plan.ts). */
  logsBytes(): number {
    return this.sql.sumLogBytes.get()!.bytes;
  }

  get(groupId: string): GroupRecord | undefined {
    const row = this.sql.selectGroup.get(groupId);
    return row && groupFromRows(row, this.sql.selectMembers.all(groupId));
  }

  /** Call inside a write transaction. */
  create(groupId: string, creator: MemberAddress, now: number, maxGroupsPerCreator: number): CreateGroupResult {
    if (this.sql.selectGroup.get(groupId)) return 'exists';
    if (this.sql.countCreated.get(creator.user)!.n >= maxGroupsPerCreator) return 'limit';
    this.sql.insertGroup.run(groupId, creator.user, now);
    this.sql.insertMember.run(groupId, creator.user, creator.device, 0);
    return 'created';
  }

  /** Call inside a write transaction. */
  apply(plan: GroupWritePlan): void {
    const { group, entry } = plan;
    this.sql.updateGroup.run(group.epoch, group.lastSeq, group.logBytes, group.groupId);
    this.sql.insertEntry.run(entry);
    for (const r of plan.removed) this.sql.deleteMember.run(group.groupId, r.user, r.device);
    for (const a of plan.added) this.sql.insertMember.run(group.groupId, a.user, a.device, entry.seq);
  }

  log(groupId: string, afterSeq: number, limit: number, now: number): GroupLogRow[] {
    return this.sql.selectLog.all(groupId, afterSeq, now, limit).map(logEntryFromRow);
  }

  entries(refs: readonly { groupId: string; seq: number }[]): GroupLogRow[] {
    return refs.flatMap((r) => {
      const row = this.sql.selectEntry.get(r.groupId, r.seq);
      return row ? [logEntryFromRow(row)] : [];
    });
  }

  /** Call inside a write transaction. The groups themselves stay: their epoch and members still route. */
  sweepExpired(now: number): void {
    for (const g of this.sql.expiredBytes.all(now)) this.sql.freeBytes.run(g.bytes, g.group_id);
    this.sql.deleteExpired.run(now);
  }
}
