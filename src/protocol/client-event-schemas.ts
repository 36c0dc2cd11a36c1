/**
 * The client → server half of the contract in one map: every client event, the schema its payload must
 * pass and the answer it gets. The server's dispatcher takes each event's schema from here (a handler
 * cannot be registered without one), the client types `call(event, payload)` from here, and the tests
 * build their oracle from here, so the three cannot drift apart. The other direction, and the schemas a
 * client checks answers with, are in server-event-schemas.ts.
 */
import type { z } from 'zod';
import { blobCreatePayloadSchema, type BlobCreateResult } from './blob-schemas.js';
import type { Ack, AckResult, ChallengeResult, ClientEventName, SendResult, SessionResult, UserKeys, UsersResult } from './events.js';
import { preKeysBundlePayloadSchema, preKeysUploadPayloadSchema, type PreKeyBundleWire, type PreKeyCountResult } from './prekey-schemas.js';
import { ackPayloadSchema, emptyPayloadSchema, keysPayloadSchema, loginPayloadSchema, registerPayloadSchema, sendPayloadSchema } from './schemas.js';

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
