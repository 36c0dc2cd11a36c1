/**
 * The reference row a group log entry leaves in a member device's queue (group-records.ts). It is an
 * ordinary queue row (seq, id, expiry, quotas, ack) whose `envelope` is `{"groupRef":…}`, naming the log
 * entry instead of holding its bytes, and whose client id is `group:<groupId>:<seq>:<kind>`.
 *
 * Neither can come from a client: client ids are base64url (no ':'), and every client envelope is a
 * strict object with a `type` member (protocol/schemas.ts). The client-id marker is how the stores know
 * that settling such a row owes no receipt (a receipt is a 1:1 sender's business; group members learn of
 * delivery nothing, design §4.5).
 */
import type { EnqueueInput } from './server-store.js';

/** What a reference row delivers: the log entry itself, or the Welcome of the commit at that seq. */
export type GroupDeliveryKind = 'message' | 'welcome';

export interface GroupRef {
  groupId: string;
  seq: number;
  kind: GroupDeliveryKind;
}

/** What every group reference's client id starts with (and no client's can: base64url has no ':'). */
export const GROUP_REF_CLIENT_ID_PREFIX = 'group:';

export const groupRefClientId = (ref: GroupRef): string => `${GROUP_REF_CLIENT_ID_PREFIX}${ref.groupId}:${ref.seq}:${ref.kind}`;

/** True for the client id of a group reference row: settling it owes no receipt. */
export const isGroupRefClientId = (clientId: string): boolean => clientId.startsWith(GROUP_REF_CLIENT_ID_PREFIX);

export const groupRefEnvelope = (ref: GroupRef): string => JSON.stringify({ groupRef: ref });

/** The reference a queue row holds, or undefined for an ordinary envelope. */
export function groupRefOf(row: Pick<EnqueueInput, 'clientId' | 'envelope'>): GroupRef | undefined {
  if (!isGroupRefClientId(row.clientId)) return undefined;
  return (JSON.parse(row.envelope) as { groupRef: GroupRef }).groupRef;
}
