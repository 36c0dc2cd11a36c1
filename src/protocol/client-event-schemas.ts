/**
 * The client → server half of the contract in one map: every client event, the schema its payload must
 * pass and the answer it gets. The server's dispatcher takes each event's schema from here (a handler
 * cannot be registered without one), the client types `call(event, payload)` from here, and the tests
 * build their oracle from here, so the three cannot drift apart. The other direction, and the schemas a
 * client checks answers with, are in server-event-schemas.ts.
 *
 * One map per protocol: `clientEventSchemas` for v1 connections, `clientEventSchemasV2` for v2 ones,
 * chosen by the connection's login (`clientEventSchemasByProtocol`, `payloadProtocol`).
 */
import type { z } from 'zod';
import { blobCreatePayloadSchema, type BlobCreateResult } from './blob-schemas.js';
import type { Ack, AckResult, ChallengeResult, ClientEventName, SendResult, SessionResult, UserKeys, UsersResult } from './events.js';
import type { AckV2, ClientEventNameV2, ClientEventResultsV2, ProtocolVersion } from './events-v2.js';
import {
  groupCommitPayloadSchema,
  groupCreatePayloadSchema,
  groupInfoPayloadSchema,
  groupSendPayloadSchema,
  groupSyncPayloadSchema,
  keyPackagesClaimPayloadSchema,
  keyPackagesUploadPayloadSchema,
} from './group-schemas.js';
import { linkClosePayloadSchema, linkJoinPayloadSchema, linkOpenPayloadSchema, linkSendPayloadSchema } from './link-schemas.js';
import { preKeysBundlePayloadSchema, preKeysUploadPayloadSchema, type PreKeyBundleWire, type PreKeyCountResult } from './prekey-schemas.js';
import { ackPayloadSchema, emptyPayloadSchema, keysPayloadSchema, loginPayloadSchema, registerPayloadSchema, sendPayloadSchema } from './schemas.js';
import {
  devicesListPayloadSchema,
  devicesPublishPayloadSchema,
  loginV2PayloadSchema,
  preKeysBundleV2PayloadSchema,
  registerV2PayloadSchema,
  sendV2PayloadSchema,
} from './v2-schemas.js';

/** Every client event and the schema of its one argument. */
export const clientEventSchemas = {
  challenge: emptyPayloadSchema,
  register: registerPayloadSchema,
  login: loginPayloadSchema,
  keys: keysPayloadSchema,
  users: emptyPayloadSchema,
  send: sendPayloadSchema,
  ack: ackPayloadSchema,
  'prekeys.upload': preKeysUploadPayloadSchema,
  'prekeys.count': emptyPayloadSchema,
  'prekeys.bundle': preKeysBundlePayloadSchema,
  'blob.create': blobCreatePayloadSchema,
} as const satisfies Record<ClientEventName, z.ZodType>;

/** What a client may put on the wire for an event (the schema's input: optional members may be left out). */
export type ClientEventPayload<E extends ClientEventName> = z.input<(typeof clientEventSchemas)[E]>;

/** What a handler receives for an event, once its schema has parsed the payload. */
export type ParsedClientEvent<E extends ClientEventName> = z.output<(typeof clientEventSchemas)[E]>;

/** The members of each event's ok-answer, beside `ok: true`, as the server writes them. */
export interface ClientEventResults {
  challenge: ChallengeResult;
  register: SessionResult;
  login: SessionResult;
  keys: UserKeys;
  users: UsersResult;
  send: SendResult;
  ack: AckResult;
  'prekeys.upload': PreKeyCountResult;
  'prekeys.count': PreKeyCountResult;
  'prekeys.bundle': PreKeyBundleWire;
  'blob.create': BlobCreateResult;
}

export type ClientEventResult<E extends ClientEventName> = ClientEventResults[E];

/**
 * Socket.IO's typing of the client → server direction: every event carries its payload and an ack
 * callback that gets the event's `Ack`. (A server must still parse what arrives: these types are what an
 * honest client sends, not a guarantee about the wire.)
 */
export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: ClientEventPayload<E>, ack: (answer: Ack<ClientEventResult<E>>) => void) => void;
};

const clientEventNames: ReadonlySet<string> = new Set(Object.keys(clientEventSchemas));

/** Narrows an event name read off the wire. */
export function isClientEventName(event: string): event is ClientEventName {
  return clientEventNames.has(event);
}

// ---------------------------------------------------------------------------------------------------
// Protocol 2 (docs/design/devices-v2.md §5). A connection's login fixes its protocol (§5.1), and from
// then on its events are parsed with that protocol's map (`clientEventSchemasByProtocol`).

/** Every client event of a protocol-2 connection and the schema of its one argument. */
export const clientEventSchemasV2 = {
  ...clientEventSchemas,
  register: registerV2PayloadSchema,
  login: loginV2PayloadSchema,
  send: sendV2PayloadSchema,
  'prekeys.bundle': preKeysBundleV2PayloadSchema,
  'devices.list': devicesListPayloadSchema,
  'devices.publish': devicesPublishPayloadSchema,
  'link.open': linkOpenPayloadSchema,
  'link.join': linkJoinPayloadSchema,
  'link.send': linkSendPayloadSchema,
  'link.close': linkClosePayloadSchema,
  'mls.keypackages.upload': keyPackagesUploadPayloadSchema,
  'mls.keypackages.count': emptyPayloadSchema,
  'mls.keypackages.claim': keyPackagesClaimPayloadSchema,
  'group.create': groupCreatePayloadSchema,
  'group.commit': groupCommitPayloadSchema,
  'group.send': groupSendPayloadSchema,
  'group.sync': groupSyncPayloadSchema,
  'group.info': groupInfoPayloadSchema,
} as const satisfies Record<ClientEventNameV2, z.ZodType>;

/** The payload schemas of each protocol. v1's map is the one v1 connections have always used. */
export const clientEventSchemasByProtocol = { 1: clientEventSchemas, 2: clientEventSchemasV2 } as const satisfies Record<ProtocolVersion, Record<string, z.ZodType>>;

export type ClientEventPayloadV2<E extends ClientEventNameV2> = z.input<(typeof clientEventSchemasV2)[E]>;
export type ParsedClientEventV2<E extends ClientEventNameV2> = z.output<(typeof clientEventSchemasV2)[E]>;
export type ClientEventResultV2<E extends ClientEventNameV2> = ClientEventResultsV2[E];

/** Socket.IO's typing of the client → server direction on a protocol-2 connection. */
export type ClientToServerEventsV2 = {
  [E in ClientEventNameV2]: (payload: ClientEventPayloadV2<E>, ack: (answer: AckV2<ClientEventResultV2<E>>) => void) => void;
};

const clientEventNamesV2: ReadonlySet<string> = new Set(Object.keys(clientEventSchemasV2));

/** Narrows an event name read off the wire to one of the events of `protocol`. */
export function isClientEventNameOf(protocol: 1, event: string): event is ClientEventName;
export function isClientEventNameOf(protocol: ProtocolVersion, event: string): event is ClientEventNameV2;
export function isClientEventNameOf(protocol: ProtocolVersion, event: string): boolean {
  return (protocol === 1 ? clientEventNames : clientEventNamesV2).has(event);
}

/**
 * The protocol whose schema parses an event's payload. Once logged in, the connection's. Before, a
 * `register` or `login` says its own: a `protocol` member makes it v2 (whose schema then demands 2), none
 * makes it v1, as every v1 client sends it; the other events open before login (`challenge`, `link.*`)
 * are read as v2, whose `challenge` is v1's.
 */
export function payloadProtocol(connection: ProtocolVersion | null, event: string, payload: unknown): ProtocolVersion {
  if (connection !== null) return connection;
  if (event !== 'register' && event !== 'login') return 2;
  return typeof payload === 'object' && payload !== null && Object.hasOwn(payload, 'protocol') ? 2 : 1;
}
