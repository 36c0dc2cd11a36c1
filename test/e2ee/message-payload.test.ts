/**
 * The payload schemas and the route rule (docs/PROTOCOL.md §21.3, §21.3.1): a `history` payload carries
 * 1 … 10,000 items of exactly five members instead of a body, and agrees with its route only when it
 * names the receiver at both ends (a user's own device writing to the user); a version-2 payload of a
 * kind this client does not know is UnsupportedPayloadError, anything else malformed is no payload.
 */
import { describe, expect, it } from 'vitest';
import { parsePayload, payloadMatchesRoute, UnsupportedPayloadError, type Payload } from '../../src/e2ee/message-payload.js';
import { MAX_HISTORY_ON_LINK } from '../../src/protocol/limits.js';

const ID = 'B2gatqUNI5q-MpaeVP92IQ';
const item = { id: 'q0XyW4c3HhN5bq1F_2Lk9A', direction: 'in', peer: 'bob', body: 'lunch?', sentAt: 1795770000000 };
const history = { v: 2, kind: 'history', from: 'alice', fromDevice: 1, to: 'alice', id: ID, sentAt: 1795776497000, items: [item] };
const message = { v: 2, kind: 'message', from: 'alice', fromDevice: 1, to: 'bob', id: ID, sentAt: 1795776497000, body: 'hello' };

describe('the history payload', () => {
  it('parses with its items, and an item keeps exactly its five members', () => {
    const out = { ...item, id: `bob/${item.id}`, direction: 'out', body: '' };
    expect(parsePayload({ ...history, items: [item, out] })).toEqual({ ...history, items: [item, out] });
    // Unknown members of the payload itself are ignored, as for every payload (§9 step 4).
    expect(parsePayload({ ...history, extra: 1 })).toEqual(history);
  });

  it('refuses no items, more than MAX_HISTORY_ON_LINK, a body in place of items, and any item off its schema', () => {
    expect(parsePayload({ ...history, items: [] })).toBeUndefined();
    expect(parsePayload({ ...history, items: Array.from({ length: MAX_HISTORY_ON_LINK }, () => item) })).toBeDefined();
    expect(parsePayload({ ...history, items: Array.from({ length: MAX_HISTORY_ON_LINK + 1 }, () => item) })).toBeUndefined();
    const { items: _items, ...withoutItems } = history;
    expect(parsePayload({ ...withoutItems, body: 'hello' })).toBeUndefined();
    const bad = [
      { ...item, attachment: { id: 'x' } },
      { ...item, direction: 'both' },
      { ...item, peer: 'Bob' },
      { ...item, id: 'short' },
      { ...item, id: `bob/bob/${item.id}` },
      { ...item, sentAt: -1 },
      { ...item, sentAt: 1.5 },
      { ...item, body: 7 },
      (({ body: _body, ...rest }) => rest)(item),
    ];
    for (const b of bad) expect(parsePayload({ ...history, items: [item, b] }), JSON.stringify(b)).toBeUndefined();
  });

  it('agrees with its route only from a device of the receiver, naming the receiver at both ends', () => {
    const parsed = parsePayload(history)!;
    expect(payloadMatchesRoute(parsed, { from: 'alice', fromDevice: 1, me: 'alice' })).toBe(true);
    // Another device than the stamped one, or another sender than the stamped one.
    expect(payloadMatchesRoute(parsed, { from: 'alice', fromDevice: 2, me: 'alice' })).toBe(false);
    expect(payloadMatchesRoute(parsed, { from: 'bob', fromDevice: 1, me: 'alice' })).toBe(false);
    // A peer's history, whoever it names: never this user's own.
    const fromBob = (to: string) => parsePayload({ ...history, from: 'bob', to })!;
    expect(payloadMatchesRoute(fromBob('alice'), { from: 'bob', fromDevice: 1, me: 'alice' })).toBe(false);
    expect(payloadMatchesRoute(fromBob('bob'), { from: 'bob', fromDevice: 1, me: 'alice' })).toBe(false);
    // The user's own history naming someone else as `to` (as a copy of a message would).
    expect(payloadMatchesRoute(parsePayload({ ...history, to: 'bob' })!, { from: 'alice', fromDevice: 1, me: 'alice' })).toBe(false);
  });
});

describe('payload kinds', () => {
  it('a version-2 payload of an unknown kind is unsupported, not malformed', () => {
    expect(() => parsePayload({ ...message, kind: 'sticker' })).toThrow(UnsupportedPayloadError);
    expect(() => parsePayload({ v: 2, kind: 'typing' })).toThrow(UnsupportedPayloadError);
    // No kind, or not a string, or another version: malformed.
    const { kind: _kind, ...withoutKind } = message;
    expect(parsePayload(withoutKind)).toBeUndefined();
    expect(parsePayload({ ...message, kind: 7 })).toBeUndefined();
    expect(parsePayload({ ...message, v: 3, kind: 'sticker' })).toBeUndefined();
    expect(parsePayload(null)).toBeUndefined();
  });

  it('messages keep their rules: from a peer to this user, or from this user to anyone else', () => {
    const v1 = { v: 1, from: 'alice', to: 'bob', id: ID, sentAt: 1, body: 'hi' };
    for (const p of [message, v1]) expect(parsePayload(p)).toEqual(p);
    const route = (p: Payload, from: string, me: string) => payloadMatchesRoute(p, { from, fromDevice: 1, me });
    expect(route(parsePayload(message)!, 'alice', 'bob')).toBe(true);
    expect(route(parsePayload(message)!, 'alice', 'alice')).toBe(true);
    expect(route(parsePayload({ ...message, to: 'alice' })!, 'alice', 'alice')).toBe(false);
    expect(route(parsePayload(message)!, 'alice', 'carol')).toBe(false);
  });
});
