/**
 * Asking the server and hearing from it over one Socket.IO socket, with every answer and every pushed
 * event parsed by the shared schemas (src/protocol/server-event-schemas.ts) before anything reads it.
 * ServerConnection (a logged-in device) and LinkConnection (a device being linked, not logged in) both
 * talk through these two functions, so neither can forget a check the other makes.
 */
import type { Socket } from 'socket.io-client';
import type { ClientEventPayloadV2 } from '../protocol/client-event-schemas.js';
import { ChatError } from '../protocol/errors.js';
import type { ClientEventNameV2 } from '../protocol/events-v2.js';
import {
  answerSchemasV2,
  serverErrorV2Schema,
  serverEventSchemasV2,
  type AnswerOfV2,
  type ServerEventNameV2,
  type ServerEventOfV2,
} from '../protocol/server-event-schemas.js';
import { DevicesChangedError } from './devices-changed-error.js';
import { GroupEpochStaleError } from './groups/group-delivery.js';

/**
 * Sends a client event and returns the server's answer, parsed by its schema: a malformed answer is a
 * ChatError 'bad_response', a refusal the ChatError the server named, no answer in time 'timeout', the
 * connection lost before the answer 'not_connected'.
 * Whether the answer is about what was asked is the caller's check.
 */
export async function callServer<E extends ClientEventNameV2>(
  socket: Socket,
  event: E,
  payload: ClientEventPayloadV2<E>,
  ackTimeoutMs: number,
): Promise<{ ok: true } & AnswerOfV2<E>> {
  if (!socket.connected) throw new ChatError('not_connected', 'not connected to the server');
  let ack: unknown;
  try {
    ack = await socket.timeout(ackTimeoutMs).emitWithAck(event, payload);
  } catch (cause) {
    // Socket.IO fails a pending call at once when the connection drops: that is no timeout, and saying
    // so would send whoever reads the log looking for a slow server.
    if (!socket.connected) throw new ChatError('not_connected', `the connection was lost before the server answered "${event}"`, { cause });
    throw new ChatError('timeout', `the server did not answer "${event}" within ${ackTimeoutMs} ms`, { cause });
  }
  return parseAnswer(event, ack);
}

/**
 * Subscribes to a server event; returns the unsubscribe function. Each frame is parsed by its schema
 * first; one that fails is passed to `onMalformed` and dropped (a hostile or broken server must not be
 * able to crash the client).
 */
export function onServerEvent<E extends ServerEventNameV2>(
  socket: Socket,
  event: E,
  handler: (payload: ServerEventOfV2<E>) => void,
  onMalformed: (message: string, cause: unknown) => void,
): () => void {
  const schema = serverEventSchemasV2[event];
  const listener = (...args: unknown[]) => {
    const parsed = schema.safeParse(args[0]);
    if (!parsed.success) return onMalformed(`ignored a malformed "${event}" event from the server`, parsed.error);
    handler(parsed.data as ServerEventOfV2<E>);
  };
  socket.on(event as string, listener);
  return () => void socket.off(event as string, listener);
}

/**
 * Parses an ack: `{ ok: true, ...answer }` by the event's schema, `{ ok: false, error }` into its
 * ChatError (a DevicesChangedError, with its details, for `devices_changed`; a GroupEpochStaleError with
 * the group's current epoch for `group_epoch_stale`).
 */
export function parseAnswer<E extends ClientEventNameV2>(event: E, ack: unknown): { ok: true } & AnswerOfV2<E> {
  const ok = typeof ack === 'object' && ack !== null ? (ack as { ok?: unknown }).ok : undefined;
  if (ok === false) {
    const error = serverErrorV2Schema.safeParse((ack as { error?: unknown }).error);
    if (!error.success) throw new ChatError('bad_response', `the server refused "${event}" with a malformed error`, { cause: error.error });
    if (error.data.code === 'devices_changed') throw new DevicesChangedError(error.data.message, error.data.details);
    if (error.data.code === 'group_epoch_stale') throw new GroupEpochStaleError(error.data.message, error.data.details.epoch);
    throw new ChatError(error.data.code, error.data.message);
  }
  const answer = ok === true ? answerSchemasV2[event].safeParse(ack) : undefined;
  if (!answer?.success) throw new ChatError('bad_response', `the server's answer to "${event}" is malformed`, { cause: answer?.error });
  // The schema picked by `event` parsed it; TypeScript cannot follow a lookup by a generic key.
  return { ...(answer.data as AnswerOfV2<E>), ok: true };
}
