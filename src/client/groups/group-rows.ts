/**
 * Group and KeyPackage rows as JSON values (bytes as base64url), for stores that seal JSON: the Node
 * client's sealed rows (node/sealed-rows.ts) and anything else that keeps text. Decoding checks every
 * field, so a row that is not exactly what was written is refused, never half-read.
 */
import { base64urlDecode, base64urlEncode } from '../../crypto/bytes.js';
import type { Address } from '../address.js';
import type { GroupRow, GroupSummary, KeyPackageRow, PendingCommitRow, RefusedCommitRow, UnsentTextRow } from './group-store.js';

export const GROUP_ROW_FORMAT = 1;

function fail(what: string): never {
  throw new TypeError(`stored group row: ${what}`);
}
const bytes = (v: unknown, what: string) => (typeof v === 'string' ? base64urlDecode(v) : fail(`"${what}" expected base64url`));
const int = (v: unknown, what: string, min: number) => (Number.isSafeInteger(v) && (v as number) >= min ? (v as number) : fail(`"${what}" expected an integer ≥ ${min}`));
const addresses = (v: unknown, what: string): Address[] =>
  Array.isArray(v) ? v.map((a: { user?: unknown; device?: unknown }) => ({ user: typeof a?.user === 'string' ? a.user : fail(what), device: int(a?.device, what, 1) })) : fail(`"${what}" expected a list`);

export function groupRowToJson(row: GroupRow): unknown {
  const p = row.pending;
  return {
    v: GROUP_ROW_FORMAT,
    groupId: base64urlEncode(row.groupId),
    state: base64urlEncode(row.state),
    lastSeq: row.lastSeq,
    ...(p && {
      pending: {
        epoch: p.epoch,
        commit: base64urlEncode(p.commit),
        ...(p.welcome && { welcome: base64urlEncode(p.welcome) }),
        add: p.add.map((a) => ({ user: a.user, device: a.device })),
        remove: p.remove.map((a) => ({ user: a.user, device: a.device })),
        state: base64urlEncode(p.state),
      },
    }),
    ...(row.leaving && row.leaving.length > 0 && { leaving: [...row.leaving] }),
    ...(row.joinedEpoch !== undefined && { joinedEpoch: row.joinedEpoch }),
    ...(row.inactive && { inactive: true }),
    ...(row.unsent && row.unsent.length > 0 && { unsent: row.unsent.map((u) => ({ message: base64urlEncode(u.message), epoch: u.epoch, text: u.text, sentAt: u.sentAt })) }),
    ...(row.refusedCommit && {
      refusedCommit: { epoch: row.refusedCommit.epoch, seq: row.refusedCommit.seq, from: { user: row.refusedCommit.from.user, device: row.refusedCommit.from.device }, reason: row.refusedCommit.reason },
    }),
  };
}

export function groupRowFromJson(value: unknown): GroupRow {
  const o = (typeof value === 'object' && value !== null ? value : fail('not an object')) as Record<string, unknown>;
  if (o.v !== GROUP_ROW_FORMAT) fail(`unknown format ${String(o.v)}`);
  let pending: PendingCommitRow | undefined;
  if (o.pending !== undefined) {
    const p = o.pending as Record<string, unknown>;
    pending = {
      epoch: int(p.epoch, 'pending.epoch', 0),
      commit: bytes(p.commit, 'pending.commit'),
      ...(p.welcome !== undefined && { welcome: bytes(p.welcome, 'pending.welcome') }),
      add: addresses(p.add, 'pending.add'),
      remove: addresses(p.remove, 'pending.remove'),
      state: bytes(p.state, 'pending.state'),
    };
  }
  let refusedCommit: RefusedCommitRow | undefined;
  if (o.refusedCommit !== undefined) {
    const r = o.refusedCommit as Record<string, unknown>;
    const [from] = addresses([r.from], 'refusedCommit.from');
    refusedCommit = {
      epoch: int(r.epoch, 'refusedCommit.epoch', 0),
      seq: int(r.seq, 'refusedCommit.seq', 1),
      from: from!,
      reason: typeof r.reason === 'string' ? r.reason : fail('"refusedCommit.reason" expected text'),
    };
  }
  const unsent: UnsentTextRow[] | undefined =
    o.unsent === undefined
      ? undefined
      : Array.isArray(o.unsent)
        ? o.unsent.map((u: Record<string, unknown>, i) => ({
            message: bytes(u?.message, `unsent[${i}].message`),
            epoch: int(u?.epoch, `unsent[${i}].epoch`, 0),
            text: typeof u?.text === 'string' ? u.text : fail(`"unsent[${i}].text" expected text`),
            sentAt: int(u?.sentAt, `unsent[${i}].sentAt`, 0),
          }))
        : fail('"unsent" expected a list');
  const leaving = o.leaving === undefined ? undefined : Array.isArray(o.leaving) && o.leaving.every((u) => typeof u === 'string') ? (o.leaving as string[]) : fail('"leaving"');
  return {
    groupId: bytes(o.groupId, 'groupId'),
    state: bytes(o.state, 'state'),
    lastSeq: int(o.lastSeq, 'lastSeq', 0),
    ...(pending && { pending }),
    ...(leaving && { leaving }),
    ...(o.joinedEpoch !== undefined && { joinedEpoch: int(o.joinedEpoch, 'joinedEpoch', 0) }),
    ...(o.inactive === true && { inactive: true }),
    ...(refusedCommit && { refusedCommit }),
    ...(unsent && unsent.length > 0 && { unsent }),
  };
}

export function groupSummaryToJson(s: GroupSummary): unknown {
  return { groupId: base64urlEncode(s.groupId), ...(s.name !== undefined && { name: s.name }), inactive: s.inactive };
}

export function groupSummaryFromJson(value: unknown): GroupSummary {
  const o = (typeof value === 'object' && value !== null ? value : fail('summary')) as Record<string, unknown>;
  return { groupId: bytes(o.groupId, 'groupId'), name: typeof o.name === 'string' ? o.name : undefined, inactive: o.inactive === true };
}

export function keyPackageRowToJson(row: KeyPackageRow): unknown {
  return {
    v: GROUP_ROW_FORMAT,
    message: base64urlEncode(row.message),
    initPrivateKey: base64urlEncode(row.initPrivateKey),
    hpkePrivateKey: base64urlEncode(row.hpkePrivateKey),
    lastResort: row.lastResort,
    createdAt: row.createdAt,
  };
}

export function keyPackageRowFromJson(value: unknown): KeyPackageRow {
  const o = (typeof value === 'object' && value !== null ? value : fail('key package')) as Record<string, unknown>;
  if (o.v !== GROUP_ROW_FORMAT) fail(`unknown key package format ${String(o.v)}`);
  return {
    message: bytes(o.message, 'message'),
    initPrivateKey: bytes(o.initPrivateKey, 'initPrivateKey'),
    hpkePrivateKey: bytes(o.hpkePrivateKey, 'hpkePrivateKey'),
    lastResort: o.lastResort === true,
    createdAt: int(o.createdAt, 'createdAt', 0),
  };
}
