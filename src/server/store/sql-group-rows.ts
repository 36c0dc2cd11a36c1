/** The group rows both SQL stores read, and their conversion (as sql-rows.ts does for the queue). */
import type { GroupLogRow, GroupMember, GroupRecord } from './group-records.js';

export interface GroupRow {
  group_id: string;
  creator: string;
  epoch: number | string;
  last_seq: number | string;
  log_bytes: number | string;
}
export interface GroupMemberRow {
  username: string;
  device_id: number;
  joined_seq: number | string;
}
export interface GroupLogDbRow {
  group_id: string;
  seq: number | string;
  epoch: number | string;
  kind: 'commit' | 'application';
  sender: string;
  sender_device: number;
  message: string;
  welcome: string | null;
  sent_at: number | string;
  expires_at: number | string;
}

export const GROUP_LOG_COLUMNS = 'group_id, seq, epoch, kind, sender, sender_device, message, welcome, sent_at, expires_at';

// PostgreSQL's BIGINT arrives as a string; every value here is below 2^53.
export const groupFromRows = (g: GroupRow, members: readonly GroupMemberRow[]): GroupRecord => ({
  groupId: g.group_id,
  creator: g.creator,
  epoch: Number(g.epoch),
  lastSeq: Number(g.last_seq),
  logBytes: Number(g.log_bytes),
  members: members.map((m): GroupMember => ({ user: m.username, device: m.device_id, joinedSeq: Number(m.joined_seq) })),
});

export const logEntryFromRow = (r: GroupLogDbRow): GroupLogRow => ({
  groupId: r.group_id,
  seq: Number(r.seq),
  epoch: Number(r.epoch),
  kind: r.kind,
  sender: r.sender,
  senderDevice: r.sender_device,
  message: r.message,
  welcome: r.welcome,
  sentAt: Number(r.sent_at),
  expiresAt: Number(r.expires_at),
});
