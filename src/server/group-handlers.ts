/**
 * The groups of the MLS Delivery Service (docs/design/groups-mls.md §4.2–§4.4, PROTOCOL.md §22). The
 * server keeps per group an epoch, a routing membership and a log, and decides nothing about MLS:
 *   - `group.create`: a group at epoch 0 whose one member is the caller's address;
 *   - `group.commit`: accepted only in the group's current epoch (else `group_epoch_stale` with the
 *     current one), by a member; the committer states whom it adds and removes, and the server routes
 *     by that. The entry, the new epoch, the membership, a reference in every other member's queue and
 *     the Welcome in every added device's queue are one transaction (store/group-plan.ts);
 *   - `group.send`: an application message, stored once with the next seq, a reference in every other
 *     member device's queue;
 *   - `group.sync` and `group.info`: a member reads the log (from the commit that added it on) and the
 *     membership.
 * Only members write or read; a refused request changes nothing. References are pushed at once to the
 * connections of their addresses (the entry is at hand), or later by the delivery pump (group-delivery.ts).
 */
import { ChatError } from '../protocol/errors.js';
import type { GroupAddress } from '../protocol/group-schemas.js';
import { DEFAULT_GROUP_LOG_MAX_BYTES, GROUP_SYNC_BATCH, MAX_GROUP_MEMBERS, MAX_GROUPS_PER_CREATOR } from '../protocol/limits.js';
import type { ServerConfig } from './config.js';
import type { HandlerTableV2 } from './connection.js';
import type { DeliveryNotifier } from './delivery-notifier.js';
import { currentDevices, queueQuota } from './device-sets.js';
import { asCarriedEnvelope, groupPushEnvelope, logEntryWire, withPush } from './group-delivery.js';
import { newServerId } from './ids.js';
import { signedInAddress } from './prekeys.js';
import { RefusalWithDetails } from './refusal.js';
import { groupRefOf } from './store/group-deliveries.js';
import type { GroupRecord, GroupWriteLimits, GroupWriteResult, MemberAddress } from './store/group-records.js';
import type { ServerStore } from './store/server-store.js';

export interface GroupServiceDeps {
  config: ServerConfig;
  store: ServerStore;
  /** Wakes the member devices' connections when references for them are stored. */
  notifier: DeliveryNotifier;
}

export type GroupEventName = 'group.create' | 'group.commit' | 'group.send' | 'group.sync' | 'group.info';

const text = (a: MemberAddress) => `${a.user}/${a.device}`;

function memberOf(group: GroupRecord | undefined, groupId: string, me: MemberAddress): { group: GroupRecord; joinedSeq: number } {
  if (!group) throw new ChatError('unknown_group', `no group ${groupId}`);
  const member = group.members.find((m) => m.user === me.user && m.device === me.device);
  if (!member) throw new ChatError('not_group_member', `${text(me)} is not a member of group ${groupId}`);
  return { group, joinedSeq: member.joinedSeq };
}

export function groupHandlers(deps: GroupServiceDeps): Pick<HandlerTableV2, GroupEventName> {
  const { config, store, notifier } = deps;
  const limits = (): GroupWriteLimits => ({ quota: queueQuota(config), maxMembers: MAX_GROUP_MEMBERS, logMaxBytes: DEFAULT_GROUP_LOG_MAX_BYTES });
  const me = (conn: Parameters<typeof signedInAddress>[0]): MemberAddress => {
    const { username, device } = signedInAddress(conn);
    return { user: username, device };
  };

  /** Added devices are devices of their users' current lists: the server routes to nothing else. */
  async function refuseUnknownDevices(add: readonly GroupAddress[]): Promise<void> {
    for (const user of new Set(add.map((a) => a.user))) {
      if (!(await store.getUser(user))) throw new ChatError('unknown_user', `add: no user named "${user}"`);
      const listed = currentDevices(await store.getDeviceList(user));
      const stray = add.find((a) => a.user === user && !listed.includes(a.device));
      if (stray) throw new ChatError('unknown_device', `add: ${text(stray)} is not in ${user}'s device list`);
    }
  }

  /** The answer to a write, its references pushed to connected members first. */
  function settle(groupId: string, result: GroupWriteResult): { epoch: number; seq: number } {
    switch (result.status) {
      case 'accepted': {
        for (const q of result.deliveries) {
          const push = groupPushEnvelope(result.entry, groupRefOf(q)!.kind);
          notifier.stored(withPush(q, push), asCarriedEnvelope(push));
        }
        return { epoch: result.epoch, seq: result.entry.seq };
      }
      case 'unknown_group':
        throw new ChatError('unknown_group', `no group ${groupId}`);
      case 'not_member':
        throw new ChatError('not_group_member', `you are not a member of group ${groupId}`);
      case 'stale':
        throw new RefusalWithDetails('group_epoch_stale', `group ${groupId} is at epoch ${result.epoch}`, { epoch: result.epoch });
      case 'bad_members':
        throw new ChatError('bad_request', result.message);
      case 'group_limit':
        throw new ChatError('group_limit', result.message);
      case 'log_full':
        throw new ChatError('quota_exceeded', result.message);
      case 'quota_exceeded':
      case 'sender_quota_exceeded':
        throw new RefusalWithDetails(result.status, result.message, { to: result.to, device: result.device });
      case 'server_full':
        throw new ChatError('server_full', result.message);
    }
  }

  const writeBase = (from: MemberAddress, groupId: string, epoch: number) => {
    const sentAt = Date.now();
    return { groupId, from, epoch, sentAt, expiresAt: sentAt + config.queueTtlMs, newId: newServerId };
  };

  return {
    'group.create': {
      run: async (conn, p) => {
        const created = await store.createGroup(p.groupId, me(conn), Date.now(), MAX_GROUPS_PER_CREATOR);
        if (created === 'exists') throw new ChatError('group_exists', `a group ${p.groupId} exists already`);
        if (created === 'limit') throw new ChatError('group_limit', `you created the most groups the server keeps per user (${MAX_GROUPS_PER_CREATOR})`);
        return { epoch: 0 };
      },
    },
    'group.commit': {
      run: async (conn, p) => {
        const from = me(conn);
        await refuseUnknownDevices(p.add);
        const result = await store.commitGroup(
          { ...writeBase(from, p.groupId, p.epoch), commit: p.commit, ...(p.welcome !== undefined && { welcome: p.welcome }), add: p.add, remove: p.remove },
          limits(),
        );
        return settle(p.groupId, result);
      },
    },
    'group.send': {
      run: async (conn, p) => {
        const result = await store.sendGroupMessage({ ...writeBase(me(conn), p.groupId, p.epoch), message: p.message }, limits());
        return { seq: settle(p.groupId, result).seq };
      },
    },
    'group.sync': {
      run: async (conn, p) => {
        const { group, joinedSeq } = memberOf(await store.getGroup(p.groupId), p.groupId, me(conn));
        // A member reads from the commit that added it on: what came before was never its to read.
        const entries = await store.groupLog(p.groupId, Math.max(p.afterSeq, joinedSeq), GROUP_SYNC_BATCH, Date.now());
        return { messages: entries.map(logEntryWire), epoch: group.epoch };
      },
    },
    'group.info': {
      run: async (conn, p) => {
        const { group } = memberOf(await store.getGroup(p.groupId), p.groupId, me(conn));
        return { epoch: group.epoch, members: group.members.map(({ user, device }) => ({ user, device })) };
      },
    },
  };
}
