/**
 * Property-based fuzzing of the wire protocol against a real server. Arbitrary values, arbitrary event
 * names, mutated versions of valid payloads and binary payloads go out over raw sockets (one logged in,
 * one not). For each, the answer the server must give is computed from the shared schemas: an ack is
 * either `{ ok: true, ... }` for a payload the schema accepts, or exactly `{ ok: false, error: { code,
 * message } }` with the code the protocol prescribes; never `internal`; the sockets stay connected; and at
 * the end the server still routes a real message between two real clients.
 */
import fc from 'fast-check';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { base64urlEncode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519PublicOf, rsaPublicOf } from '../../src/crypto/keys.js';
import { clientEventSchemas } from '../../src/protocol/client-event-schemas.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import { CLIENT_EVENTS, UNAUTHENTICATED_EVENTS, type ClientEventName, type ProtocolErrorEvent } from '../../src/protocol/events.js';
import { call, connectTestClient, keysFor, rawSocket, registerRaw, waitUntil, type RawAck, type TestClient } from '../helpers/test-clients.js';
import { hybridEnvelope } from '../helpers/envelopes.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

const NUM_RUNS = 200;

// ---------------------------------------------------------------------------------------------------
// The oracle: what the server must answer, from the same event → schema map it parses with.
// ---------------------------------------------------------------------------------------------------

const SCHEMAS: Record<ClientEventName, z.ZodType> = clientEventSchemas;

/** Event names socket.io itself reserves: the client library refuses to emit them. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

const isClientEvent = (event: string): event is ClientEventName => (CLIENT_EVENTS as readonly string[]).includes(event);

interface Expected {
  /** Whether `ok: true` is a correct answer. */
  ok: boolean;
  /** The error codes that are correct answers. */
  codes: readonly string[];
}

/**
 * `wire` is the payload as the server receives it. Neither socket can ever produce a valid registration
 * or login (the signatures below are over challenges no socket holds), so those never succeed.
 */
function expectedAnswer(event: string, wire: unknown, authed: boolean): Expected {
  if (!isClientEvent(event)) return { ok: false, codes: ['unknown_event'] };
  if (!authed && !UNAUTHENTICATED_EVENTS.has(event)) return { ok: false, codes: ['not_authenticated'] };
  if (!SCHEMAS[event].safeParse(wire).success) return { ok: false, codes: ['bad_request'] };
  switch (event) {
    case 'challenge':
    case 'users':
      return { ok: true, codes: [] };
    case 'register':
      return { ok: false, codes: authed ? ['already_authenticated'] : ['bad_signature', 'username_taken'] };
    case 'login':
      return { ok: false, codes: authed ? ['already_authenticated'] : ['unknown_user', 'bad_signature'] };
    case 'keys':
      return { ok: true, codes: ['unknown_user'] };
    case 'send':
      return { ok: true, codes: ['unknown_user', 'envelope_too_large', 'quota_exceeded'] };
    case 'ack':
      return { ok: true, codes: [] };
    // The fuzzer's uploads carry random signatures: none verifies against its registered key.
    case 'prekeys.upload':
      return { ok: false, codes: ['bad_signature'] };
    case 'prekeys.count':
      return { ok: true, codes: [] };
    // Nobody in this test publishes prekeys (the test clients run in hybrid mode).
    case 'prekeys.bundle':
      return { ok: false, codes: ['unknown_user', 'no_prekeys'] };
    // A valid declaration creates a blob (nothing is uploaded); the fuzzer may exhaust the per-user rate.
    case 'blob.create':
      return { ok: true, codes: ['attachment_too_large', 'blob_quota_exceeded', 'rate_limited'] };
  }
}

/** Members of a successful ack, per event. */
const OK_MEMBERS: Record<ClientEventName, readonly string[]> = {
  challenge: ['challenge', 'ok', 'protocols'], // protocols: devices-v2 §5.1
  register: ['limits', 'ok', 'registered', 'username'],
  login: ['limits', 'ok', 'registered', 'username'],
  keys: ['encryptionKey', 'ok', 'registeredAt', 'signingKey', 'username'],
  users: ['ok', 'users'],
  send: ['id', 'ok', 'sentAt', 'status'],
  ack: ['acknowledged', 'ok'],
  'prekeys.upload': ['identityKey', 'kemOneTime', 'kemOneTimeIds', 'lastResortKemPreKeyId', 'ok', 'oneTime', 'oneTimeIds', 'signedPreKeyId'],
  'prekeys.count': ['identityKey', 'kemOneTime', 'kemOneTimeIds', 'lastResortKemPreKeyId', 'ok', 'oneTime', 'oneTimeIds', 'signedPreKeyId'],
  'prekeys.bundle': ['identity', 'kemPreKey', 'ok', 'oneTimePreKey', 'signedPreKey', 'username'],
  'blob.create': ['downloadToken', 'expiresAt', 'id', 'maxChunkBytes', 'ok', 'uploadToken'],
};

/** socket.io sends JSON: this is the payload as the server will see it (a bare `undefined` arrives as null). */
function overTheWire(payload: unknown): unknown {
  return (JSON.parse(JSON.stringify([payload])) as unknown[])[0];
}

function checkAck(event: string, ack: RawAck, want: Expected, what: unknown): void {
  const label = `${JSON.stringify(event)} ${safeJson(what)}`;
  expect(typeof ack.ok, label).toBe('boolean');
  if (ack.ok) {
    expect(want.ok, `${label}: ok:true for a payload that must fail with ${want.codes.join('|')}`).toBe(true);
    expect(Object.keys(ack).sort(), label).toEqual(OK_MEMBERS[event as ClientEventName]);
    return;
  }
  expect(Object.keys(ack).sort(), label).toEqual(['error', 'ok']);
  expect(ack.error, label).toStrictEqual({ code: expect.any(String), message: expect.any(String) });
  expect(ERROR_CODES, label).toContain(ack.error!.code);
  expect(want.codes, `${label}: got ${ack.error!.code} (${ack.error!.message})`).toContain(ack.error!.code);
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? `<${x.length} bytes>` : x)) ?? 'undefined';
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------------

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
const b64urlOfLength = (n: number) => fc.string({ unit: fc.constantFrom(...B64URL), minLength: n, maxLength: n });

const eventName: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CLIENT_EVENTS) },
  { weight: 1, arbitrary: fc.constantFrom('message', 'presence', 'protocol_error', 'error', 'ack', '__proto__', 'constructor', 'toString', 'Send', 'send ', '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 24, unit: 'binary' }).filter((s) => !RESERVED.has(s)) },
);

/** Anything JSON can carry, with the strings and numbers that sit near the schema's edges. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything(),
  fc.anything({ stringUnit: 'binary', maxDepth: 3 }),
  fc.jsonValue(),
  fc.constantFrom(43, 86, 342).chain(b64urlOfLength), // right length for x, signatures, n; random (often non-canonical) content
  fc.integer({ min: 0, max: 400 }).chain(b64urlOfLength),
  fc.string({ unit: 'binary', maxLength: 40 }), // unicode and control characters
  fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/), // valid usernames
  fc.constantFrom<unknown>('hybrid', 'OKP', 'Ed25519', 'RSA', 'AQAB', 'alice', 'bob', 1, 0, -1, '', null, true, [], {}),
);

type Path = readonly string[];
const PATHS: Record<ClientEventName, readonly Path[]> = {
  challenge: [[]],
  users: [[]],
  register: [[], ['username'], ['signingKey'], ['signingKey', 'kty'], ['signingKey', 'crv'], ['signingKey', 'x'], ['encryptionKey'], ['encryptionKey', 'kty'], ['encryptionKey', 'n'], ['encryptionKey', 'e'], ['signature']],
  login: [[], ['username'], ['signature']],
  keys: [[], ['username']],
  send: [
    [],
    ['to'],
    ['envelope'],
    ['envelope', 'type'],
    ['envelope', 'v'],
    ['envelope', 'jwe'],
    ...['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'].map((m) => ['envelope', 'jwe', m]),
  ],
  ack: [[], ['ids'], ['receipts']],
  'prekeys.upload': [[], ['identity'], ['identity', 'dhKey'], ['identity', 'binding'], ['signedPreKey'], ['signedPreKey', 'id'], ['signedPreKey', 'publicKey'], ['oneTimePreKeys'], ['kemPreKeys']],
  'prekeys.count': [[]],
  'prekeys.bundle': [[], ['username']],
  'blob.create': [[], ['size'], ['downloads']],
};

interface Mutation {
  event: ClientEventName;
  path: Path;
  kind: 'replace' | 'delete' | 'add';
  key: string;
  value: unknown;
  authed: boolean;
}

const mutation: fc.Arbitrary<Mutation> = fc.constantFrom(...CLIENT_EVENTS).chain((event) =>
  fc.record({
    event: fc.constant(event),
    path: fc.constantFrom(...PATHS[event]),
    kind: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const),
    key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('username', 'to', 'from', 'x', 'n', 'e', 'd', 'type', 'ok')),
    value: anyValue,
    authed: fc.boolean(),
  }),
);

/** The template with one member replaced, deleted or added (at `path`, or beside it). */
function mutate(template: object, m: Mutation): unknown {
  const root = structuredClone(template) as Record<string, unknown>;
  if (m.path.length === 0) {
    if (m.kind === 'replace') return m.value;
    if (m.kind === 'delete') return undefined;
    root[m.key] = m.value;
    return root;
  }
  let parent = root;
  for (const k of m.path.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const last = m.path[m.path.length - 1]!;
  if (m.kind === 'replace') parent[last] = m.value;
  else if (m.kind === 'delete') delete parent[last];
  else parent[m.key] = m.value;
  return root;
}

// ---------------------------------------------------------------------------------------------------

describe('property: arbitrary input never breaks the server', () => {
  let srv: TestServer;
  let alice: TestClient;
  let bob: TestClient;
  let authed: Socket;
  let anon: Socket;
  const errors = new Map<Socket, ProtocolErrorEvent[]>();
  const templates = {} as Record<ClientEventName, object>;

  beforeAll(async () => {
    srv = await startTestServer({ rateLimitPerSecond: 1e6, rateLimitBurst: 1e6, authTimeoutMs: 600_000 });
    const keys = await keysFor();
    // Hybrid clients publish no prekeys: the oracle expects `prekeys.bundle` for bob to be refused.
    alice = await connectTestClient(srv.url, 'alice', { mode: 'hybrid' });
    bob = await connectTestClient(srv.url, 'bob', { mode: 'hybrid' });
    authed = await rawSocket(srv.url);
    expect((await registerRaw(authed, 'fuzzer', keys)).ok).toBe(true);
    anon = await rawSocket(srv.url);
    for (const s of [authed, anon]) {
      const list: ProtocolErrorEvent[] = [];
      s.on('protocol_error', (e: ProtocolErrorEvent) => list.push(e));
      errors.set(s, list);
    }
    const b64 = (n: number) => base64urlEncode(randomBytes(n));
    templates.challenge = {};
    templates.users = {};
    // Well-formed, but signed over no challenge any socket holds: the schema passes, the signature never does.
    templates.register = { username: 'mutant', signingKey: ed25519PublicOf(keys.signing), encryptionKey: rsaPublicOf(keys.encryption), signature: 'A'.repeat(86) };
    templates.login = { username: 'alice', signature: 'A'.repeat(86) };
    templates.keys = { username: 'bob' };
    templates.ack = { ids: ['A'.repeat(22)], receipts: ['B'.repeat(22)] };
    templates['prekeys.upload'] = {
      identity: { dhKey: b64(32), binding: b64(64) },
      signedPreKey: { id: 1, publicKey: b64(32), signature: b64(64) },
      oneTimePreKeys: [{ id: 1, publicKey: b64(32) }],
      kemPreKeys: [],
    };
    templates['prekeys.count'] = {};
    templates['prekeys.bundle'] = { username: 'bob' };
    templates['blob.create'] = { size: 592, downloads: 1 };
    templates.send = {
      to: 'bob',
      envelope: hybridEnvelope({ blocks: 6 }),
    };
    for (const event of CLIENT_EVENTS) {
      expect(SCHEMAS[event].safeParse(templates[event]).success, `template for ${event}`).toBe(true);
    }
  });

  afterAll(async () => {
    authed?.close();
    anon?.close();
    await Promise.all([alice?.client.close(), bob?.client.close()]);
    await srv.stop();
    removeDir(srv.dataDir);
  });

  /** Sends one event and checks the answer: the ack, or (without one) the protocol_error event or its absence. */
  async function exchange(event: string, payload: unknown, wire: unknown, isAuthed: boolean, withAck: boolean): Promise<void> {
    const sock = isAuthed ? authed : anon;
    const want = expectedAnswer(event, wire, isAuthed);
    if (withAck) {
      checkAck(event, await call(sock, event, payload), want, wire);
    } else {
      const seen = errors.get(sock)!;
      const before = seen.length;
      sock.emit(event, payload);
      // Answered in order behind the event above (or after it, for refusals decided on arrival).
      await call(sock, 'challenge', {});
      const fresh = seen.slice(before);
      const label = `${JSON.stringify(event)} ${safeJson(wire)} without an ack`;
      if (fresh.length === 0) {
        expect(want.ok, `${label}: no protocol_error, expected ${want.codes.join('|')}`).toBe(true);
      } else {
        expect(fresh, label).toHaveLength(1);
        expect(fresh[0], label).toStrictEqual({ event: event.slice(0, 64), error: { code: expect.any(String), message: expect.any(String) } });
        expect(want.codes, `${label}: got ${fresh[0]!.error.code}`).toContain(fresh[0]!.error.code);
      }
    }
    expect(authed.connected && anon.connected, 'both sockets still connected').toBe(true);
  }

  async function expectServerUp(): Promise<void> {
    expect((await fetch(`${srv.url}/health`)).status).toBe(200);
    expect(authed.connected && anon.connected).toBe(true);
    expect(codeOf(await call(authed, 'users', {}))).toBe('ok');
  }

  const codeOf = (ack: RawAck) => (ack.ok ? 'ok' : ack.error?.code);

  it('answers arbitrary values under arbitrary event names as the schemas prescribe', async () => {
    await fc.assert(
      fc.asyncProperty(eventName, anyValue, fc.boolean(), fc.boolean(), async (event, payload, isAuthed, withAck) => {
        await exchange(event, payload, overTheWire(payload), isAuthed, withAck);
      }),
      { numRuns: NUM_RUNS },
    );
    await expectServerUp();
  });

  it('answers valid payloads with one member replaced, deleted or added as the schemas prescribe', async () => {
    await fc.assert(
      fc.asyncProperty(mutation, fc.boolean(), async (m, withAck) => {
        const payload = mutate(templates[m.event], m);
        await exchange(m.event, payload, overTheWire(payload), m.authed, withAck);
      }),
      { numRuns: NUM_RUNS },
    );
    await expectServerUp();
  });

  it('answers binary payloads, whole or in one member, as the schemas prescribe', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CLIENT_EVENTS).chain((event) => fc.tuple(fc.constant(event), fc.constantFrom(...PATHS[event]))),
        fc.uint8Array({ maxLength: 512 }),
        fc.boolean(),
        async ([event, path], bytes, isAuthed) => {
          // The server sees binary attachments as Buffers: parse the same thing locally.
          const blob = Buffer.from(bytes);
          const payload = mutate(templates[event], { event, path, kind: 'replace', key: '', value: blob, authed: isAuthed });
          await exchange(event, payload, payload, isAuthed, true);
        },
      ),
      { numRuns: NUM_RUNS },
    );
    await expectServerUp();
  });

  it('still routes a real message from alice to bob afterwards', async () => {
    await expectServerUp();
    const sent = await alice.client.send('bob', 'after the fuzz');
    expect(sent.status).toBe('sent');
    const m = await waitUntil(() => bob.received.find((r) => r.id === sent.id), 5000, 'alice → bob');
    expect(m).toMatchObject({ from: 'alice', to: 'bob', body: 'after the fuzz' });
    const back = await bob.client.send('alice', 'reply');
    await waitUntil(() => alice.received.find((r) => r.id === back.id), 5000, 'bob → alice');
  });
});
