/**
 * One socket's life: its challenge, its identity once proven, its rate limit, and the dispatch of its
 * events. Events start one at a time per connection and are answered in the order they were sent, so a
 * client's sends are stored and routed in the order it made them. A pipelined handler (send, ack) lets
 * the next event start once its write is submitted, so a connection's writes share group commits instead
 * of waiting for each other's fsync.
 */
import type { Server as SocketIOServer, Socket } from 'socket.io';
import type { z } from 'zod';
import type { Logger } from 'pino';
import {
  clientEventSchemas,
  isClientEventName,
  type ClientEventResult,
  type ClientToServerEvents,
  type ParsedClientEvent,
} from '../protocol/client-event-schemas.js';
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import { UNAUTHENTICATED_EVENTS, type Ack, type ClientEventName, type ServerToClientEvents } from '../protocol/events.js';
import { TokenBucket } from './rate-limit.js';
import { newChallenge } from './auth.js';
import type { DeliveryPump } from './delivery.js';

/** The Socket.IO server and its sockets, typed in both directions by the shared contract. */
export type ChatIO = SocketIOServer<ClientToServerEvents, ServerToClientEvents>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface ConnectionState {
  readonly socket: ChatSocket;
  challenge: string;
  username: string | null;
  readonly bucket: TokenBucket;
  authTimer: NodeJS.Timeout | null;
  /** Tail of this connection's event queue: the next event starts when this settles. */
  queue: Promise<void>;
  /** Tail of this connection's replies: acks leave in the order the events came. */
  replies: Promise<void>;
  /** Delivery to this connection, once it is logged in. */
  pump: DeliveryPump | null;
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
export interface EventHandler<E extends ClientEventName> {
  run: (conn: ConnectionState, payload: ParsedClientEvent<E>) => Promise<ClientEventResult<E>>;
}

/** A handler that lets the connection's next event start before it finishes (send, ack). */
export interface PipelinedEventHandler<E extends ClientEventName> {
  /** Runs on the raw payload before the schema: for a refusal that must win over the schema's (size). */
  precheck?: (raw: unknown) => void;
  start: (conn: ConnectionState, payload: ParsedClientEvent<E>) => Started<ClientEventResult<E>>;
}

/**
 * One handler per client event, no more, no fewer. There is no schema here: the dispatcher parses every
 * payload with the event's schema from the shared map (protocol/client-event-schemas.ts) before the
 * handler sees it, so a handler cannot exist without one, and its payload type is that schema's output.
 */
export type HandlerTable = { [E in ClientEventName]: EventHandler<E> | PipelinedEventHandler<E> };

function parse<E extends ClientEventName>(event: E, raw: unknown): ParsedClientEvent<E> {
  const parsed = (clientEventSchemas[event] as z.ZodType).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // docs/PROTOCOL.md §5: the message starts with the member path of the first problem; `payload` is the root.
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'payload';
    throw new ChatError('bad_request', `${where}: ${issue?.message ?? 'invalid payload'}`);
  }
  // TypeScript does not reduce zod's output type of a schema picked by a generic key; the schema used
  // above is the very entry ParsedClientEvent<E> is defined from.
  return parsed.data as ParsedClientEvent<E>;
}

function failed(err: unknown): Started {
  const result = Promise.reject(err);
  return { submitted: result, result };
}

/** Parses the payload by the event's schema and starts its handler; a refusal becomes a failed start. */
function startEvent<E extends ClientEventName>(handlers: HandlerTable, event: E, conn: ConnectionState, raw: unknown): Started {
  const spec: HandlerTable[E] = handlers[event];
  try {
    if ('start' in spec) {
      spec.precheck?.(raw);
      return spec.start(conn, parse(event, raw));
    }
    const result = spec.run(conn, parse(event, raw));
    return { submitted: result, result };
  } catch (err) {
    return failed(err);
  }
}

export function errorAck(code: ErrorCode, message: string): Ack<never> {
  return { ok: false, error: { code, message } };
}

export function createConnection(socket: ChatSocket, rate: number, burst: number, maxDelayMs: number): ConnectionState {
  return {
    socket,
    challenge: newChallenge(),
    username: null,
    bucket: new TokenBucket(rate, burst, maxDelayMs),
    authTimer: null,
    queue: Promise.resolve(),
    replies: Promise.resolve(),
    pump: null,
  };
}

/**
 * Routes every incoming event through: ack extraction, rate limit, authentication gate, schema, handler.
 * Nothing a client sends escapes as an exception: unexpected faults become `internal` and are logged.
 */
export function dispatch(
  conn: ConnectionState,
  handlers: HandlerTable,
  log: Logger,
  event: string,
  args: unknown[],
): void {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as (a: unknown) => void) : null;
  const payload = ack ? args.slice(0, -1)[0] : args[0];
  const reply = (body: Ack<object>) => {
    if (ack) ack(body);
    else if (!body.ok) conn.socket.emit('protocol_error', { event: String(event).slice(0, 64), error: body.error });
  };

  // The token is reserved on arrival, but every answer, even a refusal, leaves through the connection's
  // queue: replies come back in the order events were sent, and the authentication gate sees the
  // outcome of a login sent just before.
  const delayMs = conn.bucket.reserve();
  // A deadline, not a duration: events queued behind a delayed one must not add their waits to its.
  const runAt = performance.now() + delayMs;
  const answer = (result: Promise<object>) => {
    // The outcome is turned into a reply at once (so a refusal is never an unhandled rejection while
    // earlier replies are pending); only sending it waits for its turn.
    const body: Promise<Ack<object>> = result.then(
      (ok) => ({ ok: true as const, ...ok }),
      (err: unknown) => {
        if (err instanceof ChatError) return errorAck(err.code, err.message);
        log.error({ err, event }, 'handler failed');
        return errorAck('internal', 'internal server error; nothing was changed');
      },
    );
    conn.replies = conn.replies.then(() => body.then(reply));
  };
  conn.queue = conn.queue.then(async () => {
    if (delayMs < 0) return answer(Promise.reject(new ChatError('rate_limited', 'too many events; slow down')));
    const wait = runAt - performance.now();
    if (delayMs > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (!isClientEventName(event)) return answer(Promise.reject(new ChatError('unknown_event', `no event named "${String(event).slice(0, 64)}"`)));
    if (conn.username === null && !UNAUTHENTICATED_EVENTS.has(event)) {
      return answer(Promise.reject(new ChatError('not_authenticated', 'log in or register first')));
    }
    const started = startEvent(handlers, event, conn, payload);
    answer(started.result);
    await started.submitted.catch(() => undefined);
  });
}
