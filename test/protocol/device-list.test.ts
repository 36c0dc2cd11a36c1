/**
 * The signed device list (docs/PROTOCOL.md §17): the strict decoder refuses every payload that breaks a
 * rule of §17.2; the signature binds it to the account key; the server's publish history (§17.4) and a
 * client's acceptance (§17.5) refuse rollback, equivocation, id reuse and changed keys.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { afterAll, describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode, concatBytes, hexDecode, type Bytes } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { installNativeCrypto } from '../../src/crypto/native.js';
import { nodeCrypto } from '../../src/crypto/node/node-crypto.js';
import { isLowOrderX25519Key } from '../../src/crypto/x25519-low-order.js';
import { LABEL_IDENTITY_BINDING } from '../../src/e2ee/pqxdh/constants.js';
import { ChatError } from '../../src/protocol/errors.js';
import { acceptDeviceList, checkPublishHistory } from '../../src/protocol/device-list-history.js';
import {
  decodeDeviceListPayload,
  type DeviceList,
  type DeviceListFields,
  encodeDeviceListPayload,
  MAX_DEVICE_LIST_PAYLOAD_BYTES,
} from '../../src/protocol/device-list-payload.js';
import { deviceListWireSchema, openDeviceList, signDeviceList } from '../../src/protocol/device-list-signature.js';
import { MAX_DEVICE_ID, MAX_DEVICES_PER_USER } from '../../src/protocol/limits.js';
import { rsaModulusFromJwk, rsaPublicJwkFromModulus } from '../../src/protocol/rsa-modulus.js';
import { rsa2048PublicJwkSchema } from '../../src/protocol/schemas.js';
import { ACCOUNT_KEY, ACCOUNT_SECRET, aliceList, edPublic, rawPayload, secret, signedWire, TEST_RSA_MODULI, vectorFields, xPublic } from './device-list-fixtures.js';

afterAll(() => installNativeCrypto(undefined));

/** Decoding `payload` fails with bad_request, its message matching `why`. */
function expectRefused(payload: Uint8Array, why: RegExp): void {
  let error: unknown;
  try {
    decodeDeviceListPayload(payload);
  } catch (err) {
    error = err;
  }
  expect(error, `expected a refusal matching ${why}`).toBeInstanceOf(ChatError);
  expect((error as ChatError).code).toBe('bad_request');
  expect((error as ChatError).message).toMatch(why);
}

const withDevice = async (fields: DeviceListFields, index: number, change: object): Promise<DeviceListFields> => ({
  ...fields,
  devices: fields.devices.map((d, i) => (i === index ? { ...d, ...change } : d)),
});

/** The vector's payload with bytes replaced at `offset` (offsets of §17.2, username "alice": L = 5). */
function patched(payload: Uint8Array, offset: number, bytes: number[]): Bytes {
  const out = Uint8Array.from(payload);
  out.set(bytes, offset);
  return out;
}

const ENTRY1 = 57; // first entry: 52 + L
const u32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

/** Low-order X25519 u-coordinates (RFC 7748; the list libsodium and Wycheproof use), little-endian. */
const LOW_ORDER_X25519 = {
  zero: '0000000000000000000000000000000000000000000000000000000000000000',
  one: '0100000000000000000000000000000000000000000000000000000000000000',
  'order 8 (a)': 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  'order 8 (b)': '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'p − 1': 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'p (non-canonical 0)': 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'p + 1 (non-canonical 1)': 'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'zero with bit 255 set': '0000000000000000000000000000000000000000000000000000000000000080',
  'order 8 (a) with bit 255 set': 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880',
};
/** Ed25519 keys strict verification refuses: small order, and a non-canonical y (p + 3, a large-order point). */
const BAD_ED25519 = {
  'the identity (order 1)': '0100000000000000000000000000000000000000000000000000000000000000',
  'order 2': 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'order 4': '0000000000000000000000000000000000000000000000000000000000000000',
  'order 8': 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'non-canonical y = p + 3': 'f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
};

describe('decoding a device list payload', () => {
  it('accepts the known-answer list and re-encodes it to the same bytes', async () => {
    const list = encodeDeviceListPayload(await vectorFields());
    const again = decodeDeviceListPayload(list.payload);
    expect(encodeDeviceListPayload(again).payload).toEqual(list.payload);
  });

  it('accepts six devices with 32-byte names and a 32-character username: the longest list, 2,286 bytes', async () => {
    const ids = [1, 2, 3, 4, 5, 6];
    const fields = await aliceList(ids, { username: 'a'.repeat(32) });
    const long = { ...fields, devices: fields.devices.map((d) => ({ ...d, name: 'é'.repeat(16) })) };
    expect(encodeDeviceListPayload(long).payload).toHaveLength(MAX_DEVICE_LIST_PAYLOAD_BYTES);
    expect(MAX_DEVICE_LIST_PAYLOAD_BYTES).toBe(2286);
  });

  it('refuses a format byte other than 0x02', async () => {
    expectRefused(rawPayload(await aliceList([1]), { format: 0x01 }), /format byte must be 0x02/);
  });

  it('refuses every truncation of a valid payload', async () => {
    const payload = encodeDeviceListPayload(await vectorFields()).payload;
    for (let length = 0; length < payload.length; length++) expectRefused(payload.slice(0, length), /ends inside|bytes after|device count/);
  });

  it('refuses trailing bytes', async () => {
    const payload = encodeDeviceListPayload(await aliceList([1])).payload;
    expectRefused(concatBytes(payload, Uint8Array.of(0)), /1 bytes after the last device/);
  });

  it('refuses a payload longer than the longest list: the longest with one byte more', async () => {
    const fields = await aliceList([1, 2, 3, 4, 5, 6], { username: 'a'.repeat(32) });
    const longest = encodeDeviceListPayload({ ...fields, devices: fields.devices.map((d) => ({ ...d, name: 'x'.repeat(32) })) }).payload;
    expectRefused(concatBytes(longest, Uint8Array.of(0)), /1 bytes after the last device/);
  });

  describe('username', () => {
    it.each([
      ['empty', ''],
      ['33 characters', 'a'.repeat(33)],
      ['upper case', 'Alice'],
      ['a digit first', '1alice'],
      ['non-ASCII', 'alicé'],
      ['a space', 'al ice'],
    ])('refuses a username that is %s', async (_, username) => {
      expectRefused(rawPayload(await aliceList([1], { username })), /username/);
    });
  });

  describe('account key', () => {
    it('refuses a type byte other than 0xED', async () => {
      const payload = encodeDeviceListPayload(await aliceList([1])).payload;
      expectRefused(patched(payload, 7, [0x05]), /account key must start with 0xed/);
    });

    it.each(Object.entries(BAD_ED25519))('refuses an account key that is %s', async (_, hex) => {
      const key = hexDecode(hex);
      const fields = await withDevice(await aliceList([1], { accountKey: key }), 0, { signingKey: key });
      expectRefused(rawPayload(fields), /account key is not a canonical Ed25519 key of large order/);
    });
  });

  describe('version, times and maxDeviceId', () => {
    it('refuses version 0', async () => {
      expectRefused(rawPayload(await aliceList([1], { version: 0 })), /version must be at least 1/);
    });

    it('accepts version 2^32 − 1', async () => {
      expect(encodeDeviceListPayload(await aliceList([1], { version: 0xffff_ffff })).version).toBe(0xffff_ffff);
    });

    it('refuses issuedAt or addedAt above 2^53 − 1, and accepts 2^53 − 1', async () => {
      const payload = encodeDeviceListPayload(await aliceList([1], { issuedAt: Number.MAX_SAFE_INTEGER })).payload;
      expect(decodeDeviceListPayload(payload).issuedAt).toBe(Number.MAX_SAFE_INTEGER);
      expectRefused(patched(payload, 44, [0x00, 0x20]), /issuedAt is above 2\^53 - 1/);
      expectRefused(patched(payload, ENTRY1 + 326, [0x00, 0x20]), /device 0 addedAt is above 2\^53 - 1/);
    });

    it.each([
      ['0', 0],
      ['2^31', MAX_DEVICE_ID + 1],
    ])('refuses maxDeviceId %s', async (_, maxDeviceId) => {
      expectRefused(rawPayload(await aliceList([1], { maxDeviceId })), /maxDeviceId must be 1 … 2147483647/);
    });

    it('refuses maxDeviceId below a listed id, and accepts it above (removed ids stay counted)', async () => {
      expectRefused(rawPayload(await aliceList([1, 3], { maxDeviceId: 2 })), /maxDeviceId is below a listed device id/);
      expect(encodeDeviceListPayload(await aliceList([1, 3], { maxDeviceId: 9 })).maxDeviceId).toBe(9);
    });
  });

  describe('devices', () => {
    it('refuses a list of no devices', async () => {
      expectRefused(rawPayload({ ...(await aliceList([1])), devices: [] }), /device count must be 1 … 6/);
    });

    it(`refuses more than ${MAX_DEVICES_PER_USER} devices`, async () => {
      expectRefused(rawPayload(await aliceList([1, 2, 3, 4, 5, 6, 7])), /device count must be 1 … 6/);
    });

    it('refuses a list whose first device is not device 1 (device 1 is never removed)', async () => {
      expectRefused(rawPayload(await aliceList([2, 3])), /the first device must be device 1/);
    });

    it("refuses a device 1 whose signing key is not the account key", async () => {
      expectRefused(rawPayload(await withDevice(await aliceList([1]), 0, { signingKey: edPublic(9) })), /device 1's signing key must be the account key/);
    });

    it('refuses ids that are not strictly increasing', async () => {
      const list = await aliceList([1, 3, 2]);
      expectRefused(rawPayload(list), /strictly increasing/);
      const twice = await aliceList([1, 2]);
      expectRefused(rawPayload(await withDevice(twice, 1, { deviceId: 1 })), /strictly increasing/);
    });

    it.each([
      ['0', 0],
      ['2^31', MAX_DEVICE_ID + 1],
    ])('refuses device id %s', async (_, id) => {
      expectRefused(rawPayload(await withDevice(await aliceList([1, 2], { maxDeviceId: MAX_DEVICE_ID }), 1, { deviceId: id })), /id must be 1 … 2147483647/);
    });

    it('accepts device id 2^31 − 1', async () => {
      const list = await withDevice(await aliceList([1, 2], { maxDeviceId: MAX_DEVICE_ID }), 1, { deviceId: MAX_DEVICE_ID });
      expect(encodeDeviceListPayload(list).devices[1]!.deviceId).toBe(MAX_DEVICE_ID);
    });

    it('refuses the same signing key listed for two devices', async () => {
      expectRefused(rawPayload(await withDevice(await aliceList([1, 2, 3]), 2, { signingKey: edPublic(3) })), /two devices list the same signing key/);
    });

    it('refuses the same identity key listed for two devices', async () => {
      expectRefused(rawPayload(await withDevice(await aliceList([1, 2]), 1, { identityKey: await xPublic(2) })), /two devices list the same identity key/);
    });

    it('refuses key type bytes other than 0xED for a signing key and 0x05 for an identity key', async () => {
      const payload = encodeDeviceListPayload(await aliceList([1])).payload;
      expectRefused(patched(payload, ENTRY1 + 4, [0x05]), /signing key must start with 0xed/);
      expectRefused(patched(payload, ENTRY1 + 37, [0xed]), /identity key must start with 0x5/);
    });

    it.each(Object.entries(BAD_ED25519))('refuses a device signing key that is %s', async (_, hex) => {
      expectRefused(rawPayload(await withDevice(await aliceList([1, 2]), 1, { signingKey: hexDecode(hex) })), /device 1: signing key is not a canonical Ed25519 key/);
    });

    it('refuses an RSA modulus shorter than 2048 bits or even', async () => {
      const short = Uint8Array.from(TEST_RSA_MODULI[0]!);
      short[0] = 0x7f;
      const even = Uint8Array.from(TEST_RSA_MODULI[0]!);
      even[255]! &= 0xfe;
      expectRefused(rawPayload(await withDevice(await aliceList([1]), 0, { rsaModulus: short })), /first byte at least 0x80/);
      expectRefused(rawPayload(await withDevice(await aliceList([1]), 0, { rsaModulus: even })), /RSA modulus must be odd/);
    });
  });

  describe('device names', () => {
    const withName = async (name: Uint8Array): Promise<Bytes> => {
      const payload = encodeDeviceListPayload(await withDevice(await aliceList([1]), 0, { name: '' })).payload;
      return concatBytes(payload.slice(0, payload.length - 1), Uint8Array.of(name.length), name);
    };

    it('accepts an empty name and UTF-8 up to 32 bytes', async () => {
      expect(decodeDeviceListPayload(await withName(new Uint8Array())).devices[0]!.name).toBe('');
      expect(decodeDeviceListPayload(await withName(new TextEncoder().encode('ノートパソコン'))).devices[0]!.name).toBe('ノートパソコン');
    });

    it('refuses a name longer than 32 bytes', async () => {
      expectRefused(await withName(new TextEncoder().encode('é'.repeat(17))), /name is longer than 32 bytes/);
    });

    it.each([
      ['a lone continuation byte', '80'],
      ['an overlong encoding of "/"', 'c0af'],
      ['an encoded surrogate', 'eda080'],
      ['a truncated sequence', 'e282'],
      ['a code point above U+10FFFF', 'f4908080'],
    ])('refuses a name with %s (not UTF-8)', async (_, hex) => {
      expectRefused(await withName(hexDecode(`61${hex}62`)), /name is not valid UTF-8/);
    });

    it.each([
      ['NUL', '\u0000'],
      ['a line feed', '\n'],
      ['ESC', '\u001b'],
      ['DEL', '\u007f'],
      ['the C1 control NEL', '\u0085'],
      ['the C1 control CSI', '\u009b'],
    ])('refuses a name with %s', async (_, control) => {
      expectRefused(await withName(new TextEncoder().encode(`lap${control}top`)), /name contains a control character/);
    });

    it('keeps a leading byte-order mark as part of the name, so the name is exactly the signed bytes', async () => {
      const list = decodeDeviceListPayload(await withName(hexDecode('efbbbf61')));
      expect(list.devices[0]!.name).toBe('\ufeffa');
      expect(encodeDeviceListPayload(list).payload).toEqual(list.payload);
    });

    it('encoding refuses a name that is not well-formed Unicode (a lone surrogate)', async () => {
      const fields = await withDevice(await aliceList([1]), 0, { name: 'a\ud800' });
      expect(() => encodeDeviceListPayload(fields)).toThrow(/not well-formed Unicode/);
    });
  });
});

describe.each([
  { name: 'portable (@noble)', native: undefined },
  { name: 'native (node:crypto)', native: nodeCrypto },
])('identity key checks, $name', ({ native }) => {
  it.each(Object.entries(LOW_ORDER_X25519))('refuses a low-order identity key: %s', async (_, hex) => {
    installNativeCrypto(native);
    expect(isLowOrderX25519Key(hexDecode(hex))).toBe(true);
    expectRefused(rawPayload(await withDevice(await aliceList([1]), 0, { identityKey: hexDecode(hex) })), /identity key is a low-order X25519 key/);
  });

  it('accepts ordinary identity keys, and a non-canonical encoding of one (RFC 7748 reduces it)', async () => {
    installNativeCrypto(native);
    for (let i = 2; i < 12; i++) expect(isLowOrderX25519Key(await xPublic(i))).toBe(false);
    // u = p + 2 is the point u = 2; bit 255 set on a valid key is the same key.
    expect(isLowOrderX25519Key(hexDecode('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(false);
    const key = await xPublic(2);
    key[31]! |= 0x80;
    expect(isLowOrderX25519Key(key)).toBe(false);
  });
});

describe('RSA keys in the list', () => {
  it('a modulus becomes the RSA-2048 JWK (e = 65537) the registration schema accepts, and back', () => {
    const jwk = rsaPublicJwkFromModulus(TEST_RSA_MODULI[1]!);
    expect(jwk.e).toBe('AQAB');
    expect(rsa2048PublicJwkSchema.safeParse(jwk).success).toBe(true);
    expect(rsaModulusFromJwk(jwk)).toEqual(TEST_RSA_MODULI[1]);
  });

  it('refuses a JWK with another exponent, a short modulus or an even one', () => {
    const jwk = rsaPublicJwkFromModulus(TEST_RSA_MODULI[0]!);
    expect(() => rsaModulusFromJwk({ ...jwk, e: 'Aw' })).toThrow(/exponent 65537/);
    expect(() => rsaModulusFromJwk({ ...jwk, n: base64urlEncode(TEST_RSA_MODULI[0]!.slice(1)) })).toThrow(/256 bytes/);
    const even = Uint8Array.from(TEST_RSA_MODULI[0]!);
    even[255]! &= 0xfe;
    expect(() => rsaModulusFromJwk({ ...jwk, n: base64urlEncode(even) })).toThrow(/odd/);
    expect(() => rsaPublicJwkFromModulus(even)).toThrow(/odd/);
  });
});

describe('the signed wire form', () => {
  const alice = { username: 'alice', accountKey: ACCOUNT_KEY };
  const wireOf = async (fields: DeviceListFields) => signDeviceList(encodeDeviceListPayload(fields), ed25519SigningKeyFromSeed(ACCOUNT_SECRET));

  it('a list signed by the account key opens', async () => {
    const opened = openDeviceList(await wireOf(await aliceList([1, 2])), alice);
    expect(opened.ok && opened.list.devices.map((d) => d.deviceId)).toEqual([1, 2]);
  });

  it('the schema takes exactly {list, signature}, with a list no longer than the longest payload', async () => {
    const wire = await wireOf(await aliceList([1]));
    expect(deviceListWireSchema.safeParse(wire).success).toBe(true);
    expect(deviceListWireSchema.safeParse({ list: wire.list }).success).toBe(false);
    expect(deviceListWireSchema.safeParse({ ...wire, extra: 1 }).success).toBe(false);
    expect(deviceListWireSchema.safeParse({ ...wire, list: '' }).success).toBe(false);
    expect(deviceListWireSchema.safeParse({ ...wire, list: 'A'.repeat(3049) }).success).toBe(false);
    expect(deviceListWireSchema.safeParse({ ...wire, signature: `${wire.signature}=` }).success).toBe(false);
  });

  it('a signature with one bit changed is bad_signature', async () => {
    const wire = await wireOf(await aliceList([1]));
    const signature = base64urlDecode(wire.signature);
    signature[10]! ^= 1;
    expect(openDeviceList({ ...wire, signature: base64urlEncode(signature) }, alice)).toMatchObject({ ok: false, failure: 'bad_signature' });
  });

  it('an unsigned list (a signature of zeros) is bad_signature', async () => {
    const wire = await wireOf(await aliceList([1]));
    expect(openDeviceList({ ...wire, signature: base64urlEncode(new Uint8Array(64)) }, alice)).toMatchObject({ ok: false, failure: 'bad_signature' });
  });

  it("a list signed by another key (a foreign signature) is bad_signature", async () => {
    const payload = encodeDeviceListPayload(await aliceList([1])).payload;
    expect(openDeviceList(signedWire(payload, secret(0x09)), alice)).toMatchObject({ ok: false, failure: 'bad_signature' });
  });

  it('a list re-signed by another key that also names that key is malformed: not the expected account key', async () => {
    const mallory = edPublic(0x09);
    const fields = await withDevice(await aliceList([1], { accountKey: mallory }), 0, { signingKey: mallory });
    const opened = openDeviceList(signedWire(encodeDeviceListPayload(fields).payload, secret(0x09)), alice);
    expect(opened).toMatchObject({ ok: false, failure: 'malformed', message: expect.stringMatching(/another account key/) });
  });

  it('a signature over the payload without the label, or under another label, is bad_signature', async () => {
    const payload = encodeDeviceListPayload(await aliceList([1])).payload;
    for (const message of [payload, concatBytes(LABEL_IDENTITY_BINDING, Uint8Array.of(0), payload)]) {
      const wire = { list: base64urlEncode(payload), signature: base64urlEncode(ed25519Sign(message, ACCOUNT_SECRET)) };
      expect(openDeviceList(wire, alice)).toMatchObject({ ok: false, failure: 'bad_signature' });
    }
  });

  it("a list for another user is malformed, even when signed by the expected key", async () => {
    const wire = await wireOf(await aliceList([1], { username: 'bob' }));
    expect(openDeviceList(wire, alice)).toMatchObject({ ok: false, failure: 'malformed', message: expect.stringMatching(/for "bob", not "alice"/) });
  });

  it('a list that is not canonical base64url, or does not decode, is malformed', async () => {
    const wire = await wireOf(await aliceList([1]));
    expect(openDeviceList({ ...wire, list: `${wire.list.slice(0, -1)}B` }, alice)).toMatchObject({ ok: false, failure: 'malformed' });
    expect(openDeviceList({ ...wire, list: 'AQ' }, alice)).toMatchObject({ ok: false, failure: 'malformed', message: expect.stringMatching(/format byte/) });
  });

  it('signing with a secret that is not the account key throws rather than produce a list no one accepts', async () => {
    const unsigned = encodeDeviceListPayload(await aliceList([1]));
    await expect(signDeviceList(unsigned, ed25519SigningKeyFromSeed(secret(0x09)))).rejects.toThrow(/not the list's account key/);
  });
});

/** Alice's decoded list with these devices; `change` alters fields or one device. */
async function list(ids: number[], fields: Partial<DeviceListFields> = {}, device?: { index: number; change: object }): Promise<DeviceList> {
  let f = await aliceList(ids, fields);
  if (device) f = await withDevice(f, device.index, device.change);
  return encodeDeviceListPayload(f);
}

describe('publishing: the server’s history rule', () => {
  it('a first list with device 1 alone is accepted, adding and removing nothing', async () => {
    expect(checkPublishHistory(null, await list([1]))).toEqual({ ok: true, added: undefined, removed: [] });
  });

  it('a first list may add one device to the implicit {1}, not two', async () => {
    expect(checkPublishHistory(null, await list([1, 2]))).toEqual({ ok: true, added: 2, removed: [] });
    expect(checkPublishHistory(null, await list([1, 2, 3]))).toMatchObject({ ok: false, message: /add one device, not 2/ });
  });

  it('a next version adding one device names it; removing any number names them', async () => {
    const stored = await list([1, 2, 3], { version: 3 });
    expect(checkPublishHistory(stored, await list([1, 2, 3, 4], { version: 4 }))).toEqual({ ok: true, added: 4, removed: [] });
    expect(checkPublishHistory(stored, await list([1], { version: 4, maxDeviceId: 3 }))).toEqual({ ok: true, added: undefined, removed: [2, 3] });
  });

  it('refuses the same version and an older one (strictly greater only)', async () => {
    const stored = await list([1, 2], { version: 5 });
    expect(checkPublishHistory(stored, await list([1, 2], { version: 5, issuedAt: 1 }))).toMatchObject({ ok: false, message: /version 5 is not above/ });
    expect(checkPublishHistory(stored, await list([1, 2], { version: 4 }))).toMatchObject({ ok: false, message: /version 4 is not above/ });
  });

  it('refuses a maxDeviceId that goes down', async () => {
    const stored = await list([1, 2], { version: 2, maxDeviceId: 5 });
    expect(checkPublishHistory(stored, await list([1, 2], { version: 3, maxDeviceId: 4 }))).toMatchObject({ ok: false, message: /maxDeviceId went down/ });
  });

  it('refuses reusing the id of a removed device', async () => {
    const stored = await list([1], { version: 3, maxDeviceId: 2 });
    expect(checkPublishHistory(stored, await list([1, 2], { version: 4 }))).toMatchObject({ ok: false, message: /device id 2 is not above the previous maxDeviceId 2/ });
  });

  it('refuses two added devices in one version', async () => {
    const stored = await list([1], { version: 1 });
    expect(checkPublishHistory(stored, await list([1, 2, 3], { version: 2 }))).toMatchObject({ ok: false, message: /add one device, not 2/ });
  });

  it.each([
    ['signing key', { signingKey: edPublic(0x21) }],
    ['identity key', { identityKey: hexDecode('0900000000000000000000000000000000000000000000000000000000000000') }],
    ['RSA key', { rsaModulus: TEST_RSA_MODULI[2] }],
    ['addedAt', { addedAt: 1 }],
  ])("refuses a kept linked device whose %s changed", async (what, change) => {
    const stored = await list([1, 2], { version: 2 });
    const next = await list([1, 2], { version: 3 }, { index: 1, change });
    expect(checkPublishHistory(stored, next)).toMatchObject({ ok: false, message: `device 2 changed its ${what}` });
  });

  it("accepts a new identity key for device 1 (the primary after losing its ratchet store), but no other change to device 1", async () => {
    const stored = await list([1, 2], { version: 2 });
    const newIk = await list([1, 2], { version: 3 }, { index: 0, change: { identityKey: await xPublic(0x30) } });
    expect(checkPublishHistory(stored, newIk)).toMatchObject({ ok: true });
    const newRsa = await list([1, 2], { version: 3 }, { index: 0, change: { rsaModulus: TEST_RSA_MODULI[2] } });
    expect(checkPublishHistory(stored, newRsa)).toMatchObject({ ok: false, message: 'device 1 changed its RSA key' });
  });
});

describe('receiving: a client’s acceptance of a list', () => {
  const receive = async (stored: DeviceList | null, received: DeviceList | Uint8Array | null, signer = ACCOUNT_SECRET) =>
    acceptDeviceList({
      username: 'alice',
      pin: ACCOUNT_KEY,
      stored,
      received: received === null ? null : signedWire(received instanceof Uint8Array ? received : received.payload, signer),
    });

  it('accepts a first list, removing nothing', async () => {
    const next = await list([1, 2]);
    expect(await receive(null, next)).toMatchObject({ outcome: 'accept', removedDevices: [], identityKey1Changed: false, wire: signedWire(next.payload) });
  });

  it('no list where none was ever seen is unchanged (the user is {1}); no list after one was seen is a rollback', async () => {
    expect(await receive(null, null)).toEqual({ outcome: 'unchanged' });
    expect(await receive(await list([1]), null)).toMatchObject({ outcome: 'refuse', code: 'device_list_rollback' });
  });

  it('refuses an older version as a rollback', async () => {
    expect(await receive(await list([1], { version: 5 }), await list([1], { version: 4 }))).toMatchObject({ outcome: 'refuse', code: 'device_list_rollback' });
  });

  it('the same version with the same bytes is unchanged; with other bytes it is equivocation', async () => {
    const stored = await list([1, 2], { version: 5 });
    expect(await receive(stored, stored)).toEqual({ outcome: 'unchanged' });
    expect(await receive(stored, await list([1], { version: 5, maxDeviceId: 2 }))).toMatchObject({
      outcome: 'refuse',
      code: 'device_list_invalid',
      message: expect.stringMatching(/two different device lists for alice claim version 5/),
    });
  });

  it('refuses id reuse and a falling maxDeviceId', async () => {
    const stored = await list([1], { version: 3, maxDeviceId: 2 });
    expect(await receive(stored, await list([1, 2], { version: 4 }))).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid', message: expect.stringMatching(/never reused/) });
    expect(await receive(stored, await list([1], { version: 4, maxDeviceId: 1 }))).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid', message: expect.stringMatching(/went down/) });
  });

  it.each([
    ['signing key', { signingKey: edPublic(0x21) }],
    ['identity key', { identityKey: hexDecode('0900000000000000000000000000000000000000000000000000000000000000') }],
    ['RSA key', { rsaModulus: TEST_RSA_MODULI[2] }],
    ['addedAt', { addedAt: 1 }],
  ])("refuses a kept linked device whose %s changed", async (what, change) => {
    const stored = await list([1, 2], { version: 2 });
    expect(await receive(stored, await list([1, 2], { version: 3 }, { index: 1, change }))).toMatchObject({
      outcome: 'refuse',
      code: 'device_list_invalid',
      message: expect.stringContaining(`device 2 changed its ${what}`),
    });
  });

  it("accepts a new identity key for device 1 and says so, so the caller drops device 1's sessions", async () => {
    const stored = await list([1, 2], { version: 2 });
    const next = await list([1, 2], { version: 3 }, { index: 0, change: { identityKey: await xPublic(0x30) } });
    expect(await receive(stored, next)).toMatchObject({ outcome: 'accept', identityKey1Changed: true, removedDevices: [] });
  });

  it('accepts a removal and names the removed devices', async () => {
    const stored = await list([1, 2, 3], { version: 3 });
    expect(await receive(stored, await list([1, 3], { version: 4 }))).toMatchObject({ outcome: 'accept', removedDevices: [2], identityKey1Changed: false });
  });

  it('accepts a jump of several versions adding several devices (versions in between were not seen)', async () => {
    const stored = await list([1], { version: 1 });
    expect(await receive(stored, await list([1, 2, 3], { version: 7 }))).toMatchObject({ outcome: 'accept', removedDevices: [] });
  });

  it('refuses a list with a bad signature, a foreign signature, or for another user as device_list_invalid', async () => {
    const stored = await list([1], { version: 1 });
    const next = await list([1, 2], { version: 2 });
    const flipped = signedWire(next.payload);
    const sig = base64urlDecode(flipped.signature);
    sig[0]! ^= 0x80;
    const badSignature = acceptDeviceList({ username: 'alice', pin: ACCOUNT_KEY, stored, received: { ...flipped, signature: base64urlEncode(sig) } });
    expect(badSignature).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid' });
    expect(await receive(stored, next, secret(0x09))).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid' });
    expect(await receive(stored, await list([1], { username: 'bob', version: 9 }))).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid' });
  });

  it('refuses a malformed list (trailing bytes) as device_list_invalid, whatever its version', async () => {
    const next = await list([1], { version: 9 });
    expect(await receive(null, concatBytes(next.payload, Uint8Array.of(0)))).toMatchObject({ outcome: 'refuse', code: 'device_list_invalid' });
  });
});
