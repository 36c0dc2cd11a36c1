/**
 * The prekey service against hostile users: at most MAX_STORED_ONE_TIME_PREKEYS one-time keys of each
 * kind per user (`prekey_limit`, nothing changed), bundle fetches rate-limited per requester and per
 * target across connections (`rate_limited`), a `prekeys.low` push to the owner's devices once a fetch
 * leaves fewer than PREKEY_LOW_THRESHOLD, the ids still stored in every count, and low-order X25519 keys
 * refused at upload even when validly signed (issue 15 point 16).
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { base64urlDecode, base64urlEncode as e, hexDecode, randomBytes } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { identityBindingMessage, signedPreKeyMessage } from '../../src/e2ee/pqxdh/encoding.js';
import { generateKemPreKey } from '../../src/e2ee/pqxdh/prekeys.js';
import type { PreKeysLowEvent } from '../../src/protocol/events.js';
import { MAX_STORED_ONE_TIME_PREKEYS, PREKEY_LOW_THRESHOLD } from '../../src/protocol/limits.js';
import type { ServerConfig } from '../../src/server/config.js';
import { call, keysFor, loginRaw, rawSocket, registerRaw, waitUntil, type RawAck } from '../helpers/test-clients.js';
import { removeDir, startTestServer, type TestServer } from '../helpers/test-server.js';

interface Publisher {
  socket: Socket;
  keys: LocalKeys;
  signingSecret: Uint8Array;
  low: PreKeysLowEvent[];
}

function serverWith(overrides: Partial<ServerConfig> = {}) {
  const ctx = { srv: undefined as unknown as TestServer, userKeys: undefined as unknown as UserKeyPairs, sockets: [] as Socket[] };
  beforeAll(async () => {
    ctx.srv = await startTestServer(overrides);
    ctx.userKeys = await keysFor();
  });
  afterAll(async () => {
    for (const s of ctx.sockets) s.close();
    await ctx.srv.stop();
    removeDir(ctx.srv.dataDir);
  });
  const connect = async (username: string, register = true): Promise<Socket> => {
    const s = await rawSocket(ctx.srv.url);
    ctx.sockets.push(s);
    if (register) expect((await registerRaw(s, username, ctx.userKeys)).ok).toBe(true);
    return s;
  };
  /** A registered user who publishes an identity, signed prekey and last-resort KEM key. */
  const publisher = async (username: string, extra: { oneTime?: number; kemOneTime?: number } = {}): Promise<Publisher> => {
    const socket = await connect(username);
    const signingSecret = base64urlDecode(ctx.userKeys.signing.d);
    const keys = await LocalKeys.generate(ed25519SigningKeyFromSeed(signingSecret), Date.now());
    const low: PreKeysLowEvent[] = [];
    socket.on('prekeys.low', (p: PreKeysLowEvent) => low.push(p));
    const ack = await call(socket, 'prekeys.upload', {
      ...base(keys),
      oneTimePreKeys: oneTimeKeys(1000, extra.oneTime ?? 0),
      kemPreKeys: (await Promise.all(Array.from({ length: extra.kemOneTime ?? 0 }, (_, i) => generateKemPreKey(keys.identity, 5000 + i, 'one-time')))).map(kemWire),
    });
    expect(ack.ok, JSON.stringify(ack.error)).toBe(true);
    return { socket, keys, signingSecret, low };
  };
  return { ctx, connect, publisher };
}

const kemWire = (k: { id: number; publicKey: Uint8Array; signature: Uint8Array }) => ({ id: k.id, publicKey: e(k.publicKey), signature: e(k.signature) });
const base = (keys: LocalKeys) => ({
  identity: { dhKey: e(keys.identity.dhKeyPair.publicKey), binding: e(keys.identity.binding) },
  signedPreKey: { id: keys.currentSignedId, publicKey: e(keys.currentSignedPreKey.keyPair.publicKey), signature: e(keys.currentSignedPreKey.signature) },
  lastResortKemPreKey: kemWire(keys.lastResortKemPreKey),
});
/** Random X25519 public keys (the server stores one-time keys unsigned; random u is never low-order in practice). */
const oneTimeKeys = (firstId: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: firstId + i, publicKey: e(randomBytes(32)) }));

describe('stored one-time prekeys', () => {
  const { ctx, publisher } = serverWith();

  it(`refuses an upload that would leave more than ${MAX_STORED_ONE_TIME_PREKEYS} X25519 one-time keys with prekey_limit, changing nothing`, async () => {
    const pia = await publisher('pia', { oneTime: 150 });
    const before = await call(pia.socket, 'prekeys.count', {});
    expect(before).toMatchObject({ ok: true, oneTime: 150 });
    const refused = await call(pia.socket, 'prekeys.upload', { identity: base(pia.keys).identity, oneTimePreKeys: oneTimeKeys(2000, 51) });
    expect(refused.error?.code).toBe('prekey_limit');
    expect(refused.error?.message).toContain(String(MAX_STORED_ONE_TIME_PREKEYS));
    expect(await call(pia.socket, 'prekeys.count', {})).toStrictEqual(before);
    // Exactly the cap fits; ids already stored are replaced, not counted twice.
    const again = await call(pia.socket, 'prekeys.upload', { identity: base(pia.keys).identity, oneTimePreKeys: [...oneTimeKeys(1000, 10), ...oneTimeKeys(2000, 50)] });
    expect(again).toMatchObject({ ok: true, oneTime: MAX_STORED_ONE_TIME_PREKEYS });
    expect((await call(pia.socket, 'prekeys.upload', { identity: base(pia.keys).identity, oneTimePreKeys: oneTimeKeys(3000, 1) })).error?.code).toBe('prekey_limit');
  });

  it('lists the ids still stored in the count and upload answers, without the ones handed out', async () => {
    const quinn = await publisher('quinn', { oneTime: 3, kemOneTime: 2 });
    const count = (await call(quinn.socket, 'prekeys.count', {})) as RawAck & { oneTimeIds: number[]; kemOneTimeIds: number[] };
    expect(count).toMatchObject({ ok: true, oneTime: 3, kemOneTime: 2, oneTimeIds: [1000, 1001, 1002], kemOneTimeIds: [5000, 5001] });
    const other = await rawSocket(ctx.srv.url);
    ctx.sockets.push(other);
    expect((await registerRaw(other, 'quinn-peer', ctx.userKeys)).ok).toBe(true);
    expect(await call(other, 'prekeys.bundle', { username: 'quinn' })).toMatchObject({ ok: true, oneTimePreKey: { id: 1000 }, kemPreKey: { id: 5000 } });
    const upload = await call(quinn.socket, 'prekeys.upload', { identity: base(quinn.keys).identity, oneTimePreKeys: oneTimeKeys(1003, 1) });
    expect(upload).toMatchObject({ ok: true, oneTime: 3, kemOneTime: 1, oneTimeIds: [1001, 1002, 1003], kemOneTimeIds: [5001] });
  });

  it('refuses validly signed low-order X25519 keys with bad_request naming the key, and stores nothing', async () => {
    const rex = await publisher('rex');
    const before = await call(rex.socket, 'prekeys.count', {});
    const sign = (message: Uint8Array) => e(ed25519Sign(message, rex.signingSecret));
    const signingKey = base64urlDecode(ctx.userKeys.signing.x);
    const LOW_ORDER = [
      '0000000000000000000000000000000000000000000000000000000000000000', // u = 0
      '0100000000000000000000000000000000000000000000000000000000000000', // u = 1
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p − 1 (order 4)
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // u = p (non-canonical 0)
    ].map(hexDecode);
    const good = base(rex.keys);
    for (const low of LOW_ORDER) {
      const cases: Array<[string, object]> = [
        ['identity.dhKey', { identity: { dhKey: e(low), binding: sign(identityBindingMessage(signingKey, low)) } }],
        ['signedPreKey.publicKey', { identity: good.identity, signedPreKey: { id: 77, publicKey: e(low), signature: sign(signedPreKeyMessage(low)) } }],
        ['oneTimePreKeys.1.publicKey', { identity: good.identity, oneTimePreKeys: [...oneTimeKeys(7000, 1), { id: 7001, publicKey: e(low) }] }],
      ];
      for (const [path, payload] of cases) {
        const ack = await call(rex.socket, 'prekeys.upload', payload);
        expect(ack.error?.code, path).toBe('bad_request');
        expect(ack.error?.message.startsWith(`${path}: `), ack.error?.message).toBe(true);
      }
    }
    expect(await call(rex.socket, 'prekeys.count', {})).toStrictEqual(before);
  });
});

describe('prekeys.low', () => {
  const { ctx, connect, publisher } = serverWith();

  it(`is pushed to every connected device of the owner once a fetch leaves fewer than ${PREKEY_LOW_THRESHOLD} of either kind`, async () => {
    const sam = await publisher('sam', { oneTime: PREKEY_LOW_THRESHOLD + 1, kemOneTime: PREKEY_LOW_THRESHOLD + 2 });
    const secondDevice = await connect('sam', false);
    const onSecond: PreKeysLowEvent[] = [];
    secondDevice.on('prekeys.low', (p: PreKeysLowEvent) => onSecond.push(p));
    expect((await loginRaw(secondDevice, 'sam', ctx.userKeys)).ok).toBe(true);
    const fetcher = await connect('sam-fan');
    // First fetch leaves 20 and 21: at the threshold, not below it, so nothing is pushed.
    expect(await call(fetcher, 'prekeys.bundle', { username: 'sam' })).toMatchObject({ ok: true });
    // Second fetch leaves 19 one-time X25519 keys: pushed, and it is the first push both devices see.
    expect(await call(fetcher, 'prekeys.bundle', { username: 'sam' })).toMatchObject({ ok: true });
    await waitUntil(() => (sam.low.length >= 1 && onSecond.length >= 1 ? true : undefined), 5000, 'prekeys.low on both devices');
    expect(sam.low[0]).toStrictEqual({ oneTime: PREKEY_LOW_THRESHOLD - 1, kemOneTime: PREKEY_LOW_THRESHOLD });
    expect(onSecond[0]).toStrictEqual({ oneTime: PREKEY_LOW_THRESHOLD - 1, kemOneTime: PREKEY_LOW_THRESHOLD });
  });
});

describe('bundle fetch rate limits (3 per requester, 5 per target; 1 a minute after)', () => {
  const { ctx, connect, publisher } = serverWith({
    bundleFetchPerRequesterBurst: 3,
    bundleFetchPerRequesterPerMinute: 1,
    bundleFetchPerTargetBurst: 5,
    bundleFetchPerTargetPerMinute: 1,
  });

  it('refuses a requester over its rate with rate_limited, on all of its connections, while others still fetch', async () => {
    await publisher('tia', { oneTime: 10 });
    const ann = await connect('ann');
    const code = async (s: Socket, target: string) => ((await call(s, 'prekeys.bundle', { username: target })) as RawAck).error?.code ?? 'ok';
    expect([await code(ann, 'tia'), await code(ann, 'tia'), await code(ann, 'tia'), await code(ann, 'tia')]).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
    const annAgain = await connect('ann', false);
    expect((await loginRaw(annAgain, 'ann', ctx.userKeys)).ok).toBe(true);
    expect(await code(annAgain, 'tia')).toBe('rate_limited');
    const ben = await connect('ben');
    expect(await code(ben, 'tia')).toBe('ok');
  });

  it('refuses fetches of one target beyond its rate, whoever asks, and a refused fetch hands out no key', async () => {
    const uma = await publisher('uma', { oneTime: 10 });
    const code = async (s: Socket) => ((await call(s, 'prekeys.bundle', { username: 'uma' })) as RawAck).error?.code ?? 'ok';
    const cy = await connect('cy');
    const di = await connect('di');
    expect([await code(cy), await code(cy), await code(cy), await code(di), await code(di), await code(di)]).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'rate_limited']);
    expect(await call(uma.socket, 'prekeys.count', {})).toMatchObject({ ok: true, oneTime: 5 });
    // Another target is unaffected.
    await publisher('vi', { oneTime: 1 });
    expect(await call(di, 'prekeys.bundle', { username: 'vi' })).toMatchObject({ ok: true });
  });
});
