/**
 * The types of the hostile-server harness (hostile-server.ts) for both protocols: what the real server
 * answers to each client event and what it pushes, on a protocol-1 connection, on a protocol-2 one, or
 * on either (docs/PROTOCOL.md §19; the v2 shapes are src/protocol/events-v2.ts's).
 */
import type {
  Ack,
  AckResult,
  ChallengeResult,
  ClientEventName,
  SendResult,
  ServerToClientEvents,
  SessionResult,
  UserKeys,
  UsersResult,
} from '../../src/protocol/events.js';
import type { AckV2, ClientEventNameV2, ClientEventResultsV2, ServerToClientEventsV2 } from '../../src/protocol/events-v2.js';
import type { BlobCreateResult } from '../../src/protocol/blob-schemas.js';
import type { PreKeyBundleWire, PreKeyCountResult } from '../../src/protocol/prekey-schemas.js';

export type Protocol = 1 | 2;

/** What the real server answers to each client event on a protocol-1 connection (a rewrite may return anything at all). */
export interface RealAnswersV1 {
  challenge: Ack<ChallengeResult>;
  register: Ack<SessionResult>;
  login: Ack<SessionResult>;
  keys: Ack<UserKeys>;
  users: Ack<UsersResult>;
  send: Ack<SendResult>;
  ack: Ack<AckResult>;
  'prekeys.upload': Ack<PreKeyCountResult>;
  'prekeys.count': Ack<PreKeyCountResult>;
  'prekeys.bundle': Ack<PreKeyBundleWire>;
  'blob.create': Ack<BlobCreateResult>;
}

/** What it answers on a protocol-2 connection: `send` with `deliveries`, `prekeys.bundle` with `bundles`, the device and link events. */
export type RealAnswersV2 = { [E in ClientEventNameV2]: AckV2<ClientEventResultsV2[E]> };

/** Either protocol's answer: what a hook sees when it did not name a protocol. */
export type RealAnswers = { [E in ClientEventNameV2]: (E extends ClientEventName ? RealAnswersV1[E] : never) | RealAnswersV2[E] };

/** The answers of connections of protocol P; `undefined`: of either. */
export type AnswersOf<P extends Protocol | undefined> = [P] extends [1] ? RealAnswersV1 : [P] extends [2] ? RealAnswersV2 : RealAnswers;

/** Events the server pushes on protocol 1 (and, with more members, on protocol 2). */
export type PushEvent = keyof ServerToClientEvents;
/** Events it pushes on protocol 2: protocol 1's and the device and link events. */
export type PushEventV2 = keyof ServerToClientEventsV2;
type Payload<Events, E> = E extends keyof Events ? (Events[E] extends (p: infer T) => void ? T : never) : never;
/**
 * The payload a hook without `only` sees: protocol 1's shape for the events both protocols push (protocol
 * 2's extends it with `fromDevice`/`toDevice`, and a receipt may also say `removed`), protocol 2's for the others.
 */
export type PushPayload<E extends PushEventV2> = E extends PushEvent ? Payload<ServerToClientEvents, E> : Payload<ServerToClientEventsV2, E>;
/** The payload exactly as a protocol-2 connection gets it. */
export type PushPayloadV2<E extends PushEventV2> = Payload<ServerToClientEventsV2, E>;
export type PushPayloadOf<P extends Protocol | undefined, E extends PushEventV2> = [P] extends [2] ? PushPayloadV2<E> : PushPayload<E>;

/** Runs a hook only on connections of one protocol. */
export interface OnlyProtocol<P extends Protocol> {
  protocol: P;
}
