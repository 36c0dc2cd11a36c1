/**
 * One socket's life: its challenge, its address (user and device) and protocol once proven, its rate
 * limit, and the dispatch of its events to its protocol's handlers (design §5.1: the login fixes the
 * protocol; before it, a `register` or `login` says its own). Events start one at a time per connection and are answered in the order they were sent, so a
 * client's sends are stored and routed in the order it made them. A pipelined handler (send, ack) lets
 * the next event start once its write is submitted, so a connection's writes share group commits instead
 * of waiting for each other's fsync.
 */
import type { Server as SocketIOServer, Socket } from 'socket.io';
import type { z } from 'zod';
import type { Logger } from 'pino';
import {
  clientEventSchemasByProtocol,
  isClientEventNameOf,
  payloadProtocol,
  type ClientEventResult,
  type ClientEventResultV2,
  type ClientToServerEventsV2,
  type ParsedClientEvent,
  type ParsedClientEventV2,
} from '../protocol/client-event-schemas.js';
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import type { ClientEventName, ServerToClientEvents } from '../protocol/events.js';
import {
  LINKING_EVENTS,
  UNAUTHENTICATED_EVENTS_V2,
  type AckV2,
  type ClientEventNameV2,
  type ErrorDetails,
  type ProtocolVersion,
  type ServerToClientEventsV2,
} from '../protocol/events-v2.js';
import { asksForReceiptBatches } from '../protocol/receipt-batches.js';
import { TokenBucket } from './rate-limit.js';
import { newChallenge } from './auth.js';
import type { DeliveryPump } from './delivery.js';
import { RefusalWithDetails } from './refusal.js';

/** Sees every answer as it leaves (metrics.ts counts them). */
export type AnswerObserver = (event: string, protocol: ProtocolVersion, body: AckV2<object>) => void;

/** What the server keeps on a socket (`socket.data`), where a lookup through a room can find it. */
export interface ConnectionData {
  /** Delivery to this connection, once it is logged in. */
  pump?: DeliveryPump;
  /** Hands the connection every receipt its address is owed, again (a cluster node whose Redis came back). */
  owedReceipts?: () => void;
}

/** No events between server nodes yet: the adapter carries room broadcasts only. */
type InterServerEvents = Record<string, never>;

/**
 * What the server pushes: each event in either protocol's shape. Which one a connection gets is its
 * protocol's (a protocol-1 connection gets protocol 1's frames exactly, receipts.ts, relay.ts).
 */
type ServerToClientEventsOfEither = {
  [E in keyof ServerToClientEventsV2 | keyof ServerToClientEvents]: E extends keyof ServerToClientEventsV2
    ? E extends keyof ServerToClientEvents
      ? (payload: Parameters<ServerToClientEventsV2[E]>[0] | Parameters<ServerToClientEvents[E]>[0]) => void
      : ServerToClientEventsV2[E]
    : E extends keyof ServerToClientEvents
      ? ServerToClientEvents[E]
      : never;
};

/**
 * The Socket.IO server and its sockets, typed in both directions by the shared contract. Protocol 2's
 * client → server map holds protocol 1's events, so one typing serves every connection.
 */
export type ChatIO = SocketIOServer<ClientToServerEventsV2, ServerToClientEventsOfEither, InterServerEvents, ConnectionData>;
export type ChatSocket = Socket<ClientToServerEventsV2, ServerToClientEventsOfEither, InterServerEvents, ConnectionData>;

export interface ConnectionState {
  readonly socket: ChatSocket;
  challenge: string;
  username: string | null;
  /** The device this connection logged in as: 1 for every protocol-1 connection (design §5.9). */
  device: number | null;
  /** The protocol its login chose (design §5.1); null until it logs in. */
  protocol: ProtocolVersion | null;
  /**
   * True once it opened a link slot before logging in (design §6.3): until it logs in it may use only
   * LINKING_EVENTS, and its auth timeout is the slot's expiry.
   */
  linking: boolean;
  /** When its device's last-seen time was last recorded (0: never), so acks record it at most once a minute. */
  lastSeenRecordedAt: number;
  /** Its handshake asked for receipts in batches (docs/PROTOCOL.md §7.12); fixed for the connection's life. */
  readonly receiptBatches: boolean;
  readonly bucket: TokenBucket;
  authTimer: NodeJS.Timeout | null;
  /** Tail of this connection's event queue: the next event starts when this settles. */
  queue: Promise<void>;
  /** Tail of this connection's replies: acks leave in the order the events came. */
  replies: Promise<void>;
}

/**
 * A started event: `result` is its answer; `submitted` settles when the next event may start (for most
 * handlers, when the answer is known; for pipelined ones, when their write is queued in order).
 */
export interface Started<R extends object = object> {
  submitted: Promise<unknown>;
  result: Promise<R>;
}

/** A handler answered when its work is done; the connection's next event waits for it. */
export interface EventHandlerOf<P, R extends object> {
  run: (conn: ConnectionState, payload: P) => Promise<R>;
}

/** A handler that lets the connection's next event start before it finishes (send, ack). */
export interface PipelinedHandlerOf<P, R extends object> {
  /** Runs on the raw payload before the schema: for a refusal that must win over the schema's (size). */
  precheck?: (raw: unknown) => void;
  start: (conn: ConnectionState, payload: P) => Started<R>;
}

/**
 * One handler per client event of a protocol, no more, no fewer. There is no schema here: the
 * dispatcher parses every payload with the event's schema from the shared map of the protocol
 * (protocol/client-event-schemas.ts) before the handler sees it, so a handler cannot exist without one,
 * and its payload type is that schema's output.
 */
export type HandlerTable = {
  [E in ClientEventName]: EventHandlerOf<ParsedClientEvent<E>, ClientEventResult<E>> | PipelinedHandlerOf<ParsedClientEvent<E>, ClientEventResult<E>>;
};
export type HandlerTableV2 = {
  [E in ClientEventNameV2]:
    | EventHandlerOf<ParsedClientEventV2<E>, ClientEventResultV2<E>>
    | PipelinedHandlerOf<ParsedClientEventV2<E>, ClientEventResultV2<E>>;
};
/** The handlers of each protocol: a connection's events go to its protocol's table (design §5.1). */
export interface HandlerTables {
  1: HandlerTable;
  2: HandlerTableV2;
}

/** What the dispatcher sees of any handler once the event's schema has typed its payload. */
type AnyHandler = EventHandlerOf<never, object> | PipelinedHandlerOf<never, object>;

function parse(schema: z.ZodType, raw: unknown): unknown {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // docs/PROTOCOL.md §5: the message starts with the member path of the first problem; `payload` is the root.
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'payload';
    throw new ChatError('bad_request', `${where}: ${issue?.message ?? 'invalid payload'}`);
  }
  return parsed.data;
}

function failed(err: unknown): Started {
  const result = Promise.reject(err);
  return { submitted: result, result };
}

/**
 * Parses the payload by the event's schema in `protocol` and starts its handler; a refusal becomes a
 * failed start. The tables are typed per event against the very schema maps used here
 * (HandlerTable, HandlerTableV2), so the payload a handler receives is its schema's output.
 */
function startEvent(tables: HandlerTables, protocol: ProtocolVersion, event: ClientEventNameV2, conn: ConnectionState, raw: unknown): Started {
  const spec = (tables[protocol] as Record<string, AnyHandler>)[event]!;
  const schema = (clientEventSchemasByProtocol[protocol] as Record<string, z.ZodType>)[event]!;
  try {
    if ('start' in spec) {
      spec.precheck?.(raw);
      return spec.start(conn, parse(schema, raw) as never);
    }
    const result = spec.run(conn, parse(schema, raw) as never);
    return { submitted: result, result };
  } catch (err) {
    return failed(err);
  }
}

export function errorAck(code: ErrorCode, message: string, details?: ErrorDetails): AckV2<never> {
  return { ok: false, error: { code, message, ...(details && { details }) } };
}

/** Events this connection may use before it logs in (design §6.3): a linking connection's are fewer. */
function allowedBeforeLogin(conn: ConnectionState, event: string): boolean {
  return (conn.linking ? LINKING_EVENTS : UNAUTHENTICATED_EVENTS_V2).has(event);
}

export function createConnection(socket: ChatSocket, rate: number, burst: number, maxDelayMs: number): ConnectionState {
  return {
    socket,
    challenge: newChallenge(),
    username: null,
    device: null,
    protocol: null,
    linking: false,
    lastSeenRecordedAt: 0,
    receiptBatches: asksForReceiptBatches(socket.handshake.auth),
    bucket: new TokenBucket(rate, burst, maxDelayMs),
    authTimer: null,
    queue: Promise.resolve(),
    replies: Promise.resolve(),
  };
}

/**
 * Routes every incoming event through: ack extraction, rate limit, authentication gate, schema, handler.
 * Nothing a client sends escapes as an exception: unexpected faults become `internal` and are logged.
 */
export function dispatch(
  conn: ConnectionState,
  tables: HandlerTables,
  log: Logger,
  event: string,
  args: unknown[],
  observe?: AnswerObserver,
): void {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as (a: unknown) => void) : null;
  const payload = ack ? args.slice(0, -1)[0] : args[0];
  const reply = (body: AckV2<object>) => {
    if (ack) ack(body);
    else if (!body.ok) conn.socket.emit('protocol_error', { event: String(event).slice(0, 64), error: body.error });
  };

  // The token is reserved on arrival, but every answer, even a refusal, leaves through the connection's
  // queue: replies come back in the order events were sent, and the authentication gate sees the
  // outcome of a login sent just before.
  const delayMs = conn.bucket.reserve();
  // A deadline, not a duration: events queued behind a delayed one must not add their waits to its.
  const runAt = performance.now() + delayMs;
  const answer = (result: Promise<object>, protocol: ProtocolVersion = conn.protocol ?? 1) => {
    // The outcome is turned into a reply at once (so a refusal is never an unhandled rejection while
    // earlier replies are pending); only sending it waits for its turn.
    const body: Promise<AckV2<object>> = result.then(
      (ok) => ({ ok: true as const, ...ok }),
      (err: unknown) => {
        if (err instanceof RefusalWithDetails && protocol === 2) return errorAck(err.code, err.message, err.details);
        if (err instanceof ChatError) return errorAck(err.code, err.message);
        log.error({ err, event }, 'handler failed');
        return errorAck('internal', 'internal server error; nothing was changed');
      },
    );
    conn.replies = conn.replies.then(() =>
      body.then((b) => {
        observe?.(event, protocol, b);
        reply(b);
      }),
    );
  };
  conn.queue = conn.queue.then(async () => {
    if (delayMs < 0) return answer(Promise.reject(new ChatError('rate_limited', 'too many events; slow down')));
    const wait = runAt - performance.now();
    if (delayMs > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Before login every name of either protocol is known (the login will choose); after it, the
    // connection's protocol's names only: protocol 2's events are unknown on a protocol-1 connection.
    if (!isClientEventNameOf(conn.protocol ?? 2, event)) {
      return answer(Promise.reject(new ChatError('unknown_event', `no event named "${String(event).slice(0, 64)}"`)));
    }
    if (conn.username === null && !allowedBeforeLogin(conn, event)) {
      return answer(Promise.reject(new ChatError('not_authenticated', 'log in or register first')));
    }
    const protocol = payloadProtocol(conn.protocol, event, payload);
    const started = startEvent(tables, protocol, event, conn, payload);
    answer(started.result, protocol);
    await started.submitted.catch(() => undefined);
  });
}
