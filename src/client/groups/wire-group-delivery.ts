/**
 * The Delivery Service over the server connection: each GroupDelivery method is one event of
 * docs/design/groups-mls.md §5, its answer parsed by the shared schemas (ServerConnection.call) and
 * turned into bytes and numbers. Pushes (`group.message`, `group.welcome`) come in through the receive
 * loop (receive-loop.ts), which acknowledges them once handled; `toLogEntry` and `toWelcome` turn them
 * into the same values `group.sync` gives.
 */
import { base64urlDecode, base64urlEncode } from '../../crypto/bytes.js';
import type { GroupLogEntry as WireLogEntry, GroupWelcomeEvent } from '../../protocol/group-schemas.js';
import type { ServerConnection } from '../server-connection.js';
import type { GroupDelivery, GroupLogEntry, GroupWelcomeDelivery } from './group-delivery.js';

const b64 = base64urlEncode;

export function toLogEntry(e: WireLogEntry): GroupLogEntry {
  return { groupId: base64urlDecode(e.groupId), seq: e.seq, epoch: e.epoch, kind: e.kind, message: base64urlDecode(e.message), from: { user: e.from.user, device: e.from.device } };
}

export function toWelcome(e: GroupWelcomeEvent): GroupWelcomeDelivery {
  return { groupId: base64urlDecode(e.groupId), seq: e.seq, welcome: base64urlDecode(e.welcome), from: { user: e.from.user, device: e.from.device } };
}

export function wireGroupDelivery(connection: Pick<ServerConnection, 'call'>): GroupDelivery {
  return {
    createGroup: async (groupId) => {
      const { epoch } = await connection.call('group.create', { groupId: b64(groupId) });
      return { epoch };
    },
    commit: async (r) => {
      const { epoch, seq } = await connection.call('group.commit', {
        groupId: b64(r.groupId),
        epoch: r.epoch,
        commit: b64(r.commit),
        ...(r.welcome && { welcome: b64(r.welcome) }),
        add: r.add.map((a) => ({ user: a.user, device: a.device })),
        remove: r.remove.map((a) => ({ user: a.user, device: a.device })),
      });
      return { epoch, seq };
    },
    send: async (groupId, epoch, message) => {
      const { seq } = await connection.call('group.send', { groupId: b64(groupId), epoch, message: b64(message) });
      return { seq };
    },
    sync: async (groupId, afterSeq) => {
      const answer = await connection.call('group.sync', { groupId: b64(groupId), afterSeq });
      return { messages: answer.messages.map(toLogEntry), epoch: answer.epoch };
    },
    info: async (groupId) => {
      const answer = await connection.call('group.info', { groupId: b64(groupId) });
      return { epoch: answer.epoch, members: answer.members.map((m) => ({ user: m.user, device: m.device })) };
    },
    claimKeyPackages: async (user, listVersion) => {
      const answer = await connection.call('mls.keypackages.claim', { user, listVersion });
      return {
        // A user without a list has no devices a group could take (design §3): its claims never match ours.
        listVersion: answer.listVersion ?? 0,
        packages: answer.packages.map((p) => ({ device: p.device, keyPackage: base64urlDecode(p.keyPackage), lastResort: p.lastResort })),
      };
    },
    uploadKeyPackages: async (packages, lastResort) => {
      const { stored, oneTime } = await connection.call('mls.keypackages.upload', { packages: packages.map(b64), ...(lastResort && { lastResort: b64(lastResort) }) });
      return { stored, oneTime };
    },
    countKeyPackages: async () => {
      const { oneTime, lastResort } = await connection.call('mls.keypackages.count', {});
      return { oneTime, lastResort };
    },
  };
}
