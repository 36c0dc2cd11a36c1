/**
 * The client → server map is the one list of client events: every name in CLIENT_EVENTS has a payload
 * schema, the map has no others, and what the server answers (ClientEventResults) is what the client's
 * answer schemas accept. The last is checked by the compiler: a server result type that drifts from the
 * client's answer schema stops `npm run typecheck`.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { clientEventSchemas, isClientEventName, type ClientEventResults } from '../../src/protocol/client-event-schemas.js';
import { CLIENT_EVENTS, UNAUTHENTICATED_EVENTS, type ClientEventName } from '../../src/protocol/events.js';
import { answerSchemas } from '../../src/protocol/server-event-schemas.js';

/** Compiles only when every result the server writes is an input its client-side answer schema takes. */
type ResultsFitAnswers = { [E in ClientEventName]: ClientEventResults[E] extends z.input<(typeof answerSchemas)[E]> ? true : false };
const resultsFitAnswers: ResultsFitAnswers = {
  challenge: true,
  register: true,
  login: true,
  keys: true,
  users: true,
  send: true,
  ack: true,
  'prekeys.upload': true,
  'prekeys.count': true,
  'prekeys.bundle': true,
  'blob.create': true,
};

describe('client event map', () => {
  it('names exactly the client events, each with a payload schema and an answer schema', () => {
    expect(Object.keys(clientEventSchemas).sort()).toEqual([...CLIENT_EVENTS].sort());
    expect(Object.keys(answerSchemas).sort()).toEqual([...CLIENT_EVENTS].sort());
    expect(Object.values(resultsFitAnswers).every((fits) => fits)).toBe(true);
    for (const event of UNAUTHENTICATED_EVENTS) expect(isClientEventName(event), event).toBe(true);
  });

  it('recognises only its own names as client events', () => {
    for (const event of CLIENT_EVENTS) expect(isClientEventName(event)).toBe(true);
    for (const event of ['message', 'receipt', 'presence', 'prekeys.low', 'toString', '__proto__', 'constructor', '']) {
      expect(isClientEventName(event), event).toBe(false);
    }
  });

  it('parses a payload an honest client sends for each event with its schema', () => {
    expect(clientEventSchemas.challenge.safeParse(null).success).toBe(true);
    expect(clientEventSchemas['prekeys.count'].safeParse({}).success).toBe(true);
    expect(clientEventSchemas.keys.safeParse({ username: 'bob' }).success).toBe(true);
    expect(clientEventSchemas.keys.safeParse({ username: 'Bob!' }).success).toBe(false);
    expect(clientEventSchemas.ack.safeParse({}).success).toBe(false);
  });
});
