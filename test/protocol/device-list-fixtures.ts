/**
 * Test data for the signed device list (src/protocol/device-list-*.ts): deterministic keys, fixed RSA
 * moduli, the known-answer list of docs/PROTOCOL.md §17.6, and an independent writer of the §17.2
 * layout so tests can build payloads that break one rule at a time.
 */
import { base64urlEncode, concatBytes, hexDecode, utf8Encode, type Bytes } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { X25519KeyPair } from '../../src/crypto/x25519.js';
import type { DeviceEntry, DeviceListFields } from '../../src/protocol/device-list-payload.js';
import { deviceListSignedMessage, type DeviceListWire } from '../../src/protocol/device-list-signature.js';

/**
 * RSA-2048 moduli (e = 65537) of three key pairs made once for these tests with node:crypto
 * generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 65537 }) on 2026-12-03. TEST DATA
 * ONLY: the private halves were never kept, so nothing can be encrypted to these keys usefully.
 */
export const TEST_RSA_MODULI: readonly Bytes[] = [
  hexDecode(
    'caafcd3bc1c14cfd6980a94351b0fabffe640efc73471a575cf0bae310b9594e0150fa3bf4218f5a8a88e1ce0548c3c9c190ae3a82df33e426764b57e6096405' +
    '840e593591f239211cb9da2d5ee17c12112d8d6b04395baf42d1728ce258fba1dc1c8815ffb6f3ae6581741fa704827c6dd79101cd6145fd7d4b76a816d185c0' +
    'c033e531f799ea1e82de8a93e1639f390e2e94226908bd652ea2515872fba377adcac5430fc13eb1082e75bbb9dd7c57013206734eff315b9ebccbb22edcc7e4' +
    '8cd7d07458eb59dbdc124ad6505606c231109ddda360e27d723256189f9259af6bd5375ba178195e61b41aaf63036b07128d0fe5886e64a13df079ff4388d58f',
  ),
  hexDecode(
    'b2b1b9eaabe1983c49630e9ea3c46f4a2065e9a07c14cf36cbcc17652effada8631cc06ba246cadee37220988fe98a506f32e32f703cf0140744e9c90a92fc60' +
    '18d7bb5d138bfd1f380dc9779b27ea289046a418a23314009d8604f722c36cbf00d1bc338d225d4cdb99684c1827692784ffaf6ef844dfdffc6e8dcc358f5dde' +
    'aaffaef6bc5c1eba4ae578d8d6695f85116ab047c6adb3fd74662caa2ed7cb850925c51bab32667c53e7e4da39896d28c1f6fd0c8326935a0bf3ab842f2691a1' +
    '234248543950720faa7a8fdd37d27b163f73a390b399a798ef82bafc7326e879471947451d5fab32f29a46952abaad7362062bf766fdefd0b18cb153b0443ce3',
  ),
  hexDecode(
    'c2dfd999b36276f5fc9b5143657ddb107f20c79e6dca1b0bb5e3189b1e8d84ee332cfe3a69b13c9c2ec0d990c5eb15cd11cabfdc4cff85d9f93efd464b1f0f66' +
    '95b15421e4ff00a451fab84b09339299cff8b5e315218c2be7b559722556f70961c6fcb8e08ac7b269938d831445e1b8d857f2765d0957e29ad63c770a012078' +
    '04d04c2931fda9d9caa4aea230604d3a3268e3f42e6f8cf6f941fe2f1f813580c1b31fd15c8f081bd7c32e919a7a837f874b4f1b3e6502c191b4bdd0f81c1727' +
    'dd43d4b008ce2bf7e31f00d869e2a084e4b64129d72fe413ce458571aa7c2728aac4024e78aa26cf594090bb0112cd3a07e43f37a2a222c9c3a8724da0a8b85f',
  ),
];

/** 32 bytes of one value: the secrets 01×32, 02×32 … of PROTOCOL.md §16.12 and §17.6. */
export const secret = (byte: number): Bytes => new Uint8Array(32).fill(byte);

export const edPublic = (byte: number): Bytes => ed25519PublicKeyFromSecret(secret(byte));
export const xPublic = async (byte: number): Promise<Bytes> => (await X25519KeyPair.fromSecretKey(secret(byte))).publicKey;

/** Alice's account key: the Ed25519 key of the secret 01×32, device 1's signing key. */
export const ACCOUNT_SECRET = secret(0x01);
export const ACCOUNT_KEY = edPublic(0x01);

/**
 * Device `id` with keys from fixed secrets: device 1 signs with the account key (01×32) and its X25519
 * identity is 02×32; device d > 1 uses Ed25519 secret (2d−1)×32 and X25519 secret 2d×32.
 */
export async function testDevice(id: number, overrides: Partial<DeviceEntry> = {}): Promise<DeviceEntry> {
  return {
    deviceId: id,
    signingKey: id === 1 ? ACCOUNT_KEY : edPublic(2 * id - 1),
    identityKey: await xPublic(2 * id),
    rsaModulus: TEST_RSA_MODULI[(id - 1) % TEST_RSA_MODULI.length]!,
    addedAt: 1_795_000_000_000 + (id - 1) * 776_000_000,
    name: id === 1 ? 'phone' : `device ${id}`,
    ...overrides,
  };
}

/** The known-answer list (§17.6): alice, version 2, device 1 "phone" and device 2 "Zoë's laptop". */
export async function vectorFields(): Promise<DeviceListFields> {
  return {
    username: 'alice',
    accountKey: ACCOUNT_KEY,
    version: 2,
    issuedAt: 1_795_776_494_638,
    maxDeviceId: 2,
    devices: [await testDevice(1), await testDevice(2, { name: 'Zoë\u2019s laptop' })],
  };
}

/** Alice's list with the given devices (version and maxDeviceId as given or derived). */
export async function aliceList(ids: readonly number[], fields: Partial<DeviceListFields> = {}): Promise<DeviceListFields> {
  return {
    username: 'alice',
    accountKey: ACCOUNT_KEY,
    version: 1,
    issuedAt: 1_795_776_494_638,
    maxDeviceId: Math.max(...ids),
    devices: await Promise.all(ids.map((id) => testDevice(id))),
    ...fields,
  };
}

/**
 * The §17.2 layout written straight from the table, with no rule checked: tests use it to build payloads
 * that break exactly one rule, and the vector test checks the codec writes the same bytes.
 */
export function rawPayload(f: DeviceListFields, options: { format?: number; edType?: number; ecType?: number } = {}): Bytes {
  const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  const u64 = (v: number) => concatBytes(u32(Math.floor(v / 2 ** 32)), u32(v % 2 ** 32));
  const u8 = (v: number) => Uint8Array.of(v);
  const withLength = (b: Uint8Array) => concatBytes(u8(b.length), b);
  const ed = (k: Uint8Array) => concatBytes(u8(options.edType ?? 0xed), k);
  const ec = (k: Uint8Array) => concatBytes(u8(options.ecType ?? 0x05), k);
  return concatBytes(
    u8(options.format ?? 0x02),
    withLength(utf8Encode(f.username)),
    ed(f.accountKey),
    u32(f.version),
    u64(f.issuedAt),
    u32(f.maxDeviceId),
    u8(f.devices.length),
    ...f.devices.map((d) => concatBytes(u32(d.deviceId), ed(d.signingKey), ec(d.identityKey), d.rsaModulus, u64(d.addedAt), withLength(utf8Encode(d.name)))),
  );
}

/** A wire form of any bytes, signed by any secret (also the wrong one, for refusal tests). */
export function signedWire(payload: Uint8Array, signer: Uint8Array = ACCOUNT_SECRET): DeviceListWire {
  return { list: base64urlEncode(payload), signature: base64urlEncode(ed25519Sign(deviceListSignedMessage(payload), signer)) };
}
