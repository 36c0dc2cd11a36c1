/**
 * One socket's life: its challenge, its identity once proven, its rate limit, and the dispatch of its
 * events. Events run one at a time per connection, so a client's sends are routed in the order it made them.
 */
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import { UNAUTHENTICATED_EVENTS, type Ack } from '../protocol/events.js';
import type { Logger } from 'pino';
import { TokenBucket } from './rate-limit.js';
import { newChallenge } from './auth.js';
import type { DeliveryPump } from './delivery.js';

export interface ConnectionState {
  readonly socket: Socket;
  challenge: string;
  username: string | null;
  readonly bucket: TokenBucket;
  authTimer: NodeJS.Timeout | null;
  /** Tail of this connection's event queue. */
  queue: Promise<void>;
  /** Delivery to this connection, once it is logged in. */
  pump: DeliveryPump | null;
}

export type Handler = (conn: ConnectionState, payload: unknown) => Promise<object>;

export interface HandlerSpec<S extends z.ZodType> {
  schema: S;
  run: (conn: ConnectionState, payload: z.infer<S>) => Promise<object>;
}

/** Binds a schema to a handler: the payload is parsed before the handler ever sees it. */
export function handler<S extends z.ZodType>(spec: HandlerSpec<S>): Handler {
  return async (conn, raw) => {
    const parsed = spec.schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      throw new ChatError('bad_request', `${where}${issue?.message ?? 'invalid payload'}`);
    }
    return spec.run(conn, parsed.data);
  };
}

export function errorAck(code: ErrorCode, message: string): Ack<never> {
  return { ok: false, error: { code, message } };
}

export function createConnection(socket: Socket, rate: number, burst: number): ConnectionState {
  return {
    socket,
    challenge: newChallenge(),
    username: null,
    bucket: new TokenBucket(rate, burst),
    authTimer: null,
    queue: Promise.resolve(),
    pump: null,
  };
}

/**
 * Routes every incoming event through: ack extraction, rate limit, authentication gate, schema, handler.
 * Nothing a client sends escapes as an exception: unexpected faults become `internal` and are logged.
 */
export function dispatch(
  conn: ConnectionState,
  handlers: ReadonlyMap<string, Handler>,
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

  // The token is taken on arrival, but every answer, even a refusal, leaves through the connection's
  // queue: replies come back in the order events were sent, and the authentication gate sees the
  // outcome of a login sent just before.
  const allowed = conn.bucket.take();
  conn.queue = conn.queue.then(async () => {
    if (!allowed) return reply(errorAck('rate_limited', 'too many events; slow down'));
    const run = handlers.get(event);
    if (!run) return reply(errorAck('unknown_event', `no event named "${String(event).slice(0, 64)}"`));
    if (conn.username === null && !UNAUTHENTICATED_EVENTS.has(event)) {
      return reply(errorAck('not_authenticated', 'log in or register first'));
    }
    try {
      reply({ ok: true, ...(await run(conn, payload)) });
    } catch (err) {
      if (err instanceof ChatError) {
        reply(errorAck(err.code, err.message));
      } else {
        log.error({ err, event }, 'handler failed');
        reply(errorAck('internal', 'internal server error; nothing was changed'));
      }
    }
  });
}
