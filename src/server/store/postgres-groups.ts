/**
 * The group tables of the PostgreSQL store (migration 2). A write reads its group FOR UPDATE: commits and
 * sends of one group, from any node, run one at a time, so of two commits for one epoch exactly one is
 * accepted, and seqs (and the queue rows of their references) follow the order the writes committed.
 */
import type pg from 'pg';
import type { CreateGroupResult, GroupLogRow, GroupRecord, GroupWritePlan, MemberAddress } from './group-records.js';
import { GROUP_LOG_COLUMNS, groupFromRows, logEntryFromRow, type GroupLogDbRow, type GroupMemberRow, type GroupRow } from './sql-group-rows.js';

type Db = pg.Pool | pg.PoolClient;

export async function getGroup(db: Db, groupId: string, forUpdate = false): Promise<GroupRecord | undefined> {
  const { rows } = await db.query<GroupRow>(`SELECT group_id, creator, epoch, last_seq, log_bytes FROM groups WHERE group_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [groupId]);
  if (!rows[0]) return undefined;
  const members = await db.query<GroupMemberRow>('SELECT username, device_id, joined_seq FROM group_members WHERE group_id = $1 ORDER BY username, device_id', [groupId]);
  return groupFromRows(rows[0], members.rows);
}

/** Call inside a transaction. The creator's advisory lock makes the count and the insert one step. */
export async function createGroup(client: pg.PoolClient, groupId: string, creator: MemberAddress, now: number, maxGroupsPerCreator: number): Promise<CreateGroupResult> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('e2ee-chat groups'), hashtext($1))`, [creator.user]);
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM groups WHERE creator = $1', [creator.user]);
  if (Number(rows[0]!.n) >= maxGroupsPerCreator) {
    const exists = await client.query('SELECT 1 FROM groups WHERE group_id = $1', [groupId]);
    return exists.rows.length > 0 ? 'exists' : 'limit';
  }
  const inserted = await client.query('INSERT INTO groups (group_id, creator, epoch, last_seq, log_bytes, created_at) VALUES ($1, $2, 0, 0, 0, $3) ON CONFLICT DO NOTHING', [
    groupId,
    creator.user,
    now,
  ]);
  if (inserted.rowCount !== 1) return 'exists';
  await client.query('INSERT INTO group_members (group_id, username, device_id, joined_seq) VALUES ($1, $2, $3, 0)', [groupId, creator.user, creator.device]);
  return 'created';
}

/** Call inside the transaction that read the group FOR UPDATE. */
export async function applyGroupWrite(client: pg.PoolClient, plan: GroupWritePlan): Promise<void> {
  const { group, entry: e } = plan;
  await client.query('UPDATE groups SET epoch = $1, last_seq = $2, log_bytes = $3 WHERE group_id = $4', [group.epoch, group.lastSeq, group.logBytes, group.groupId]);
  await client.query(`INSERT INTO group_log (${GROUP_LOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [
    e.groupId,
    e.seq,
    e.epoch,
    e.kind,
    e.sender,
    e.senderDevice,
    e.message,
    e.welcome,
    e.sentAt,
    e.expiresAt,
  ]);
  for (const r of plan.removed) await client.query('DELETE FROM group_members WHERE group_id = $1 AND username = $2 AND device_id = $3', [group.groupId, r.user, r.device]);
  for (const a of plan.added) {
    await client.query('INSERT INTO group_members (group_id, username, device_id, joined_seq) VALUES ($1, $2, $3, $4)', [group.groupId, a.user, a.device, e.seq]);
  }
}

export async function groupLog(db: Db, groupId: string, afterSeq: number, limit: number, now: number): Promise<GroupLogRow[]> {
  const { rows } = await db.query<GroupLogDbRow>(
    `SELECT ${GROUP_LOG_COLUMNS} FROM group_log WHERE group_id = $1 AND seq > $2 AND expires_at > $3 ORDER BY seq LIMIT $4`,
    [groupId, afterSeq, now, limit],
  );
  return rows.map(logEntryFromRow);
}

export async function groupLogEntries(db: Db, refs: readonly { groupId: string; seq: number }[]): Promise<GroupLogRow[]> {
  if (refs.length === 0) return [];
  const { rows } = await db.query<GroupLogDbRow>(
    `SELECT ${GROUP_LOG_COLUMNS} FROM group_log WHERE (group_id, seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))`,
    [refs.map((r) => r.groupId), refs.map((r) => r.seq)],
  );
  return rows.map(logEntryFromRow);
}

/** Call inside a transaction. The groups stay: their epoch and members still route. */
export async function sweepGroupLogs(client: pg.PoolClient, now: number): Promise<void> {
  const { rows } = await client.query<{ group_id: string; bytes: string }>(
    `DELETE FROM group_log WHERE expires_at <= $1 RETURNING group_id, length(message) + coalesce(length(welcome), 0) AS bytes`,
    [now],
  );
  const freed = new Map<string, number>();
  for (const r of rows) freed.set(r.group_id, (freed.get(r.group_id) ?? 0) + Number(r.bytes));
  for (const [groupId, bytes] of [...freed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    await client.query('UPDATE groups SET log_bytes = log_bytes - $1 WHERE group_id = $2', [bytes, groupId]);
  }
}

/**
 * Every group's log bytes together (the server cap's share of groups, group-plan.ts). Read without a
 * lock, as the queues' server total is (postgres-usage.ts): writes on other nodes at the same moment may
 * together pass the cap by what they carry.
 */
export async function groupLogsBytes(db: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows } = await db.query<{ bytes: string }>('SELECT coalesce(sum(log_bytes), 0)::bigint AS bytes FROM groups');
  return Number(rows[0]!.bytes);
}
