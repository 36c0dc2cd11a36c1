/**
 * Output scripts can read (`--json`): NDJSON, one JSON object per line on stdout, nothing else on stdout
 * (human notices stay on stderr). Every object has a `type`; each type has the fixed shape below, with
 * `null` for a field that does not apply, so a script can read fields without checking for their presence.
 * The README's "Scripting" section documents the same shapes; keep the two in step.
 */
import type { ErrorCode } from '../protocol/errors.js';
import type { RejectReason } from '../protocol/events.js';

/** An incoming message, shown once (receive). */
export interface MessageLine {
  type: 'message';
  id: string;
  serverId: string | null;
  from: string;
  to: string;
  /** The sender's clock, as signed (ms since the epoch). */
  sentAt: number;
  /** The server's clock when it accepted the message (ms since the epoch). */
  receivedAt: number | null;
  body: string;
}

/** An envelope that could not be read: incoming (`direction` "in", receive) or a receipt for one we sent ("out", send and receive). */
export interface UnreadableLine {
  type: 'unreadable';
  direction: 'in' | 'out';
  /** out: our message id; in: null (the sender's id is inside the ciphertext). */
  id: string | null;
  serverId: string | null;
  from: string;
  to: string;
  reason: RejectReason;
  /** in: kept sealed until `e2ee-chat trust <from>` (reason peer_key_changed); out: null. */
  held: boolean | null;
  /** in: when the server accepted it; out: when the receipt was made (ms since the epoch). */
  at: number;
}

/** The server accepted an outgoing message (send): `status` sent (pushed to a device), queued, or outbox (server unreachable, kept). */
export interface SentLine {
  type: 'sent';
  id: string;
  to: string;
  status: 'sent' | 'queued' | 'outbox';
}

/**
 * A delivery receipt: a device of `to` stored message `id` (send and receive). Receipts per device
 * (protocol 2) add the device that stored it (null if the receipt did not say) and how many of `to`'s
 * devices have the message out of those it went to; receipts that name no device have none of the three.
 */
export interface DeliveredLine {
  type: 'delivered';
  id: string;
  to: string;
  deliveredAt: number;
  device?: number | null;
  delivered?: number;
  of?: number;
}

/** A read receipt: `to`'s client showed them message `id` (receive). */
export interface ReadLine {
  type: 'read';
  id: string;
  to: string;
  /** The reader's clock when their client sent the receipt (ms since the epoch). */
  readAt: number;
}

/** A failure: per input line of send (`line` set), or the error the command exits with (`line` null). */
export interface ErrorLine {
  type: 'error';
  code: string;
  message: string;
  line: number | null;
}

/** One stored message of a conversation (history), oldest first. */
export interface HistoryLine {
  type: 'history';
  id: string;
  direction: 'in' | 'out';
  from: string;
  to: string;
  sentAt: number;
  /** The server's clock for the message, once known. */
  serverTime: number | null;
  /** out: outbox, sent, queued, delivered, read, unreadable, failed; in: received, unreadable. */
  status: string;
  reason: RejectReason | null;
  /** Why a failed outgoing message failed, while its outbox entry is still listed. */
  error: { code: ErrorCode; message: string } | null;
  body: string;
}

/** An online user (users). */
export interface UserLine {
  type: 'user';
  username: string;
}

/** A key set (keys): `self` true for the user's own keys, false for a pinned peer. */
export interface KeysLine {
  type: 'keys';
  username: string;
  self: boolean;
  /** self: the private keys are sealed with a passphrase; peers: null. */
  passphraseProtected: boolean | null;
  /** peers: compared out of band; self: null. */
  verified: boolean | null;
  /** peers: when the keys were pinned (ms since the epoch); self: null. */
  pinnedAt: number | null;
  /** RFC 7638 SHA-256 thumbprints, base64url, and the same as hex groups as `keys` prints them. */
  signingKeyThumbprint: string;
  encryptionKeyThumbprint: string;
  signingFingerprint: string;
  encryptionFingerprint: string;
}

/** An outbox entry (outbox). */
export interface OutboxLine {
  type: 'outbox';
  id: string;
  to: string;
  createdAt: number;
  attempts: number;
  state: 'pending' | 'failed';
  error: { code: ErrorCode; message: string; at: number } | null;
}

/**
 * A file (receive, send): `direction` in, one received (after its `message` line) and saved at `path`,
 * or not (`path` null, `error` says why); out, one sent from `path`. `id` is the message's id.
 */
export interface FileLine {
  type: 'file';
  direction: 'in' | 'out';
  id: string;
  from: string;
  to: string;
  /** The name the sender gave (raw); the saved file's name is the last part of `path`. */
  name: string;
  size: number;
  contentType: string | null;
  path: string | null;
  error: { code: string; message: string } | null;
}

/**
 * One of the user's devices (devices), from its verified list: `addedAt` as signed (null for a user
 * without a list), `lastSeenAt` the server's unsigned word (null: never seen), `current` this device.
 */
export interface DeviceLine {
  type: 'device';
  device: number;
  name: string;
  addedAt: number | null;
  lastSeenAt: number | null;
  current: boolean;
}

/**
 * The link code a new device prints (link): type it on the primary. `keyFingerprint` is the first four
 * groups of this device's signing-key fingerprint, which the primary shows too; `uri` is what the QR
 * code encodes; `expiresAt` the server's slot expiry (ms since the epoch).
 */
export interface LinkCodeLine {
  type: 'link-code';
  username: string;
  code: string;
  uri: string;
  keyFingerprint: string;
  expiresAt: number;
}

/**
 * A device joined the account (link, on the new device; devices approve, on the primary): its id, its
 * name, the first groups of its key's fingerprint, and the list version that added it. `history`: how
 * many of the primary's messages go to the new device as history (approve: queued for it; link: what the
 * primary announced), 0 without --history.
 */
export interface LinkedLine {
  type: 'linked';
  username: string;
  device: number;
  name: string;
  keyFingerprint: string;
  version: number;
  history: number;
}

/**
 * The history a newly linked device received from its primary (link, after `linked`, when the primary
 * sent some): `count` messages recorded, of the `expected` the primary announced (fewer when the wait
 * ended first: the rest come with the next receive).
 */
export interface HistoryReceivedLine {
  type: 'history-received';
  username: string;
  count: number;
  expected: number;
}

/** A device was removed from the account (devices remove), by the list version `version`. */
export interface RemovedDeviceLine {
  type: 'removed-device';
  username: string;
  device: number;
  name: string;
  version: number;
}

/** An outbox entry removed by `outbox --drop` / `--drop-failed`. */
export interface DroppedLine {
  type: 'dropped';
  id: string;
}

/** A member device, as the group lines name it. */
export interface MemberJson {
  user: string;
  device: number;
}

/**
 * A text in a group (receive, chat --group, history --group): `direction` out for one this device sent;
 * `from`/`device` the sender's device as MLS authenticated it; `seq` its place in the group's order;
 * `group` the group's name (null: it has none).
 */
export interface GroupMessageLine {
  type: 'group-message';
  id: string;
  groupId: string;
  group: string | null;
  direction: 'in' | 'out';
  from: string;
  device: number;
  seq: number;
  /** The sender's clock, inside the encryption (ms since the epoch). */
  sentAt: number;
  body: string;
}

/** A group's membership changed as this device applied it: `joined` this device joined, `left` it is no longer a member. */
export interface GroupChangeLine {
  type: 'group-membership';
  id: string;
  groupId: string;
  group: string | null;
  epoch: number;
  added: MemberJson[];
  removed: MemberJson[];
  joined: boolean;
  left: boolean;
  /** This device's clock when it applied the change. */
  at: number;
}

/** A group message this device refused (forged or unlisted sender, replay, not decryptable). */
export interface GroupRefusedLine {
  type: 'group-refused';
  groupId: string;
  seq: number;
  from: string;
  device: number;
  code: string;
  message: string;
}

/** A group this device holds (group list, group create): `active` false once it left or was removed. */
export interface GroupLine {
  type: 'group';
  groupId: string;
  name: string | null;
  active: boolean;
}

/**
 * One group in detail (group info): `members` as this device's MLS state says; `self` this device;
 * `routing` the difference between the server's routing list and the roster (`missing`: members the
 * server does not route to; `extra`: devices it routes to that are not members), null when not asked
 * (the group is inactive or the server unreachable).
 */
export interface GroupInfoLine {
  type: 'group-info';
  groupId: string;
  name: string | null;
  active: boolean;
  epoch: number | null;
  self: MemberJson;
  members: MemberJson[];
  routing: { missing: MemberJson[]; extra: MemberJson[] } | null;
  /** This device refused the commit that ended its epoch, and the server went on with it (null: not so). */
  forked: { seq: number; from: MemberJson; reason: string } | null;
}

/** A text this device sent to a group (send --group): `seq` its place in the group's order. */
export interface GroupSentLine {
  type: 'group-sent';
  groupId: string;
  group: string | null;
  seq: number;
}

export type OutputLine = GroupMessageLine | GroupChangeLine | GroupRefusedLine | GroupLine | GroupInfoLine | GroupSentLine | MessageLine | UnreadableLine | SentLine | DeliveredLine | ReadLine | ErrorLine | HistoryLine | UserLine | KeysLine | OutboxLine | DroppedLine | FileLine | DeviceLine | LinkCodeLine | LinkedLine | HistoryReceivedLine | RemovedDeviceLine;

/**
 * Characters JSON.stringify leaves raw that could still act on a terminal a script prints to, or split a
 * line for a reader that treats U+2028/U+2029 as line ends: C1 controls and DEL, the line and paragraph
 * separators, bidi controls. Outside strings JSON text has none of them, so escaping them everywhere as
 * \uXXXX keeps the same parsed value.
 */
const RAW_BUT_RISKY = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function jsonLine(line: OutputLine): string {
  return JSON.stringify(line).replace(RAW_BUT_RISKY, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

let jsonMode = false;

/** Set once the command's options are parsed: main.ts then reports the exit error as an error line too. */
export function setJsonOutput(enabled: boolean): void {
  jsonMode = enabled;
}

export function jsonOutput(): boolean {
  return jsonMode;
}

export function writeJson(line: OutputLine): void {
  process.stdout.write(jsonLine(line));
}

/** Help text shared by the commands that take --json. */
export const JSON_HELP = 'print NDJSON on stdout (one JSON object per line, described below); notices stay on stderr';
