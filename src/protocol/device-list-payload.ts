/**
 * The payload of a signed device list, byte for byte (docs/PROTOCOL.md §17.2; design:
 * docs/design/devices-v2.md §4.2): what the account key signs and what travels, base64url, in
 * `DeviceListWire.list`. Decoding is strict: the exact layout, every field rule, no trailing bytes. A
 * list that decodes is well formed and its keys are usable; whether it is signed, and whether it may
 * follow the list one already holds, are device-list-signature.ts and device-list-history.ts.
 *
 * Keys are raw bytes here (32-byte Ed25519 and X25519 public keys, the 256-byte RSA modulus); the
 * payload writes them as EncodeEd / EncodeEC of PROTOCOL.md §16.2.
 */
import { type Bytes, hexEncode, utf8Encode } from '../crypto/bytes.js';
import { ED25519_PUBLIC_KEY_LENGTH, ed25519PublicKeyAcceptable } from '../crypto/ed25519.js';
import { X25519_KEY_LENGTH } from '../crypto/x25519.js';
import { isLowOrderX25519Key } from '../crypto/x25519-low-order.js';
import { ChatError } from './errors.js';
import { MAX_DEVICE_ID, MAX_DEVICE_NAME_BYTES, MAX_DEVICES_PER_USER, USERNAME_MAX_LENGTH, USERNAME_PATTERN } from './limits.js';
import { RSA_MODULUS_BYTES, rsaModulusProblem } from './rsa-modulus.js';

/** First byte of the payload. */
export const DEVICE_LIST_FORMAT = 0x02;
/**
 * The type bytes of EncodeEd and EncodeEC (PROTOCOL.md §16.2). src/e2ee/pqxdh/constants.ts holds the same
 * values for PQXDH; the protocol layer cannot import it, and a test pins that the two agree.
 */
export const ENCODE_ED_TYPE = 0xed;
export const ENCODE_EC_TYPE = 0x05;

/** Fixed part of the payload before the username and before the entries. */
const HEADER_BYTES = 2 + 33 + 4 + 8 + 4 + 1;
/** Fixed part of one device entry, before its name. */
const ENTRY_FIXED_BYTES = 4 + 33 + 33 + RSA_MODULUS_BYTES + 8 + 1;
/** The longest payload: 32-character username, six devices with 32-byte names (2,286 bytes). */
export const MAX_DEVICE_LIST_PAYLOAD_BYTES = HEADER_BYTES + USERNAME_MAX_LENGTH + MAX_DEVICES_PER_USER * (ENTRY_FIXED_BYTES + MAX_DEVICE_NAME_BYTES);

export interface DeviceEntry {
  readonly deviceId: number;
  /** DSK_d: the device's Ed25519 signing key (for device 1, the account key). */
  readonly signingKey: Bytes;
  /** IK_d: the device's X25519 identity key. */
  readonly identityKey: Bytes;
  /** RSA_d: the big-endian modulus of the device's RSA-2048 key (e = 65537). */
  readonly rsaModulus: Bytes;
  /** When the primary added the device, ms since the epoch; informational. */
  readonly addedAt: number;
  /** Chosen by the user; public. */
  readonly name: string;
}

export interface DeviceListFields {
  readonly username: string;
  /** IDS: the account's Ed25519 key, the one registered in v1 and pinned by peers. */
  readonly accountKey: Bytes;
  readonly version: number;
  /** When the primary signed this version, ms since the epoch; informational, never compared with a clock. */
  readonly issuedAt: number;
  /** The highest id ever given to a device of this user: ids are never reused. */
  readonly maxDeviceId: number;
  /** Device 1 first, ids strictly increasing. */
  readonly devices: readonly DeviceEntry[];
}

/** A decoded list, with the exact bytes it was read from: what is signed, compared and stored. */
export interface DeviceList extends DeviceListFields {
  readonly payload: Bytes;
}

const MAX_U32 = 0xffff_ffff;
const MAX_TIME = Number.MAX_SAFE_INTEGER; // 2^53 - 1
/** Keeps a leading U+FEFF as a character, so the decoded name is exactly the bytes that were signed. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function malformed(message: string): ChatError {
  return new ChatError('bad_request', `device list: ${message}`);
}

/** C0 controls, DEL and C1 controls: everything Unicode puts in category Cc. */
function hasControlCharacter(text: string): boolean {
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

class Reader {
  offset = 0;
  readonly #input: Bytes;
  readonly #view: DataView;
  constructor(input: Bytes) {
    this.#input = input;
    this.#view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }
  #take(length: number, field: string): number {
    if (this.offset + length > this.#input.length) throw malformed(`ends inside ${field}`);
    const at = this.offset;
    this.offset += length;
    return at;
  }
  u8(field: string): number {
    return this.#view.getUint8(this.#take(1, field));
  }
  u32(field: string): number {
    return this.#view.getUint32(this.#take(4, field), false);
  }
  /** A u64 that must fit a JavaScript number exactly (≤ 2^53 − 1). */
  time(field: string): number {
    const at = this.#take(8, field);
    const high = this.#view.getUint32(at, false);
    const low = this.#view.getUint32(at + 4, false);
    if (high > 0x1f_ffff) throw malformed(`${field} is above 2^53 - 1`);
    return high * 2 ** 32 + low;
  }
  bytes(length: number, field: string): Bytes {
    const at = this.#take(length, field);
    return this.#input.slice(at, at + length);
  }
  /** A type byte then a 32-byte key, as EncodeEd / EncodeEC write it. */
  typedKey(type: number, field: string): Bytes {
    const encoded = this.bytes(33, field);
    if (encoded[0] !== type) throw malformed(`${field} must start with 0x${type.toString(16)}`);
    return encoded.slice(1);
  }
}

function readUsername(r: Reader): string {
  const length = r.u8('username length');
  if (length < 1 || length > USERNAME_MAX_LENGTH) throw malformed(`username length must be 1 … ${USERNAME_MAX_LENGTH}`);
  const raw = r.bytes(length, 'username');
  // Each byte as one character: the pattern admits ASCII only, so any byte ≥ 0x80 fails it.
  const username = String.fromCharCode(...raw);
  if (!USERNAME_PATTERN.test(username)) throw malformed('username does not match ^[a-z][a-z0-9_-]{0,31}$');
  return username;
}

function readEntry(r: Reader, index: number): DeviceEntry {
  const at = `device ${index}`;
  const deviceId = r.u32(`${at} id`);
  if (deviceId < 1 || deviceId > MAX_DEVICE_ID) throw malformed(`${at}: id must be 1 … ${MAX_DEVICE_ID}`);
  const signingKey = r.typedKey(ENCODE_ED_TYPE, `${at} signing key`);
  if (!ed25519PublicKeyAcceptable(signingKey)) throw malformed(`${at}: signing key is not a canonical Ed25519 key of large order`);
  const identityKey = r.typedKey(ENCODE_EC_TYPE, `${at} identity key`);
  if (isLowOrderX25519Key(identityKey)) throw malformed(`${at}: identity key is a low-order X25519 key`);
  const rsaModulus = r.bytes(RSA_MODULUS_BYTES, `${at} RSA modulus`);
  const modulusProblem = rsaModulusProblem(rsaModulus);
  if (modulusProblem) throw malformed(`${at}: ${modulusProblem}`);
  const addedAt = r.time(`${at} addedAt`);
  const nameLength = r.u8(`${at} name length`);
  if (nameLength > MAX_DEVICE_NAME_BYTES) throw malformed(`${at}: name is longer than ${MAX_DEVICE_NAME_BYTES} bytes`);
  const nameBytes = r.bytes(nameLength, `${at} name`);
  let name: string;
  try {
    name = strictUtf8.decode(nameBytes);
  } catch (cause) {
    throw new ChatError('bad_request', `device list: ${at}: name is not valid UTF-8`, { cause });
  }
  if (hasControlCharacter(name)) throw malformed(`${at}: name contains a control character`);
  return { deviceId, signingKey, identityKey, rsaModulus, addedAt, name };
}

/** Rules across entries: order, device 1 and the account key, maxDeviceId, distinct keys. */
function checkEntries(accountKey: Bytes, maxDeviceId: number, devices: readonly DeviceEntry[]): void {
  const first = devices[0]!;
  if (first.deviceId !== 1) throw malformed('the first device must be device 1');
  if (hexEncode(first.signingKey) !== hexEncode(accountKey)) throw malformed("device 1's signing key must be the account key");
  for (let i = 1; i < devices.length; i++) {
    if (devices[i]!.deviceId <= devices[i - 1]!.deviceId) throw malformed('device ids must be strictly increasing');
  }
  if (devices[devices.length - 1]!.deviceId > maxDeviceId) throw malformed('maxDeviceId is below a listed device id');
  const signingKeys = new Set(devices.map((d) => hexEncode(d.signingKey)));
  if (signingKeys.size !== devices.length) throw malformed('two devices list the same signing key');
  const identityKeys = new Set(devices.map((d) => hexEncode(d.identityKey)));
  if (identityKeys.size !== devices.length) throw malformed('two devices list the same identity key');
}

/** Parses a payload under every rule of PROTOCOL.md §17.2; ChatError('bad_request') naming the first broken one. */
export function decodeDeviceListPayload(payload: Uint8Array): DeviceList {
  if (!(payload instanceof Uint8Array)) throw new TypeError('"payload" expected Uint8Array');
  // No length check first: the rules bound what is read to MAX_DEVICE_LIST_PAYLOAD_BYTES, and anything
  // beyond is trailing bytes. (The wire schema caps the base64url text before it is decoded.)
  const bytes = Uint8Array.from(payload);
  const r = new Reader(bytes);
  const format = r.u8('format');
  if (format !== DEVICE_LIST_FORMAT) throw malformed(`format byte must be 0x02, not 0x${format.toString(16).padStart(2, '0')}`);
  const username = readUsername(r);
  const accountKey = r.typedKey(ENCODE_ED_TYPE, 'account key');
  if (!ed25519PublicKeyAcceptable(accountKey)) throw malformed('account key is not a canonical Ed25519 key of large order');
  const version = r.u32('version');
  if (version < 1) throw malformed('version must be at least 1');
  const issuedAt = r.time('issuedAt');
  const maxDeviceId = r.u32('maxDeviceId');
  if (maxDeviceId < 1 || maxDeviceId > MAX_DEVICE_ID) throw malformed(`maxDeviceId must be 1 … ${MAX_DEVICE_ID}`);
  const count = r.u8('device count');
  if (count < 1 || count > MAX_DEVICES_PER_USER) throw malformed(`device count must be 1 … ${MAX_DEVICES_PER_USER}`);
  const devices: DeviceEntry[] = [];
  for (let i = 0; i < count; i++) devices.push(readEntry(r, i));
  if (r.offset !== bytes.length) throw malformed(`${bytes.length - r.offset} bytes after the last device`);
  checkEntries(accountKey, maxDeviceId, devices);
  return { username, accountKey, version, issuedAt, maxDeviceId, devices, payload: bytes };
}

function checkInteger(value: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`"${field}" expected an integer 0 … ${max}`);
}

function checkKey(value: Uint8Array, length: number, field: string): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw new RangeError(`"${field}" expected Uint8Array of length ${length}`);
}

/** Writes the fields, then decodes the result: a list this returns is one decodeDeviceListPayload accepts. */
export function encodeDeviceListPayload(fields: DeviceListFields): DeviceList {
  const username = utf8Encode(fields.username);
  checkInteger(username.length, 0xff, 'username length');
  checkKey(fields.accountKey, ED25519_PUBLIC_KEY_LENGTH, 'accountKey');
  checkInteger(fields.version, MAX_U32, 'version');
  checkInteger(fields.issuedAt, MAX_TIME, 'issuedAt');
  checkInteger(fields.maxDeviceId, MAX_U32, 'maxDeviceId');
  checkInteger(fields.devices.length, 0xff, 'devices.length');
  const names = fields.devices.map((d, i) => {
    const name = utf8Encode(d.name);
    // TextEncoder turns a lone surrogate into U+FFFD: the signed name would not be the one given.
    if (strictUtf8.decode(name) !== d.name) throw new RangeError(`"devices.${i}.name" is not well-formed Unicode`);
    checkInteger(name.length, 0xff, `devices.${i}.name length`);
    return name;
  });
  const length = HEADER_BYTES + username.length + fields.devices.reduce((sum, _, i) => sum + ENTRY_FIXED_BYTES + names[i]!.length, 0);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let o = 0;
  const u8 = (v: number) => view.setUint8(o++, v);
  const u32 = (v: number) => {
    view.setUint32(o, v, false);
    o += 4;
  };
  const time = (v: number) => {
    view.setUint32(o, Math.floor(v / 2 ** 32), false);
    view.setUint32(o + 4, v % 2 ** 32, false);
    o += 8;
  };
  const put = (b: Uint8Array) => {
    out.set(b, o);
    o += b.length;
  };
  u8(DEVICE_LIST_FORMAT);
  u8(username.length);
  put(username);
  u8(ENCODE_ED_TYPE);
  put(fields.accountKey);
  u32(fields.version);
  time(fields.issuedAt);
  u32(fields.maxDeviceId);
  u8(fields.devices.length);
  fields.devices.forEach((d, i) => {
    checkInteger(d.deviceId, MAX_U32, `devices.${i}.deviceId`);
    checkKey(d.signingKey, ED25519_PUBLIC_KEY_LENGTH, `devices.${i}.signingKey`);
    checkKey(d.identityKey, X25519_KEY_LENGTH, `devices.${i}.identityKey`);
    checkKey(d.rsaModulus, RSA_MODULUS_BYTES, `devices.${i}.rsaModulus`);
    checkInteger(d.addedAt, MAX_TIME, `devices.${i}.addedAt`);
    u32(d.deviceId);
    u8(ENCODE_ED_TYPE);
    put(d.signingKey);
    u8(ENCODE_EC_TYPE);
    put(d.identityKey);
    put(d.rsaModulus);
    time(d.addedAt);
    u8(names[i]!.length);
    put(names[i]!);
  });
  return decodeDeviceListPayload(out);
}
