/**
 * The Delivery Service's rules for a write to a group (docs/design/groups-mls.md §4.2–§4.4), decided once
 * for every store: each store reads the group inside its transaction, asks here, and writes the plan or
 * nothing. Total order: a commit is accepted only in the group's current epoch, and every entry gets the
 * next seq; only members write; the committer's stated adds and removes must fit the membership.
 */
import { groupRefClientId, groupRefEnvelope, type GroupDeliveryKind } from './group-deliveries.js';
import type {
  GroupCommitInput,
  GroupLogRow,
  GroupMember,
  GroupRecord,
  GroupRefusal,
  GroupSendInput,
  GroupWriteBase,
  GroupWriteLimits,
  GroupWritePlan,
  GroupWriteResult,
  MemberAddress,
} from './group-records.js';
import { logRowBytes } from './group-records.js';
import type { EnqueueInput, EnqueueManyResult } from './server-store.js';

const key = (a: MemberAddress) => `${a.user}/${a.device}`;
const isMember = (group: GroupRecord, a: MemberAddress) => group.members.some((m) => m.user === a.user && m.device === a.device);

function refuseWriter(group: GroupRecord | undefined, from: MemberAddress): GroupRefusal | undefined {
  if (!group) return { status: 'unknown_group' };
  if (!isMember(group, from)) return { status: 'not_member' };
  return undefined;
}

function reference(input: GroupWriteBase, to: MemberAddress, seq: number, kind: GroupDeliveryKind): EnqueueInput {
  const ref = { groupId: input.groupId, seq, kind };
  return {
    id: input.newId(),
    sender: input.from.user,
    senderDevice: input.from.device,
    recipient: to.user,
    recipientDevice: to.device,
    clientId: groupRefClientId(ref),
    sentAt: input.sentAt,
    expiresAt: input.expiresAt,
    envelope: groupRefEnvelope(ref),
  };
}

function entryOf(input: GroupWriteBase, group: GroupRecord, kind: GroupLogRow['kind'], message: string, welcome: string | null): GroupLogRow {
  return {
    groupId: input.groupId,
    seq: group.lastSeq + 1,
    epoch: input.epoch,
    kind,
    sender: input.from.user,
    senderDevice: input.from.device,
    message,
    welcome,
    sentAt: input.sentAt,
    expiresAt: input.expiresAt,
  };
}

/**
 * The group's own log cap, then the server's: every group's log together is held to the server's storage
 * cap (`logsBytes`: their bytes now), as the queues are (quota.ts). Without it, one account's groups
 * (MAX_GROUPS_PER_CREATOR, each up to its log cap) could fill far more disk than the operator allowed.
 */
function refuseLogFull(group: GroupRecord, entry: GroupLogRow, limits: GroupWriteLimits, logsBytes: number): GroupRefusal | undefined {
  const size = logRowBytes(entry);
  if (group.logBytes + size > limits.logMaxBytes) {
    return { status: 'log_full', message: `the group's stored messages are at their limit of ${limits.logMaxBytes} bytes; try again when older ones expire` };
  }
  const cap = limits.quota.serverMaxBytes;
  if (cap !== undefined && logsBytes + size > cap) {
    return { status: 'server_full', message: `the server's stored group messages are at its storage limit of ${cap} bytes; nothing more is stored until older ones expire` };
  }
  return undefined;
}

/**
 * A commit: made in the current epoch by a member, removing members other than itself and adding
 * non-members, the group staying within `maxMembers`. Its references go to every member before it but
 * the committer (removed devices too: they learn from it that they are out), its Welcome to every added
 * device.
 */
export function planCommit(group: GroupRecord | undefined, input: GroupCommitInput, limits: GroupWriteLimits, logsBytes: number): GroupRefusal | GroupWritePlan {
  const refused = refuseWriter(group, input.from);
  if (refused) return refused;
  const g = group!;
  if (input.epoch !== g.epoch) return { status: 'stale', epoch: g.epoch };
  if (input.remove.some((a) => key(a) === key(input.from))) return { status: 'bad_members', message: 'remove: a commit never removes its committer (leave by asking another member)' };
  const notMember = input.remove.find((a) => !isMember(g, a));
  if (notMember) return { status: 'bad_members', message: `remove: ${key(notMember)} is not a member of the group` };
  const already = input.add.find((a) => isMember(g, a));
  if (already) return { status: 'bad_members', message: `add: ${key(already)} is a member of the group already` };
  const size = g.members.length - input.remove.length + input.add.length;
  if (size > limits.maxMembers) return { status: 'group_limit', message: `the group would have ${size} member devices; the limit is ${limits.maxMembers}` };
  const entry = entryOf(input, g, 'commit', input.commit, input.welcome ?? null);
  const full = refuseLogFull(g, entry, limits, logsBytes);
  if (full) return full;
  const removed = new Set(input.remove.map(key));
  const members: GroupMember[] = [...g.members.filter((m) => !removed.has(key(m))), ...input.add.map((a) => ({ user: a.user, device: a.device, joinedSeq: entry.seq }))];
  const deliveries = [
    ...g.members.filter((m) => key(m) !== key(input.from)).map((m) => reference(input, m, entry.seq, 'message')),
    ...input.add.map((a) => reference(input, a, entry.seq, 'welcome')),
  ];
  return {
    group: { ...g, epoch: g.epoch + 1, lastSeq: entry.seq, logBytes: g.logBytes + logRowBytes(entry), members },
    entry,
    added: input.add,
    removed: input.remove,
    deliveries,
  };
}

/**
 * An application message: by a member, made in the current epoch or an earlier one (receivers keep a few
 * past epochs' keys, design §4.4), never a later one. Its references go to every member device but the sender.
 */
export function planSend(group: GroupRecord | undefined, input: GroupSendInput, limits: GroupWriteLimits, logsBytes: number): GroupRefusal | GroupWritePlan {
  const refused = refuseWriter(group, input.from);
  if (refused) return refused;
  const g = group!;
  if (input.epoch > g.epoch) return { status: 'stale', epoch: g.epoch };
  const entry = entryOf(input, g, 'application', input.message, null);
  const full = refuseLogFull(g, entry, limits, logsBytes);
  if (full) return full;
  return {
    group: { ...g, lastSeq: entry.seq, logBytes: g.logBytes + logRowBytes(entry) },
    entry,
    added: [],
    removed: [],
    deliveries: g.members.filter((m) => key(m) !== key(input.from)).map((m) => reference(input, m, entry.seq, 'message')),
  };
}

/** The answer to a planned write once its references were queued (or refused by a quota: then nothing was written). */
export function groupWriteOutcome(plan: GroupWritePlan, queued: EnqueueManyResult): GroupWriteResult {
  if (queued.status === 'lists_changed') throw new Error('group references are queued without a device-list check');
  if (queued.status !== 'accepted') return queued;
  const deliveries = queued.copies.flatMap((c) => (c.status === 'stored' ? [c.message] : []));
  return { status: 'accepted', epoch: plan.group.epoch, entry: plan.entry, deliveries };
}
