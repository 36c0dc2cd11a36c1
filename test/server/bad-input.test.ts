/**
 * Hostile and malformed input against a real server: every client event with bad payloads, unknown
 * events, events without acks, binary payloads, raw junk on the websocket, the envelope and transport
 * caps, the rate limit and the authentication timeout. Each rejection must carry the documented code
 * and change nothing; the server must keep serving the well-behaved clients around it.
 */
import Database from 'better-sqlite3';
import { generateKeyPair as generateNodeKeyPair } from 'node:crypto';
import { join } from 'node:path';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { base64urlDecode, base64urlEncode, concatBytes, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { ed25519PublicOf, jwkThumbprint, rsaPublicOf, type Ed25519PublicJwk, type RsaPublicJwk, type UserKeyPairs } from '../../src/crypto/keys.js';
import { loginMessage, registerMessage } from '../../src/protocol/auth-message.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import type { IncomingMessage, ProtocolErrorEvent } from '../../src/protocol/events.js';
import { DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_ENVELOPE_BYTES, transportFrameBytes } from '../../src/protocol/limits.js';
import type { ServerConfig } from '../../src/server/config.js';
import { SQLITE_FILE_NAME } from '../../src/server/store/sqlite-store.js';
import { call, connectTestClient, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck, type TestClient } from '../helpers/test-clients.js';
import { hybridEnvelope, hybridEnvelopeOfJsonLength } from '../helpers/envelopes.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

// ---------------------------------------------------------------------------------------------------
// Harness: one real server per describe block; everything opened through it is closed in afterAll.
// ---------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Wire {
  readonly ws: WebSocket;
  /** Text frames received, in order. */
  readonly texts: string[];
  readonly closed: Promise<number>;
  closeCode(): number | undefined;
}

class Harness {
  srv!: TestServer;
  private readonly sockets: Socket[] = [];
  private readonly clients: TestClient[] = [];
  private readonly wires: WebSocket[] = [];

  constructor(private readonly overrides: Partial<ServerConfig>) {}

  async start(): Promise<void> {
    this.srv = await startTestServer(this.overrides);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.close();
    for (const w of this.wires) w.terminate();
    await Promise.all(this.clients.map((c) => c.client.close()));
    await this.srv.stop();
    removeDir(this.srv.dataDir);
  }

  async raw(): Promise<Socket> {
    const s = await rawSocket(this.srv.url);
    this.sockets.push(s);
    return s;
  }

  /** A raw socket registered as `username`. */
  async rawUser(username: string, keys?: UserKeyPairs): Promise<Socket> {
    const s = await this.raw();
    const ack = await registerRaw(s, username, keys ?? (await keysFor()));
    expect(ack).toMatchObject({ ok: true, username });
    return s;
  }

  async client(username: string): Promise<TestClient> {
    const c = await connectTestClient(this.srv.url, username);
    this.clients.push(c);
    return c;
  }

  /** A websocket speaking engine.io v4 by hand; `join` also connects to the main namespace. */
  async wire(join = true): Promise<Wire> {
    const ws = new WebSocket(`ws://127.0.0.1:${this.srv.port}/socket.io/?EIO=4&transport=websocket`);
    this.wires.push(ws);
    const texts: string[] = [];
    let code: number | undefined;
    const closed = new Promise<number>((resolve) =>
      ws.on('close', (c: number) => {
        code = c;
        resolve(c);
      }),
    );
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) texts.push(data.toString());
    });
    ws.on('error', () => undefined); // resets after the server drops us are expected
    await waitUntil(() => texts.find((t) => t.startsWith('0{')), 3000, 'engine.io open packet');
    if (join) {
      ws.send('40');
      await waitUntil(() => texts.find((t) => t.startsWith('40{')), 3000, 'namespace connect');
    }
    return { ws, texts, closed, closeCode: () => code };
  }

  /** Rows in a table of the server's SQLite file, read through a second, read-only connection (0 if no such table). */
  rowCount(table: 'users' | 'queue'): number {
    const db = new Database(join(this.srv.dataDir, SQLITE_FILE_NAME), { readonly: true, fileMustExist: true });
    try {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) return 0;
      return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  userCount(): number {
    return this.rowCount('users');
  }

  async health(): Promise<number> {
    return (await fetch(`${this.srv.url}/health`)).status;
  }
}

function harness(overrides: Partial<ServerConfig> = {}): Harness {
  const h = new Harness(overrides);
  beforeAll(() => h.start());
  afterAll(() => h.stop());
  return h;
}

// ---------------------------------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------------------------------

/** Checks the ack is `{ ok: true, ... }` or exactly `{ ok: false, error: { code, message } }`; returns 'ok' or the code. */
function codeOf(ack: RawAck): string {
  if (ack.ok === true) return 'ok';
  expect(Object.keys(ack).sort()).toEqual(['error', 'ok']);
  expect(ack.ok).toBe(false);
  expect(ack.error).toStrictEqual({ code: expect.any(String), message: expect.any(String) });
  expect(ERROR_CODES).toContain(ack.error!.code);
  return ack.error!.code;
}

/** Runs every case in order on one socket; returns name → code, so a mismatch shows as a readable diff. */
async function codesFor(socket: Socket, event: string, cases: ReadonlyArray<readonly [string, unknown]>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, payload] of cases) {
    expect(out[name], `duplicate case name ${name}`).toBeUndefined();
    out[name] = codeOf(await call(socket, event, payload));
  }
  return out;
}

const all = (cases: ReadonlyArray<readonly [string, unknown]>, code: string) => Object.fromEntries(cases.map(([name]) => [name, code]));

function omit<T extends object>(value: T, key: keyof T): Partial<T> {
  const copy = { ...value };
  delete copy[key];
  return copy;
}

const b64 = (n: number) => base64urlEncode(randomBytes(n));
const B64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Same length and alphabet, but the unused low bits of the last character are no longer zero. */
function withNonZeroTrailingBits(text: string): string {
  const last = B64URL_ALPHABET.indexOf(text[text.length - 1]!);
  return text.slice(0, -1) + B64URL_ALPHABET[(last + 1) % 64]!;
}

/** A schema-valid hybrid envelope (random bytes, so the server cannot tell; a real client would reject it). */
function fakeEnvelope(ciphertextChars = 64) {
  return hybridEnvelope({ blocks: Math.max(1, Math.floor((ciphertextChars * 3) / 4 / 16)) });
}

/** An envelope whose JSON is exactly `total` characters, the server's measure. */
function envelopeOfJsonLength(total: number) {
  const env = hybridEnvelopeOfJsonLength(total);
  expect(JSON.stringify(env).length).toBe(total);
  return env;
}

interface RegisterFields {
  username: string;
  signingKey: { kty: string; crv: string; x: string };
  encryptionKey: { kty: string; n: string; e: string };
  signature: string;
}

/**
 * A register payload signed for the socket's current challenge, with the given name and keys. Any
 * payload built this way would be accepted if the schema let it through, so a rejection is the schema's.
 */
async function signedRegister(
  socket: Socket,
  keys: UserKeyPairs,
  over: { username: string; signingKey?: RegisterFields['signingKey']; encryptionKey?: RegisterFields['encryptionKey'] },
): Promise<RegisterFields> {
  const challenge = await challengeOf(socket);
  const signingKey = over.signingKey ?? ed25519PublicOf(keys.signing);
  const encryptionKey = over.encryptionKey ?? rsaPublicOf(keys.encryption);
  // Thumbprints of keys jose cannot canonicalise fall back to random: the schema must reject those anyway.
  const tp = (k: object) => jwkThumbprint(k as Ed25519PublicJwk | RsaPublicJwk).catch(() => b64(32));
  const message = registerMessage({
    challenge,
    username: over.username,
    signingKeyThumbprint: await tp(signingKey),
    encryptionKeyThumbprint: await tp(encryptionKey),
  });
  const signature = base64urlEncode(ed25519Sign(message, base64urlDecode(keys.signing.d)));
  return { username: over.username, signingKey: { ...signingKey }, encryptionKey: { ...encryptionKey }, signature };
}

async function challengeOf(socket: Socket): Promise<string> {
  const ack = await call(socket, 'challenge', {});
  expect(ack.ok).toBe(true);
  return (ack as RawAck & { challenge: string }).challenge;
}

function loginSignature(keys: UserKeyPairs, challenge: string, username: string): string {
  return base64urlEncode(ed25519Sign(loginMessage({ challenge, username }), base64urlDecode(keys.signing.d)));
}

function rsaPublicJwk(modulusLength: number, publicExponent = 65537): Promise<{ kty: string; n: string; e: string }> {
  return new Promise((resolve, reject) =>
    generateNodeKeyPair('rsa', { modulusLength, publicExponent }, (err, publicKey) => {
      if (err) return reject(err);
      const jwk = publicKey.export({ format: 'jwk' });
      resolve({ kty: 'RSA', n: jwk.n!, e: jwk.e! });
    }),
  );
}

function disconnected(socket: Socket): Promise<string> {
  return new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
}

function protocolErrors(socket: Socket): ProtocolErrorEvent[] {
  const seen: ProtocolErrorEvent[] = [];
  socket.on('protocol_error', (e: ProtocolErrorEvent) => seen.push(e));
  return seen;
}

/** Snapshot of what a client has received so far; `expectOnly` asserts nothing else arrived since. */
function inbox(c: TestClient) {
  const received = c.received.length;
  const rejected = c.rejected.length;
  return {
    /** Everything a sender's socket did before this call has been routed (per-connection order), so only `serverId` may be new. */
    async expectOnly(serverId: string): Promise<void> {
      // serverId is the barrier: whatever the earlier input caused was pushed, and shown, before it.
      await waitUntil(() => (c.rejected.some((r) => r.serverId === serverId) ? true : undefined), 5000, `the rejection of ${serverId}`);
      expect(c.received.length).toBe(received);
      expect(c.rejected.slice(rejected).map((r) => r.serverId)).toEqual([serverId]);
    },
  };
}

const LONG_USERNAME = 'a'.repeat(60 * 1024); // well above 32 characters, well under the 80 KiB transport cap

const BAD_USERNAMES: ReadonlyArray<readonly [string, string]> = [
  ['empty', ''],
  ['upper case', 'Rita'],
  ['all caps', 'RITA'],
  ['leading digit', '1rita'],
  ['leading underscore', '_rita'],
  ['leading dash', '-rita'],
  ['space inside', 'ri ta'],
  ['trailing space', 'rita '],
  ['dot', 'ri.ta'],
  ['at sign', 'rita@host'],
  ['slash', 'ri/ta'],
  ['trailing newline', 'rita\n'],
  ['leading newline', '\nrita'],
  ['carriage return', 'rita\r'],
  ['tab', 'ri\tta'],
  ['NUL', 'ri\u0000ta'],
  ['BEL', 'ri\u0007ta'],
  ['DEL', 'ri\u007fta'],
  ['escape sequence', 'rita\u001b[31m'],
  ['latin accent', 'ríta'],
  ['cyrillic homoglyph', 'rit\u0430'],
  ['fullwidth letters', '\uff52\uff49\uff54\uff41'],
  ['zero-width space', 'ri\u200bta'],
  ['zero-width joiner', 'ri\u200dta'],
  ['right-to-left override', '\u202erita'],
  ['BOM', '\ufeffrita'],
  ['emoji', 'rita\u{1f600}'],
  ['lone surrogate', 'rita\ud800'],
  ['combining accent', 'rita\u0301'],
  ['ligature', '\ufb01rita'],
  ['33 characters', 'r'.repeat(33)],
  ['60 KB', LONG_USERNAME],
];

// ---------------------------------------------------------------------------------------------------

describe('bad input on a default server', () => {
  const h = harness();
  let alice: TestClient;
  let bob: TestClient;
  let keys: UserKeyPairs;

  beforeAll(async () => {
    keys = await keysFor();
    alice = await h.client('alice');
    bob = await h.client('bob');
  });

  describe('before login', () => {
    it('answers keys, users and send with not_authenticated whatever the payload, and delivers nothing', async () => {
      const sock = await h.raw();
      const payloads: ReadonlyArray<readonly [string, unknown]> = [
        ['valid-looking', { username: 'bob', to: 'bob', envelope: fakeEnvelope() }],
        ['empty object', {}],
        ['null', null],
        ['number', 42],
        ['string', 'bob'],
        ['array', ['bob']],
        ['nested', { a: { b: { c: [1, 2, { d: null }] } } }],
      ];
      const snap = inbox(bob);
      for (const event of ['keys', 'users', 'send']) {
        expect(await codesFor(sock, event, payloads), event).toEqual(all(payloads, 'not_authenticated'));
      }
      expect(codeOf(await call(sock, 'users', {}))).toBe('not_authenticated');
      // Bob got nothing: the first thing he receives afterwards is a genuine send from a logged-in socket.
      const sam = await h.rawUser('sam');
      const ack = await call(sam, 'send', { to: 'bob', envelope: fakeEnvelope() });
      expect(ack).toMatchObject({ ok: true, status: 'delivered' });
      await snap.expectOnly(ack.id as string);
    });

    it('rejects challenge payloads that are not an object or null with bad_request, and ignores members of one', async () => {
      const sock = await h.raw();
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ['number', 42],
        ['zero', 0],
        ['string', 'challenge'],
        ['empty string', ''],
        ['boolean', true],
        ['array', []],
        ['array of object', [{}]],
      ];
      expect(await codesFor(sock, 'challenge', bad)).toEqual(all(bad, 'bad_request'));
      for (const fine of [{}, null, { please: 'x' }, { challenge: 'mine', nested: { deep: [1] } }]) {
        const ack = await call(sock, 'challenge', fine);
        // The answer names the protocols the server speaks (devices-v2 §5.1); protocol-1 clients ignore it.
        expect(ack).toStrictEqual({ ok: true, challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), protocols: [1, 2] });
      }
      expect(await sock.timeout(5000).emitWithAck('challenge')).toMatchObject({ ok: true });
    });
  });

  describe('register', () => {
    it('rejects missing fields and wrong types with bad_request, and the name stays free', async () => {
      const sock = await h.raw();
      const v = await signedRegister(sock, keys, { username: 'rita' });
      const cases: ReadonlyArray<readonly [string, unknown]> = [
        ['null payload', null],
        ['number payload', 42],
        ['string payload', 'rita'],
        ['boolean payload', false],
        ['array payload', [v]],
        ['empty object', {}],
        ['payload wrapped in an object', { payload: v }],
        ['payload as a JSON string', JSON.stringify(v)],
        ['missing username', omit(v, 'username')],
        ['missing signingKey', omit(v, 'signingKey')],
        ['missing encryptionKey', omit(v, 'encryptionKey')],
        ['missing signature', omit(v, 'signature')],
        ['only username', { username: 'rita' }],
        ['username number', { ...v, username: 42 }],
        ['username null', { ...v, username: null }],
        ['username boolean', { ...v, username: true }],
        ['username array', { ...v, username: ['rita'] }],
        ['username object', { ...v, username: { value: 'rita' } }],
        ['signingKey string', { ...v, signingKey: v.signingKey.x }],
        ['signingKey null', { ...v, signingKey: null }],
        ['signingKey array', { ...v, signingKey: [v.signingKey] }],
        ['signingKey number', { ...v, signingKey: 1 }],
        ['signingKey empty object', { ...v, signingKey: {} }],
        ['signingKey.x number', { ...v, signingKey: { ...v.signingKey, x: 12345 } }],
        ['signingKey.x null', { ...v, signingKey: { ...v.signingKey, x: null } }],
        ['signingKey.x array of bytes', { ...v, signingKey: { ...v.signingKey, x: Array.from(base64urlDecode(v.signingKey.x)) } }],
        ['signingKey.x nested object', { ...v, signingKey: { ...v.signingKey, x: { x: v.signingKey.x } } }],
        ['encryptionKey string', { ...v, encryptionKey: v.encryptionKey.n }],
        ['encryptionKey null', { ...v, encryptionKey: null }],
        ['encryptionKey array', { ...v, encryptionKey: [v.encryptionKey.n, v.encryptionKey.e] }],
        ['encryptionKey.n number', { ...v, encryptionKey: { ...v.encryptionKey, n: 12345 } }],
        ['encryptionKey.n null', { ...v, encryptionKey: { ...v.encryptionKey, n: null } }],
        ['encryptionKey.e number', { ...v, encryptionKey: { ...v.encryptionKey, e: 65537 } }],
        ['encryptionKey.e array', { ...v, encryptionKey: { ...v.encryptionKey, e: [1, 0, 1] } }],
        ['signature number', { ...v, signature: 0 }],
        ['signature null', { ...v, signature: null }],
        ['signature array of bytes', { ...v, signature: Array.from(base64urlDecode(v.signature)) }],
        ['signature object', { ...v, signature: { sig: v.signature } }],
      ];
      const before = h.userCount();
      expect(await codesFor(sock, 'register', cases)).toEqual(all(cases, 'bad_request'));
      expect(h.userCount()).toBe(before);
      expect(await h.srv.store.getUser('rita')).toBeUndefined();
      // Nothing was bound to the socket either: keys still needs a login.
      expect(codeOf(await call(sock, 'keys', { username: 'alice' }))).toBe('not_authenticated');
      expect(await registerRaw(sock, 'rita', keys)).toStrictEqual({ ok: true, username: 'rita', registered: true, limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES } });
    });

    it('rejects usernames with upper case, unicode, control characters or a bad length, even correctly signed', async () => {
      const sock = await h.raw();
      const before = h.userCount();
      const got: Record<string, string> = {};
      for (const [name, username] of BAD_USERNAMES) {
        got[name] = codeOf(await call(sock, 'register', await signedRegister(sock, keys, { username: username.replace(/rita/g, 'uma') })));
      }
      expect(got).toEqual(Object.fromEntries(BAD_USERNAMES.map(([name]) => [name, 'bad_request'])));
      expect(h.userCount()).toBe(before);
      for (const [, username] of BAD_USERNAMES) expect(await h.srv.store.getUser(username.replace(/rita/g, 'uma'))).toBeUndefined();
      expect(await registerRaw(sock, 'uma', keys)).toMatchObject({ ok: true, registered: true });
    });

    it('rejects malformed Ed25519 signing keys with bad_request', async () => {
      const sock = await h.raw();
      const x = ed25519PublicOf(keys.signing).x;
      const okp = (over: Record<string, unknown>) => ({ kty: 'OKP', crv: 'Ed25519', x, ...over }) as RegisterFields['signingKey'];
      const variants: ReadonlyArray<readonly [string, RegisterFields['signingKey']]> = [
        ['x of 31 bytes', okp({ x: b64(31) })],
        ['x of 33 bytes', okp({ x: b64(33) })],
        ['x of 64 bytes', okp({ x: b64(64) })],
        ['x empty', okp({ x: '' })],
        ['x with = padding', okp({ x: `${x}=` })],
        ['x in standard base64 (+)', okp({ x: `+${x.slice(1)}` })],
        ['x in standard base64 (/)', okp({ x: `${x.slice(0, 10)}/${x.slice(11)}` })],
        ['x with a space', okp({ x: `${x.slice(0, 42)} ` })],
        ['x with a non-ASCII letter', okp({ x: `${x.slice(0, 42)}é` })],
        ['x in hex', okp({ x: Buffer.from(base64urlDecode(x)).toString('hex') })],
        ['kty EC', okp({ kty: 'EC' })],
        ['kty lower case', okp({ kty: 'okp' })],
        ['kty missing', okp({ kty: undefined })],
        ['crv X25519', okp({ crv: 'X25519' })],
        ['crv Ed448', okp({ crv: 'Ed448' })],
        ['crv lower case', okp({ crv: 'ed25519' })],
        ['crv missing', okp({ crv: undefined })],
        ['x missing', okp({ x: undefined })],
      ];
      const before = h.userCount();
      const got: Record<string, string> = {};
      for (const [name, signingKey] of variants) {
        got[name] = codeOf(await call(sock, 'register', await signedRegister(sock, keys, { username: 'vic', signingKey })));
      }
      expect(got).toEqual(Object.fromEntries(variants.map(([name]) => [name, 'bad_request'])));
      expect(h.userCount()).toBe(before);
      expect(await registerRaw(sock, 'vic', keys)).toMatchObject({ ok: true, registered: true });
    });

    it('rejects RSA keys of 1024 or 4096 bits, other exponents and malformed moduli with bad_request', async () => {
      const [rsa1024, rsa4096, rsaE3, rsaE17] = await Promise.all([rsaPublicJwk(1024), rsaPublicJwk(4096), rsaPublicJwk(2048, 3), rsaPublicJwk(2048, 17)]);
      const good = rsaPublicOf(keys.encryption);
      const nBytes = base64urlDecode(good.n);
      expect(nBytes.length).toBe(256);
      const patched = (f: (b: Uint8Array) => void) => {
        const b = Uint8Array.from(nBytes);
        f(b);
        return base64urlEncode(b);
      };
      const rsa = (over: Record<string, unknown>) => ({ kty: 'RSA', n: good.n, e: good.e, ...over }) as RegisterFields['encryptionKey'];
      const variants: ReadonlyArray<readonly [string, RegisterFields['encryptionKey']]> = [
        ['1024-bit modulus', rsa1024!],
        ['4096-bit modulus', rsa4096!],
        ['e = 3 (Aw)', rsaE3!],
        ['e = 17 (EQ)', rsaE17!],
        ['e = 65537 with a leading zero byte', rsa({ e: 'AAEAAQ' })],
        ['e = 65537 in standard base64 with padding', rsa({ e: 'AQAB=' })],
        ['e empty', rsa({ e: '' })],
        ['e missing', rsa({ e: undefined })],
        ['n even', rsa({ n: patched((b) => (b[255]! &= 0xfe)) })],
        ['n of 2047 bits (top bit clear)', rsa({ n: patched((b) => (b[0]! &= 0x7f)) })],
        ['n with a leading zero byte (257 bytes)', rsa({ n: base64urlEncode(concatBytes(new Uint8Array([0]), nBytes)) })],
        ['n with non-zero trailing bits', rsa({ n: withNonZeroTrailingBits(good.n) })],
        ['n with = padding', rsa({ n: `${good.n}==` })],
        ['n in standard base64 (+)', rsa({ n: `+${good.n.slice(1)}` })],
        ['n in hex', rsa({ n: Buffer.from(nBytes).toString('hex') })],
        ['n empty', rsa({ n: '' })],
        ['n missing', rsa({ n: undefined })],
        ['kty EC', rsa({ kty: 'EC' })],
        ['kty lower case', rsa({ kty: 'rsa' })],
        ['kty missing', rsa({ kty: undefined })],
      ];
      const sock = await h.raw();
      const before = h.userCount();
      const got: Record<string, string> = {};
      for (const [name, encryptionKey] of variants) {
        got[name] = codeOf(await call(sock, 'register', await signedRegister(sock, keys, { username: 'wes', encryptionKey })));
      }
      expect(got).toEqual(Object.fromEntries(variants.map(([name]) => [name, 'bad_request'])));
      expect(h.userCount()).toBe(before);
      expect(await registerRaw(sock, 'wes', keys)).toMatchObject({ ok: true, registered: true });
    });

    it('rejects signatures of the wrong length or encoding with bad_request, and a well-formed wrong one with bad_signature', async () => {
      const sock = await h.raw();
      const before = h.userCount();
      const sigBytes = (s: string) => Buffer.from(base64urlDecode(s));
      const malformed: ReadonlyArray<readonly [string, (s: string) => string]> = [
        ['85 characters', (s) => s.slice(0, 85)],
        ['87 characters', (s) => `${s}A`],
        ['empty', () => ''],
        ['standard base64 with padding', (s) => sigBytes(s).toString('base64')],
        ['standard base64 characters', (s) => `+/${s.slice(2)}`],
        ['hex', (s) => sigBytes(s).toString('hex')],
        ['with a newline', (s) => `${s.slice(0, 85)}\n`],
        ['with a non-ASCII character', (s) => `${s.slice(0, 85)}ß`],
        ['32 bytes', () => b64(32)],
        ['128 bytes', () => b64(128)],
      ];
      const got: Record<string, string> = {};
      for (const [name, mangle] of malformed) {
        const v = await signedRegister(sock, keys, { username: 'xena' });
        got[name] = codeOf(await call(sock, 'register', { ...v, signature: mangle(v.signature) }));
      }
      expect(got).toEqual(Object.fromEntries(malformed.map(([name]) => [name, 'bad_request'])));

      const wellFormedButWrong: ReadonlyArray<readonly [string, (v: RegisterFields) => Promise<string> | string]> = [
        ['all zero bytes', () => 'A'.repeat(86)],
        ['random bytes', () => base64urlEncode(Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff))],
        ['for another username', async () => (await signedRegister(sock, keys, { username: 'yara' })).signature],
        ['a login signature', async () => loginSignature(keys, await challengeOf(sock), 'xena')],
      ];
      const gotSig: Record<string, string> = {};
      for (const [name, sign] of wellFormedButWrong) {
        const v = await signedRegister(sock, keys, { username: 'xena' });
        gotSig[name] = codeOf(await call(sock, 'register', { ...v, signature: await sign(v) }));
      }
      expect(gotSig).toEqual(Object.fromEntries(wellFormedButWrong.map(([name]) => [name, 'bad_signature'])));

      // A payload signed for a challenge that has since been used is refused too.
      const stale = await signedRegister(sock, keys, { username: 'xena' });
      expect(codeOf(await call(sock, 'register', { ...stale, signature: 'A'.repeat(86) }))).toBe('bad_signature');
      expect(codeOf(await call(sock, 'register', stale))).toBe('bad_signature');

      expect(h.userCount()).toBe(before);
      expect(await h.srv.store.getUser('xena')).toBeUndefined();
      expect(await registerRaw(sock, 'xena', keys)).toMatchObject({ ok: true, registered: true });
    });

    // The schema checks length and alphabet only; auth.ts verify() treats undecodable input as a failed
    // verification, so these are bad_signature. What matters: never `internal`, and nothing registered.
    it('refuses a register signature whose base64url has non-zero trailing bits with bad_signature, not internal', async () => {
      const sock = await h.raw();
      const v = await signedRegister(sock, keys, { username: 'zack' });
      const signature = withNonZeroTrailingBits(v.signature);
      expect(signature).toHaveLength(86);
      expect(() => base64urlDecode(signature)).toThrow(); // not canonical base64url
      expect(codeOf(await call(sock, 'register', { ...v, signature }))).toBe('bad_signature');
      expect(await h.srv.store.getUser('zack')).toBeUndefined();
      expect(await registerRaw(sock, 'zack', keys)).toMatchObject({ ok: true, registered: true });
    });

    it('refuses a signing key x whose base64url has non-zero trailing bits with bad_signature, not internal', async () => {
      const sock = await h.raw();
      const x = withNonZeroTrailingBits(ed25519PublicOf(keys.signing).x);
      expect(x).toHaveLength(43);
      expect(() => base64urlDecode(x)).toThrow();
      const v = await signedRegister(sock, keys, { username: 'zoe', signingKey: { kty: 'OKP', crv: 'Ed25519', x } });
      expect(codeOf(await call(sock, 'register', v))).toBe('bad_signature');
      expect(await h.srv.store.getUser('zoe')).toBeUndefined();
    });

    it('drops private and unknown key members and stores only the public ones', async () => {
      const sock = await h.raw();
      const v = await signedRegister(sock, keys, { username: 'priya' });
      const ack = await call(sock, 'register', {
        ...v,
        signingKey: { ...keys.signing, use: 'sig' },
        encryptionKey: { ...keys.encryption, alg: 'RSA-OAEP-256' },
        extra: { admin: true },
      });
      expect(ack).toStrictEqual({ ok: true, username: 'priya', registered: true, limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES } });
      const record = await h.srv.store.getUser('priya');
      expect(record?.signingKey).toStrictEqual(ed25519PublicOf(keys.signing));
      expect(record?.encryptionKey).toStrictEqual(rsaPublicOf(keys.encryption));
    });

    it('answers register and login on a logged-in connection with already_authenticated', async () => {
      const sock = await h.rawUser('olga', keys);
      expect(codeOf(await registerRaw(sock, 'olga', keys))).toBe('already_authenticated');
      expect(codeOf(await registerRaw(sock, 'olga2', keys))).toBe('already_authenticated');
      expect(codeOf(await loginRaw(sock, 'olga', keys))).toBe('already_authenticated');
      expect(await h.srv.store.getUser('olga2')).toBeUndefined();
    });
  });

  describe('login', () => {
    it('rejects bad login payloads, leaves the socket unauthenticated, and a valid login still works', async () => {
      const reg = await h.rawUser('lena', keys);
      reg.close();
      const sock = await h.raw();
      const sig = loginSignature(keys, await challengeOf(sock), 'lena');
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ['null payload', null],
        ['number payload', 7],
        ['string payload', 'lena'],
        ['array payload', ['lena', sig]],
        ['empty object', {}],
        ['missing username', { signature: sig }],
        ['missing signature', { username: 'lena' }],
        ['username number', { username: 1, signature: sig }],
        ['username null', { username: null, signature: sig }],
        ['username array', { username: ['lena'], signature: sig }],
        ['username object', { username: { name: 'lena' }, signature: sig }],
        ...BAD_USERNAMES.map(([name, u]) => [`username ${name}`, { username: u.replace(/rita/g, 'lena'), signature: sig }] as const),
        ['signature number', { username: 'lena', signature: 1 }],
        ['signature null', { username: 'lena', signature: null }],
        ['signature 85 characters', { username: 'lena', signature: sig.slice(1) }],
        ['signature 87 characters', { username: 'lena', signature: `${sig}A` }],
        ['signature standard base64', { username: 'lena', signature: Buffer.from(base64urlDecode(sig)).toString('base64') }],
        ['signature hex', { username: 'lena', signature: Buffer.from(base64urlDecode(sig)).toString('hex') }],
        ['signature 60 KB', { username: 'lena', signature: 'A'.repeat(60 * 1024) }],
      ];
      expect(await codesFor(sock, 'login', bad)).toEqual(all(bad, 'bad_request'));
      expect(codeOf(await call(sock, 'login', { username: 'nobody-here', signature: 'A'.repeat(86) }))).toBe('unknown_user');
      expect(codeOf(await call(sock, 'login', { username: 'lena', signature: 'A'.repeat(86) }))).toBe('bad_signature');
      // Signed by lena's key for the right challenge, but naming another user.
      expect(codeOf(await call(sock, 'login', { username: 'alice', signature: loginSignature(keys, await challengeOf(sock), 'alice') }))).toBe(
        'bad_signature',
      );
      // The original signature's challenge was consumed by the first well-formed attempt.
      expect(codeOf(await call(sock, 'login', { username: 'lena', signature: sig }))).toBe('bad_signature');
      expect(codeOf(await call(sock, 'users', {}))).toBe('not_authenticated');
      expect(await loginRaw(sock, 'lena', keys)).toStrictEqual({ ok: true, username: 'lena', registered: false, limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES } });
      expect(await call(sock, 'users', {})).toMatchObject({ ok: true });
    });

    it('refuses a login signature whose base64url has non-zero trailing bits with bad_signature, not internal', async () => {
      const reg = await h.rawUser('lotte', keys);
      reg.close();
      const sock = await h.raw();
      const signature = withNonZeroTrailingBits(loginSignature(keys, await challengeOf(sock), 'lotte'));
      expect(() => base64urlDecode(signature)).toThrow();
      expect(codeOf(await call(sock, 'login', { username: 'lotte', signature }))).toBe('bad_signature');
      expect(codeOf(await call(sock, 'users', {}))).toBe('not_authenticated');
      expect((await loginRaw(sock, 'lotte', keys)).ok).toBe(true);
    });
  });

  describe('keys and users', () => {
    it('rejects bad keys payloads with bad_request and still answers valid lookups', async () => {
      const sock = await h.rawUser('kira', keys);
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ['null payload', null],
        ['number payload', 1],
        ['string payload', 'bob'],
        ['array payload', ['bob']],
        ['empty object', {}],
        ['username number', { username: 5 }],
        ['username null', { username: null }],
        ['username boolean', { username: false }],
        ['username array', { username: ['bob'] }],
        ['username object', { username: { username: 'bob' } }],
        ...BAD_USERNAMES.map(([name, u]) => [`username ${name}`, { username: u.replace(/rita/g, 'bob') }] as const),
      ];
      expect(await codesFor(sock, 'keys', bad)).toEqual(all(bad, 'bad_request'));
      expect(codeOf(await sock.timeout(5000).emitWithAck('keys'))).toBe('bad_request');
      expect(codeOf(await call(sock, 'keys', { username: 'nobody-here' }))).toBe('unknown_user');
      expect(await call(sock, 'keys', { username: 'bob', extra: [1, 2, 3] })).toMatchObject({ ok: true, username: 'bob' });
    });

    it('rejects users payloads that are not an object or null with bad_request, and ignores members of one', async () => {
      const sock = await h.rawUser('ursula', keys);
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ['number', 3],
        ['string', 'all'],
        ['boolean', true],
        ['array', []],
        ['array of objects', [{}]],
      ];
      expect(await codesFor(sock, 'users', bad)).toEqual(all(bad, 'bad_request'));
      for (const ack of [await call(sock, 'users', {}), await call(sock, 'users', null), await call(sock, 'users', { filter: 'a*' }), await sock.timeout(5000).emitWithAck('users')]) {
        expect(ack).toMatchObject({ ok: true });
        expect((ack as RawAck & { users: string[] }).users).toEqual(expect.arrayContaining(['alice', 'bob', 'ursula']));
      }
    });
  });

  describe('send', () => {
    it('rejects bad send payloads with bad_request and delivers nothing to the recipient', async () => {
      const sock = await h.rawUser('sandy', keys);
      const env = fakeEnvelope();
      const jwe = env.jwe;
      const withJwe = (over: Record<string, unknown>) => ({ to: 'bob', envelope: { ...env, jwe: { ...jwe, ...over } } });
      const withEnv = (over: Record<string, unknown>) => ({ to: 'bob', envelope: { ...env, ...over } });
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ['null payload', null],
        ['number payload', 1],
        ['string payload', 'hello bob'],
        ['array payload', ['bob', env]],
        ['empty object', {}],
        ['missing to', { envelope: env }],
        ['missing envelope', { to: 'bob' }],
        ['to number', { to: 1, envelope: env }],
        ['to null', { to: null, envelope: env }],
        ['to array', { to: ['bob'], envelope: env }],
        ['to object', { to: { username: 'bob' }, envelope: env }],
        ...BAD_USERNAMES.map(([name, u]) => [`to ${name}`, { to: u.replace(/rita/g, 'bob'), envelope: env }] as const),
        ['envelope null', { to: 'bob', envelope: null }],
        ['envelope string', { to: 'bob', envelope: 'ciphertext' }],
        ['envelope as a JSON string', { to: 'bob', envelope: JSON.stringify(env) }],
        ['envelope number', { to: 'bob', envelope: 0 }],
        ['envelope array', { to: 'bob', envelope: [env] }],
        ['envelope empty object', { to: 'bob', envelope: {} }],
        ['type missing', { to: 'bob', envelope: omit(env, 'type') }],
        ['type unknown', withEnv({ type: 'plaintext' })],
        ['type upper case', withEnv({ type: 'HYBRID' })],
        ['type with a space', withEnv({ type: 'hybrid ' })],
        ['type hybrid2', withEnv({ type: 'hybrid2' })],
        ['type number', withEnv({ type: 1 })],
        ['type null', withEnv({ type: null })],
        ['type array', withEnv({ type: ['hybrid'] })],
        ['v missing', { to: 'bob', envelope: omit(env, 'v') }],
        ['v 2', withEnv({ v: 2 })],
        ['v 0', withEnv({ v: 0 })],
        ['v string', withEnv({ v: '1' })],
        ['v null', withEnv({ v: null })],
        ['jwe missing', { to: 'bob', envelope: omit(env, 'jwe') }],
        ['jwe null', withEnv({ jwe: null })],
        ['jwe compact string', withEnv({ jwe: Object.values(jwe).join('.') })],
        ['jwe array', withEnv({ jwe: Object.values(jwe) })],
        ['jwe empty object', withEnv({ jwe: {} })],
        ...(['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag'] as const).flatMap((m) => [
          [`jwe.${m} missing`, { to: 'bob', envelope: { ...env, jwe: omit(jwe, m) } }] as const,
          [`jwe.${m} number`, withJwe({ [m]: 1 })] as const,
          [`jwe.${m} null`, withJwe({ [m]: null })] as const,
          [`jwe.${m} array`, withJwe({ [m]: [jwe[m]] })] as const,
          [`jwe.${m} object`, withJwe({ [m]: { value: jwe[m] } })] as const,
          [`jwe.${m} with +`, withJwe({ [m]: `+${jwe[m]}` })] as const,
          [`jwe.${m} with = padding`, withJwe({ [m]: `${jwe[m]}=` })] as const,
          [`jwe.${m} with a dot`, withJwe({ [m]: `${jwe[m]}.x` })] as const,
          [`jwe.${m} with a space`, withJwe({ [m]: `${jwe[m]} ` })] as const,
          [`jwe.${m} with a non-ASCII letter`, withJwe({ [m]: `é${jwe[m]}` })] as const,
        ]),
        ['jwe.protected over 2048 characters', withJwe({ protected: 'A'.repeat(2049) })],
        ['jwe.encrypted_key over 1024 characters', withJwe({ encrypted_key: 'A'.repeat(1025) })],
        ['jwe.iv over 64 characters', withJwe({ iv: 'A'.repeat(65) })],
        ['jwe.tag over 128 characters', withJwe({ tag: 'A'.repeat(129) })],
      ];
      const snap = inbox(bob);
      const queued = h.rowCount('queue');
      expect(await codesFor(sock, 'send', bad)).toEqual(all(bad, 'bad_request'));
      expect(codeOf(await sock.timeout(5000).emitWithAck('send'))).toBe('bad_request');
      expect(h.rowCount('queue')).toBe(queued);
      // Well-formed but undeliverable.
      expect(codeOf(await call(sock, 'send', { to: 'nobody-here', envelope: env }))).toBe('unknown_user');
      // The first thing bob receives from this socket is the one valid send that follows.
      const ok = await call(sock, 'send', { to: 'bob', envelope: env });
      expect(ok).toMatchObject({ ok: true, status: 'delivered' });
      await snap.expectOnly(ok.id as string);
    });
  });

  describe('unknown events and missing acks', () => {
    const UNKNOWN = ['foo', 'Send', 'SEND', 'send ', ' send', 'sendd', '', 'message', 'presence', 'protocol_error', 'error', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'keys\u0000', 'régister', '\u{1f600}', 'x'.repeat(1000)];

    it('answers unknown event names with unknown_event, before and after login', async () => {
      const anon = await h.raw();
      const authed = await h.rawUser('ulf', keys);
      for (const sock of [anon, authed]) {
        const got: Record<string, string> = {};
        for (const name of UNKNOWN) got[JSON.stringify(name.slice(0, 20))] = codeOf(await call(sock, name, { username: 'bob' }));
        expect(got).toEqual(Object.fromEntries(UNKNOWN.map((n) => [JSON.stringify(n.slice(0, 20)), 'unknown_event'])));
      }
      // The error names the event, cut to 64 characters.
      const long = await call(anon, 'x'.repeat(1000), {});
      expect(long.error?.message).toContain('x'.repeat(64));
      expect(long.error?.message).not.toContain('x'.repeat(65));
      expect(anon.connected && authed.connected).toBe(true);
    });

    it('emits protocol_error for a failing event sent without an ack, and nothing for a succeeding one', async () => {
      const sock = await h.raw();
      const errors = protocolErrors(sock);
      sock.emit('nope', {});
      sock.emit('register', 42);
      sock.emit('keys', { username: 'bob' });
      sock.emit('challenge', {});
      sock.emit('x'.repeat(500));
      await call(sock, 'challenge', {}); // queued after the register: everything above has been answered now
      // Refusals decided on arrival (unknown event, not logged in, rate limit) are not queued behind the
      // schema-checked ones, so only the set of errors is fixed, not their order.
      const sorted = (list: ProtocolErrorEvent[]) => [...list].sort((a, b) => a.event.localeCompare(b.event));
      expect(sorted(errors)).toStrictEqual(
        sorted([
          { event: 'nope', error: { code: 'unknown_event', message: expect.any(String) } },
          { event: 'register', error: { code: 'bad_request', message: expect.any(String) } },
          { event: 'keys', error: { code: 'not_authenticated', message: expect.any(String) } },
          { event: 'x'.repeat(64), error: { code: 'unknown_event', message: expect.any(String) } },
        ]),
      );

      expect((await registerRaw(sock, 'pia', keys)).ok).toBe(true);
      errors.length = 0;
      sock.emit('send', { to: 'bob' });
      sock.emit('users', {});
      sock.emit('keys', { username: 'nobody-here' });
      sock.emit('register', {});
      sock.emit('login', { username: 'pia', signature: 'A'.repeat(86) });
      await call(sock, 'users', {}); // answered after the four: their protocol_errors came first, on this connection
      // All four went through the queue, so here the order is the order sent.
      expect(errors.map((e) => [e.event, e.error.code])).toEqual([
        ['send', 'bad_request'],
        ['keys', 'unknown_user'],
        ['register', 'bad_request'],
        ['login', 'already_authenticated'],
      ]);
    });
  });

  describe('binary payloads', () => {
    it('rejects Buffer, Uint8Array and ArrayBuffer payloads and binary fields with bad_request, delivering nothing', async () => {
      const anon = await h.raw();
      const authed = await h.rawUser('bina', keys);
      const blobs: ReadonlyArray<readonly [string, unknown]> = [
        ['Buffer', Buffer.from('{"username":"bob"}')],
        ['Uint8Array', randomBytes(64)],
        ['empty Uint8Array', new Uint8Array(0)],
        ['ArrayBuffer', randomBytes(32).buffer],
        ['array of Buffers', [Buffer.from('a'), Buffer.from('b')]],
      ];
      for (const event of ['register', 'login']) expect(await codesFor(anon, event, blobs), event).toEqual(all(blobs, 'bad_request'));
      for (const event of ['keys', 'send']) expect(await codesFor(authed, event, blobs), event).toEqual(all(blobs, 'bad_request'));

      const v = await signedRegister(anon, keys, { username: 'binb' });
      const env = fakeEnvelope();
      const fields: ReadonlyArray<readonly [string, string, unknown]> = [
        ['register', 'username as bytes', { ...v, username: Buffer.from('binb') }],
        ['register', 'x as bytes', { ...v, signingKey: { ...v.signingKey, x: base64urlDecode(v.signingKey.x) } }],
        ['register', 'n as bytes', { ...v, encryptionKey: { ...v.encryptionKey, n: base64urlDecode(v.encryptionKey.n) } }],
        ['register', 'signature as bytes', { ...v, signature: base64urlDecode(v.signature) }],
        ['login', 'signature as bytes', { username: 'alice', signature: randomBytes(64) }],
        ['keys', 'username as bytes', { username: Buffer.from('bob') }],
        ['send', 'to as bytes', { to: Buffer.from('bob'), envelope: env }],
        ['send', 'envelope as bytes', { to: 'bob', envelope: Buffer.from(JSON.stringify(env)) }],
        ['send', 'ciphertext as bytes', { to: 'bob', envelope: { ...env, jwe: { ...env.jwe, ciphertext: randomBytes(48) } } }],
      ];
      const snap = inbox(bob);
      const got: Record<string, string> = {};
      for (const [event, name, payload] of fields) {
        got[`${event}: ${name}`] = codeOf(await call(event === 'keys' || event === 'send' ? authed : anon, event, payload));
      }
      expect(got).toEqual(Object.fromEntries(fields.map(([event, name]) => [`${event}: ${name}`, 'bad_request'])));
      expect(await h.srv.store.getUser('binb')).toBeUndefined();

      // challenge and users take no input: a binary payload gets a well-formed ack either way.
      for (const [sock, event] of [[anon, 'challenge'], [authed, 'users']] as const) {
        for (const [, blob] of blobs) expect(['ok', 'bad_request']).toContain(codeOf(await call(sock, event, blob)));
      }
      const ok = await call(authed, 'send', { to: 'bob', envelope: env });
      expect(ok.ok).toBe(true);
      await snap.expectOnly(ok.id as string);
      expect(await h.health()).toBe(200);
    });
  });

  describe('the transport cap', () => {
    const cap = transportFrameBytes(DEFAULT_MAX_ENVELOPE_BYTES);

    it('answers a username just under the transport cap with bad_request, keeping the connection', async () => {
      const sock = await h.raw();
      const v = await signedRegister(sock, keys, { username: 'capped' });
      const username = 'c'.repeat(cap - 4096);
      expect(codeOf(await call(sock, 'register', { ...v, username }))).toBe('bad_request');
      expect(codeOf(await call(sock, 'login', { username, signature: v.signature }))).toBe('bad_request');
      expect(sock.connected).toBe(true);
    });

    it('closes the connection that sends a 1 MB username, registers nothing, and keeps serving everyone else', async () => {
      const sock = await h.raw();
      const v = await signedRegister(sock, keys, { username: 'huge' });
      const before = h.userCount();
      const gone = disconnected(sock);
      await expect(call(sock, 'register', { ...v, username: 'h'.repeat(1024 * 1024) })).rejects.toThrow();
      expect(await gone).toBe('transport close');
      expect(h.userCount()).toBe(before);
      expect(await h.health()).toBe(200);
      const fresh = await h.raw();
      expect(codeOf(await call(fresh, 'challenge', {}))).toBe('ok');
      const sent = await alice.client.send('bob', 'after the flood');
      expect(sent.status).toBe('sent');
      await waitUntil(() => bob.received.find((m) => m.id === sent.id), 5000, 'message after the flood');
    });

    it('closes a raw websocket whose frame is over the cap with 1009 (message too big)', async () => {
      const wire = await h.wire();
      wire.ws.send(`42["register",{"username":"${'w'.repeat(cap + 1)}"}]`);
      expect(await wire.closed).toBe(1009);
      expect(await h.health()).toBe(200);
    });
  });

  describe('raw websocket junk', () => {
    /** Sends `frames`, then a probe; reports whether the connection was closed, answered the probe, or neither. */
    async function throwJunk(frames: ReadonlyArray<string | Uint8Array>, join: boolean): Promise<'closed' | 'alive' | 'silent'> {
      const wire = await h.wire(join);
      for (const f of frames) wire.ws.send(f);
      // No pause to let a close arrive: the probe below goes after the junk, so the server meets the junk first.
      if (wire.closeCode() !== undefined) return 'closed';
      const seen = wire.texts.length;
      wire.ws.send(join ? '42199["challenge",{}]' : '40');
      const answered = () => wire.texts.slice(seen).some((t) => (join ? t.startsWith('43199[{"ok":true') : t.startsWith('40{')));
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline && wire.closeCode() === undefined && !answered()) await sleep(10);
      wire.ws.terminate();
      if (answered()) return 'alive';
      return wire.closeCode() !== undefined ? 'closed' : 'silent';
    }

    it('closes an engine.io connection that sends an unparseable frame', async () => {
      const wire = await h.wire(false);
      wire.ws.send('garbage');
      await wire.closed;
      expect(await h.health()).toBe(200);
    });

    it('closes a socket.io connection that sends binary data outside a binary packet', async () => {
      const wire = await h.wire();
      wire.ws.send(randomBytes(512));
      await wire.closed;
      expect(await h.health()).toBe(200);
    });

    it('answers a numeric event name with unknown_event, with and without an ack', async () => {
      const wire = await h.wire();
      wire.ws.send('42[123,{}]');
      wire.ws.send('427[456,{}]');
      const pe = await waitUntil(() => wire.texts.find((t) => t.startsWith('42["protocol_error"')), 3000, 'protocol_error');
      expect(JSON.parse(pe.slice(2))).toStrictEqual(['protocol_error', { event: '123', error: { code: 'unknown_event', message: expect.any(String) } }]);
      const ack = await waitUntil(() => wire.texts.find((t) => t.startsWith('437[')), 3000, 'ack');
      expect(JSON.parse(ack.slice(3))).toStrictEqual([{ ok: false, error: { code: 'unknown_event', message: expect.any(String) } }]);
    });

    it('answers deeply nested payloads with bad_request', async () => {
      const wire = await h.wire();
      const deep = '['.repeat(20000) + ']'.repeat(20000);
      wire.ws.send(`427["login",{"username":${deep},"signature":${deep}}]`);
      wire.ws.send(`428["register",${deep}]`);
      wire.ws.send(`429["challenge",${deep}]`);
      for (const id of ['7', '8', '9']) {
        const ack = await waitUntil(() => wire.texts.find((t) => t.startsWith(`43${id}[`)), 3000, `ack ${id}`);
        expect(JSON.parse(ack.slice(3))).toStrictEqual([{ ok: false, error: { code: 'bad_request', message: expect.any(String) } }]);
      }
      expect(wire.closeCode()).toBeUndefined();
    });

    it('survives a catalogue of junk text and binary frames; health stays 200 and alice and bob still talk', async () => {
      const deep = '['.repeat(20000) + ']'.repeat(20000);
      const engineJunk: ReadonlyArray<ReadonlyArray<string | Uint8Array>> = [
        ['garbage'],
        [''],
        [' '],
        ['\u0000'],
        ['\ud800'],
        ['0'],
        ['0{"sid":"x"}'],
        ['1'],
        ['2'],
        ['2probe'],
        ['3'],
        ['5'],
        ['6'],
        ['7'],
        ['9'],
        ['{}'],
        ['null'],
        [randomBytes(1)],
        [randomBytes(2048)],
        [new Uint8Array(0)],
        [Buffer.from('40')],
        ['42["challenge",{}]'], // event before joining the namespace
        ['40/nope,'],
        ['40/admin,{"token":1}'],
        ['40{"x":' + deep + '}'],
        ['40' + 'x'.repeat(10000)],
      ];
      const socketIoJunk: ReadonlyArray<ReadonlyArray<string | Uint8Array>> = [
        ['4'],
        ['4garbage'],
        ['42'],
        ['42['],
        ['42]'],
        ['42{}'],
        ['42"send"'],
        ['42[]'],
        ['42[null]'],
        ['42[{}]'],
        ['42[true]'],
        ['42[["send"]]'],
        ['42[1.5e308]'],
        ['42[-0]'],
        ['42["connect"]'],
        ['42["disconnect"]'],
        ['42["disconnecting"]'],
        ['42["newListener","send"]'],
        ['42["removeListener"]'],
        ['42["send"'],
        ['42["send",'],
        ['42["send",{"to":"bob","envelope":{"type":"hybrid"}}'],
        ['42["send",{"_placeholder":true,"num":0}]'],
        ['42' + deep],
        ['42["send"' + ',1'.repeat(10000) + ']'],
        ['42\u0000'],
        ['4\ud800'],
        ['42/,["x"]'],
        ['42/nope,["challenge"]'],
        ['4999999999999999999999["challenge"]'],
        ['4-1["challenge"]'],
        ['43'],
        ['43[]'],
        ['431[]'],
        ['439999[{"ok":true}]'],
        ['44'],
        ['44"x"'],
        ['45'],
        ['45-'],
        ['45-["send"]'],
        ['451-["send",{"_placeholder":true,"num":0}]', randomBytes(16)],
        ['451-["send",{"_placeholder":true,"num":7}]', randomBytes(16)],
        ['451-["send",{"_placeholder":"yes","num":"0"}]', randomBytes(16)],
        ['452-["send",{"_placeholder":true,"num":0}]', randomBytes(16)],
        ['451-["send",{"_placeholder":true,"num":0}]', 'not binary'],
        ['451-[' + '['.repeat(20000) + '{"_placeholder":true,"num":0}' + ']'.repeat(20000) + ']', randomBytes(4)],
        ['459999999999-["send"]'],
        ['46'],
        ['46[]'],
        ['47'],
        ['49'],
        ['41'],
        ['41/nope,'],
        ['40'],
        [randomBytes(1024)],
        [Buffer.from('42["challenge",{}]')],
        [new Uint8Array(0)],
        [Buffer.alloc(60 * 1024, 0x34)],
        ['2', '3', '3', '3'],
      ];
      const outcomes = await Promise.all([
        ...engineJunk.map(async (frames) => [frames, await throwJunk(frames, false)] as const),
        ...socketIoJunk.map(async (frames) => [frames, await throwJunk(frames, true)] as const),
      ]);
      expect(await h.health()).toBe(200);
      // Spot checks: parse errors close the connection, well-formed packets with bad content do not.
      const outcome = (first: string | Uint8Array) => outcomes.find(([frames]) => frames[0] === first)?.[1];
      expect(outcome('garbage')).toBe('closed');
      expect(outcome('42[')).toBe('closed');
      expect(outcome('42["connect"]')).toBe('closed');
      expect(outcome('42[true]')).toBe('closed');
      expect(outcome('42[{}]')).toBe('closed');
      expect(outcome('42["send",{"_placeholder":true,"num":0}]')).toBe('alive');
      expect(outcome('42["send"' + ',1'.repeat(10000) + ']')).toBe('alive');
      expect(outcome('42[1.5e308]')).toBe('alive');

      // The well-behaved pair connected before all this is untouched.
      const sent = await alice.client.send('bob', 'still here');
      await waitUntil(() => bob.received.find((m) => m.id === sent.id), 5000, 'message after junk');
      const back = await bob.client.send('alice', 'me too');
      await waitUntil(() => alice.received.find((m) => m.id === back.id), 5000, 'reply after junk');
      const fresh = await h.raw();
      expect(codeOf(await call(fresh, 'challenge', {}))).toBe('ok');
    });
  });
});

describe('a 1 MB username under a raised transport cap', () => {
  const h = harness({ maxEnvelopeBytes: 2 * 1024 * 1024 });

  it('is answered with bad_request on every event that takes a username, and the connection stays', async () => {
    const keys = await keysFor();
    const sock = await h.raw();
    const huge = 'm'.repeat(1024 * 1024);
    const v = await signedRegister(sock, keys, { username: 'mega' });
    expect(codeOf(await call(sock, 'register', { ...v, username: huge }))).toBe('bad_request');
    expect(codeOf(await call(sock, 'login', { username: huge, signature: v.signature }))).toBe('bad_request');
    expect(h.userCount()).toBe(0);
    expect((await registerRaw(sock, 'mega', keys)).ok).toBe(true);
    expect(codeOf(await call(sock, 'keys', { username: huge }))).toBe('bad_request');
    expect(codeOf(await call(sock, 'send', { to: huge, envelope: fakeEnvelope() }))).toBe('bad_request');
    expect(codeOf(await call(sock, huge, {}))).toBe('unknown_event');
    expect(sock.connected).toBe(true);
  });
});

describe('the envelope cap (maxEnvelopeBytes 4096)', () => {
  const h = harness({ maxEnvelopeBytes: 4096 });
  let sender: Socket;
  let recipient: Socket;
  const got: IncomingMessage[] = [];

  beforeAll(async () => {
    const keys = await keysFor();
    sender = await h.rawUser('ed', keys);
    recipient = await h.rawUser('fay', keys);
    recipient.on('message', (m: IncomingMessage) => got.push(m));
  });

  it('delivers an envelope of exactly the cap and refuses one byte more with envelope_too_large', async () => {
    const before = got.length;
    const atCap = envelopeOfJsonLength(4096);
    const over = envelopeOfJsonLength(4097);
    const big = envelopeOfJsonLength(8000); // over the envelope cap, under the transport cap
    expect(codeOf(await call(sender, 'send', { to: 'fay', envelope: over }))).toBe('envelope_too_large');
    expect(codeOf(await call(sender, 'send', { to: 'fay', envelope: big }))).toBe('envelope_too_large');
    // Too large is decided before the recipient is looked up.
    expect(codeOf(await call(sender, 'send', { to: 'nobody-here', envelope: big }))).toBe('envelope_too_large');
    const ok = await call(sender, 'send', { to: 'fay', envelope: atCap });
    expect(ok).toMatchObject({ ok: true, status: 'delivered' });
    await waitUntil(() => (got.length > before ? got : undefined), 3000, 'delivery');
    // A barrier sent after: once it is in, nothing else from the refused sends can still arrive.
    const barrier = await call(sender, 'send', { to: 'fay', envelope: fakeEnvelope() });
    await waitUntil(() => got.find((m) => m.id === barrier.id), 3000, 'the barrier');
    expect(got.slice(before).map((m) => m.id)).toEqual([ok.id, barrier.id]);
    expect(got.at(-2)?.envelope).toStrictEqual(atCap);
  });

  it('refuses an envelope or JWE with members outside the schema, and ignores a forged sender beside it', async () => {
    const before = got.length;
    const env = fakeEnvelope();
    for (const extra of [{ ...env, comment: 'p' }, { ...env, jwe: { ...env.jwe, aad: 'AAAA' } }, { ...env, jwe: { ...env.jwe, header: { kid: 'x' } } }]) {
      expect(codeOf(await call(sender, 'send', { to: 'fay', envelope: extra }))).toBe('bad_request');
    }
    const ok = await call(sender, 'send', { to: 'fay', envelope: env, from: 'alice' });
    expect(ok).toMatchObject({ ok: true, status: 'delivered' });
    const m = await waitUntil(() => got[before], 3000, 'delivery');
    expect(m.envelope).toStrictEqual(env);
    expect(m.from).toBe('ed');
  });

  it('closes a connection whose frame is over the transport cap, and keeps routing for others', async () => {
    const keys = await keysFor();
    const flooder = await h.rawUser('gus', keys);
    const gone = disconnected(flooder);
    await expect(call(flooder, 'send', { to: 'fay', envelope: fakeEnvelope(transportFrameBytes(4096) + 1) })).rejects.toThrow();
    expect(await gone).toBe('transport close');
    expect(await h.health()).toBe(200);
    const before = got.length;
    const ok = await call(sender, 'send', { to: 'fay', envelope: fakeEnvelope() });
    expect(ok.ok).toBe(true);
    await waitUntil(() => got[before], 3000, 'delivery after flood');
    expect(got.slice(before).map((m) => m.from)).toEqual(['ed']);
  });
});

describe('the rate limit (5 per second, burst 5)', () => {
  const h = harness({ rateLimitPerSecond: 5, rateLimitBurst: 5 });
  let keys: UserKeyPairs;
  beforeAll(async () => {
    keys = await keysFor();
  });

  it('delays the 6th to 10th rapid events (1 s of borrowed tokens), in order, and refuses later ones', async () => {
    const sock = await h.raw();
    const started = Date.now();
    const acks = await Promise.all(Array.from({ length: 14 }, () => call(sock, 'challenge', {})));
    expect(acks.map(codeOf)).toEqual([...Array<string>(10).fill('ok'), ...Array<string>(4).fill('rate_limited')]);
    // The borrowed tokens were waited for: about a second, not more than the cap plus slack.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  });

  it('counts unknown events and events without an ack, answering throttled ones with protocol_error', async () => {
    const sock = await h.raw();
    const errors = protocolErrors(sock);
    for (let i = 0; i < 10; i++) sock.emit('nope', {});
    sock.emit('challenge', {});
    sock.emit('keys', { username: 'bob' });
    await waitUntil(() => (errors.length >= 12 ? errors : undefined), 3000, '12 protocol errors');
    expect(errors.map((e) => e.error.code)).toEqual([...Array<string>(10).fill('unknown_event'), 'rate_limited', 'rate_limited']);
  });

  it('keeps a bucket per connection', async () => {
    const a = await h.raw();
    const b = await h.raw();
    const flood = await Promise.all(Array.from({ length: 12 }, () => call(a, 'challenge', {})));
    expect(codeOf(flood.at(-1)!)).toBe('rate_limited');
    expect(codeOf(await call(b, 'challenge', {}))).toBe('ok');
  });

  it('changes nothing for a throttled register, and the bucket refills', async () => {
    const sock = await h.raw();
    const v = await signedRegister(sock, keys, { username: 'rory' }); // 1 token
    const burst = await Promise.all([...Array.from({ length: 11 }, () => call(sock, 'users', {})), call(sock, 'register', v)]);
    expect(codeOf(burst.at(-1)!)).toBe('rate_limited');
    expect(await h.srv.store.getUser('rory')).toBeUndefined();
    await sleep(2100);
    expect(await registerRaw(sock, 'rory', keys)).toStrictEqual({ ok: true, username: 'rory', registered: true, limits: { maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES, maxAttachmentBytes: DEFAULT_MAX_ATTACHMENT_BYTES } });
  });
});

describe('the auth timeout (300 ms)', () => {
  const h = harness({ authTimeoutMs: 300 });
  let keys: UserKeyPairs;
  beforeAll(async () => {
    keys = await keysFor();
    ed25519Sign(new Uint8Array(1), base64urlDecode(keys.signing.d)); // warm up, so registering takes well under 300 ms
  });

  it('disconnects an unauthenticated socket', async () => {
    const sock = await h.raw();
    const started = Date.now();
    expect(await disconnected(sock)).toBe('io server disconnect');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
  });

  it('disconnects a socket that only sends bad input, however busy it is', async () => {
    const sock = await h.raw();
    const gone = disconnected(sock);
    const timer = setInterval(() => {
      sock.emit('register', { username: 'Bad' });
      sock.emit('login', null);
      sock.emit('challenge', {});
    }, 30);
    try {
      expect(await gone).toBe('io server disconnect');
    } finally {
      clearInterval(timer);
    }
  });

  it('keeps a socket that logged in in time', async () => {
    /** A socket opened now and left anonymous is closed by its auth timer; the timers of sockets opened before it fired first. */
    const outlastAuthTimeout = async () => expect(await disconnected(await h.raw())).toBe('io server disconnect');
    const sock = await h.raw();
    const gone = disconnectFlag(sock);
    expect((await registerRaw(sock, 'tim', keys)).ok).toBe(true);
    await outlastAuthTimeout();
    expect(gone()).toBe(false);
    expect(sock.connected).toBe(true);
    expect(await call(sock, 'users', {})).toMatchObject({ ok: true, users: ['tim'] });

    const again = await h.raw();
    const goneAgain = disconnectFlag(again);
    expect((await loginRaw(again, 'tim', keys)).ok).toBe(true);
    await outlastAuthTimeout();
    expect(goneAgain()).toBe(false);
    expect(await call(again, 'users', {})).toMatchObject({ ok: true });
  });
});

function disconnectFlag(socket: Socket): () => boolean {
  let gone = false;
  socket.once('disconnect', () => (gone = true));
  return () => gone;
}
