/**
 * What the nodes of a cluster say to each other about link slots (cross-node-links.ts), one JSON message
 * per Redis pub/sub publication on the addressed node's channel. A slot lives on its home node, the one
 * its new device opened it on; a primary connected elsewhere reaches it through these:
 *
 * - `join`, `send`: a link event of a connection on the sending node, for a slot homed on the receiving
 *   one; answered with `answer` on the sender's channel (the event's result, or the code it was refused with).
 * - `close`: that connection closed the slot (`link.close`), or its node gave up on it; no answer.
 * - `gone`: that connection dropped; every slot it is in on the receiving node closes as `disconnected`.
 * - `push`: an event of the relay for a connection on the receiving node (`link.data`, `link.closed`).
 *
 * The payloads are the relay's own, validated at the edge of the node that took them from a client;
 * they are parsed again here with the same schemas, since whatever comes out of Redis is input too.
 */
import { z } from 'zod';
import { deviceIdSchema } from '../../protocol/device-list-wire.js';
import {
  linkClosedEventSchema,
  linkDataEventSchema,
  linkJoinAnswerSchema,
  linkJoinedEventSchema,
  linkJoinPayloadSchema,
  linkSendPayloadSchema,
  linkSlotSchema,
} from '../../protocol/link-schemas.js';
import { usernameSchema } from '../../protocol/schemas.js';

/** A node id (RedisCluster.nodeId: 8 random bytes in hex). */
const nodeSchema = z.string().regex(/^[0-9a-f]{16}$/);
/** A connection on the sending node (its Socket.IO id). */
const partySchema = z.string().min(1).max(64);
/** A request's id, unique among the sender's requests waiting for an answer. */
const requestIdSchema = z.string().min(1).max(32);

const joinSchema = z.strictObject({
  t: z.literal('join'),
  id: requestIdSchema,
  from: nodeSchema,
  party: partySchema,
  account: z.strictObject({ username: usernameSchema, device: deviceIdSchema }),
  payload: linkJoinPayloadSchema,
});
const sendSchema = z.strictObject({ t: z.literal('send'), id: requestIdSchema, from: nodeSchema, party: partySchema, payload: linkSendPayloadSchema });
const closeSchema = z.strictObject({ t: z.literal('close'), from: nodeSchema, party: partySchema, slot: linkSlotSchema });
const goneSchema = z.strictObject({ t: z.literal('gone'), from: nodeSchema, party: partySchema });
const answerSchema = z.strictObject({
  t: z.literal('answer'),
  id: requestIdSchema,
  /** The join's result; absent for a send, and for a refusal. */
  result: linkJoinAnswerSchema.strict().optional(),
  /** Absent when the request succeeded. `internal`: the home node failed, not the request. */
  refused: z.enum(['unknown_link', 'internal']).optional(),
});
const pushSchema = z.strictObject({
  t: z.literal('push'),
  party: partySchema,
  push: z.discriminatedUnion('event', [
    z.strictObject({ event: z.literal('link.joined'), payload: linkJoinedEventSchema.strict() }),
    z.strictObject({ event: z.literal('link.data'), payload: linkDataEventSchema.strict() }),
    z.strictObject({ event: z.literal('link.closed'), payload: linkClosedEventSchema.strict() }),
  ]),
});

const nodeMessageSchema = z.discriminatedUnion('t', [joinSchema, sendSchema, closeSchema, goneSchema, answerSchema, pushSchema]);

export type NodeMessage = z.infer<typeof nodeMessageSchema>;
export type JoinRequest = z.infer<typeof joinSchema>;
export type SendRequest = z.infer<typeof sendSchema>;
export type LinkAnswer = z.infer<typeof answerSchema>;
export type LinkPush = z.infer<typeof pushSchema>['push'];

/** The message in `text`, or undefined for anything that is not one. */
export function parseNodeMessage(text: string): NodeMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = nodeMessageSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
