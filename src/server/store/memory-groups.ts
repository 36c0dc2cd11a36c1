/** The in-memory groups and their logs: same semantics as sqlite-groups.ts. */
import type { CreateGroupResult, GroupLogRow, GroupRecord, GroupWritePlan, MemberAddress } from './group-records.js';
import { logRowBytes } from './group-records.js';

const clone = (g: GroupRecord): GroupRecord => ({ ...g, members: g.members.map((m) => ({ ...m })) });

export class MemoryGroups {
  private readonly groups = new Map<string, GroupRecord>();
  /** Per group, in seq order. */
  private readonly logs = new Map<string, GroupLogRow[]>();

  create(groupId: string, creator: MemberAddress, maxGroupsPerCreator: number): CreateGroupResult {
    if (this.groups.has(groupId)) return 'exists';
    let created = 0;
    for (const g of this.groups.values()) if (g.creator === creator.user) created++;
    if (created >= maxGroupsPerCreator) return 'limit';
    this.groups.set(groupId, { groupId, creator: creator.user, epoch: 0, lastSeq: 0, logBytes: 0, members: [{ ...creator, joinedSeq: 0 }] });
    this.logs.set(groupId, []);
    return 'created';
  }

  /** Every group's log bytes together (the server cap's share of groups, group-plan.ts). */
  logsBytes(): number {
    let bytes = 0;
    for (const g of this.groups.values()) bytes += g.logBytes;
    return bytes;
  }

  get(groupId: string): GroupRecord | undefined {
    const g = this.groups.get(groupId);
    return g && clone(g);
  }

  apply(plan: GroupWritePlan): void {
    this.groups.set(plan.group.groupId, clone(plan.group));
    this.logs.get(plan.group.groupId)!.push({ ...plan.entry });
  }

  log(groupId: string, afterSeq: number, limit: number, now: number): GroupLogRow[] {
    return (this.logs.get(groupId) ?? []).filter((e) => e.seq > afterSeq && e.expiresAt > now).slice(0, limit);
  }

  entries(refs: readonly { groupId: string; seq: number }[]): GroupLogRow[] {
    return refs.flatMap((r) => (this.logs.get(r.groupId) ?? []).filter((e) => e.seq === r.seq));
  }

  sweepExpired(now: number): void {
    for (const [groupId, log] of this.logs) {
      const kept = log.filter((e) => e.expiresAt > now);
      if (kept.length === log.length) continue;
      const freed = log.filter((e) => e.expiresAt <= now).reduce((n, e) => n + logRowBytes(e), 0);
      this.logs.set(groupId, kept);
      this.groups.get(groupId)!.logBytes -= freed;
    }
  }
}
