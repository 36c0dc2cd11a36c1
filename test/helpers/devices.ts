/**
 * Accounts with several devices for protocol-2 server tests over raw sockets: each device's keys (its
 * Ed25519 signing key, and an X25519 identity with signed prekeys made by LocalKeys under that key), the
 * account's signed device list built from them, and the v2 register, login and upload payloads
 * (docs/PROTOCOL.md §17, §19). Device 1 is the primary: its signing key is the account key and its RSA
 * key the registered one, as design §2.4 has it.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import type { Socket } from 'socket.io-client';
import { LocalKeys } from '../../src/client/local-prekeys.js';
import { base64urlDecode, base64urlEncode, randomBytes, type Bytes } from '../../src/crypto/bytes.js';
import { ed25519Sign } from '../../src/crypto/ed25519.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { ed25519PublicOf, jwkThumbprint, rsaPublicOf, type UserKeyPairs } from '../../src/crypto/keys.js';
import { loginMessageV2, registerMessage } from '../../src/protocol/auth-message.js';
import { encodeDeviceListPayload, type DeviceEntry, type DeviceListFields } from '../../src/protocol/device-list-payload.js';
import type { DeviceListWire } from '../../src/protocol/device-list-signature.js';
import { signedWire, TEST_RSA_MODULI } from '../protocol/device-list-fixtures.js';
import { call, keysFor, rawSocket, waitUntil, type RawAck } from './test-clients.js';

/** One device's secrets and public keys. */
export interface TestDevice {
  readonly id: number;
  /** DSK_d's secret (for device 1, the account's). */
  readonly signingSecret: Bytes;
  /** DSK_d. */
  readonly signingKey: Bytes;
  /** IK_d with its binding, signed prekey 1 and last-resort ML-KEM prekey 1, all signed by DSK_d. */
  readonly keys: LocalKeys;
  readonly rsaModulus: Bytes;
  readonly name: string;
  readonly addedAt: number;
  /** IK_d when it is not `keys`' own: the one a protocol-1 client of device 1 published. */
  readonly identityKey?: Bytes;
}

export const entryOf = (d: TestDevice): DeviceEntry => ({
  deviceId: d.id,
  signingKey: d.signingKey,
  identityKey: d.identityKey ?? d.keys.identity.dhKeyPair.publicKey,
  rsaModulus: d.rsaModulus,
  addedAt: d.addedAt,
  name: d.name,
});

/** A linked device with fresh keys (RSA: a fixed test modulus, which the server only checks for shape). */
export async function newDevice(id: number, name = `device ${id}`): Promise<TestDevice> {
  const signingSecret = randomBytes(32);
  return {
    id,
    signingSecret,
    signingKey: ed25519PublicKeyFromSecret(signingSecret),
    keys: await LocalKeys.generate(ed25519SigningKeyFromSeed(signingSecret), Date.now()),
    rsaModulus: TEST_RSA_MODULI[id % TEST_RSA_MODULI.length]!,
    name,
    addedAt: Date.now(),
  };
}

/** A user, its account keys and the devices its newest list names, with that list's version. */
export class TestAccount {
  readonly devices = new Map<number, TestDevice>();
  version = 1;
  maxDeviceId = 1;

  private constructor(
    readonly username: string,
    readonly userKeys: UserKeyPairs,
  ) {}

  static async create(username: string, userKeys?: UserKeyPairs): Promise<TestAccount> {
    const keys = userKeys ?? (await keysFor());
    const account = new TestAccount(username, keys);
    const signingSecret = base64urlDecode(keys.signing.d);
    account.devices.set(1, {
      id: 1,
      signingSecret,
      signingKey: base64urlDecode(keys.signing.x),
      keys: await LocalKeys.generate(ed25519SigningKeyFromSeed(signingSecret), Date.now()),
      rsaModulus: base64urlDecode(keys.encryption.n),
      name: 'first',
      addedAt: Date.now(),
    });
    return account;
  }

  get accountSecret(): Uint8Array {
    return base64urlDecode(this.userKeys.signing.d);
  }

  device(id: number): TestDevice {
    const d = this.devices.get(id);
    if (!d) throw new Error(`${this.username} has no device ${id} in the test's list`);
    return d;
  }

  /** The fields of the current list, with any field replaced. */
  fields(overrides: Partial<DeviceListFields> = {}): DeviceListFields {
    return {
      username: this.username,
      accountKey: base64urlDecode(this.userKeys.signing.x),
      version: this.version,
      issuedAt: Date.now(),
      maxDeviceId: this.maxDeviceId,
      devices: [...this.devices.values()].sort((a, b) => a.id - b.id).map(entryOf),
      ...overrides,
    };
  }

  /** The current list signed by the account key (or by `signer`, to test refusals). */
  list(overrides: Partial<DeviceListFields> = {}, signer?: Uint8Array): DeviceListWire {
    return signedWire(encodeDeviceListPayload(this.fields(overrides)).payload, signer ?? this.accountSecret);
  }

  /** The next version adds `device` (id `maxDeviceId + 1` unless it says otherwise). */
  add(device: TestDevice): void {
    this.devices.set(device.id, device);
    this.maxDeviceId = Math.max(this.maxDeviceId, device.id);
    this.version++;
  }

  remove(id: number): void {
    this.devices.delete(id);
    this.version++;
  }
}

const b64 = base64urlEncode;

/** The keys `prekeys.upload` and an `added` device carry: identity, signed prekey, last-resort ML-KEM prekey. */
export function preKeysOf(keys: LocalKeys) {
  const kem = keys.lastResortKemPreKey;
  return {
    identity: { dhKey: b64(keys.identity.dhKeyPair.publicKey), binding: b64(keys.identity.binding) },
    signedPreKey: { id: keys.currentSignedId, publicKey: b64(keys.currentSignedPreKey.keyPair.publicKey), signature: b64(keys.currentSignedPreKey.signature) },
    lastResortKemPreKey: { id: kem.id, publicKey: b64(kem.publicKey), signature: b64(kem.signature) },
  };
}

/** `added` of a `devices.publish` that links `device`. */
export const addedOf = (device: TestDevice) => ({ device: device.id, ...preKeysOf(device.keys) });

/** A v2 `register` of the account with its current list (or another one), over a raw socket. */
export async function registerV2(socket: Socket, account: TestAccount, deviceList: DeviceListWire = account.list()): Promise<RawAck> {
  const { challenge } = (await call(socket, 'challenge', {})) as RawAck & { challenge: string };
  const signingKey = ed25519PublicOf(account.userKeys.signing);
  const encryptionKey = rsaPublicOf(account.userKeys.encryption);
  const message = registerMessage({
    challenge,
    username: account.username,
    signingKeyThumbprint: await jwkThumbprint(signingKey),
    encryptionKeyThumbprint: await jwkThumbprint(encryptionKey),
  });
  const signature = b64(ed25519Sign(message, account.accountSecret));
  return call(socket, 'register', { username: account.username, signingKey, encryptionKey, signature, protocol: 2, deviceList });
}

/** A v2 `login` of one device, signed by `signer` (its own signing key unless a test says otherwise). */
export async function loginV2(socket: Socket, username: string, device: number, signer: Uint8Array): Promise<RawAck> {
  const { challenge } = (await call(socket, 'challenge', {})) as RawAck & { challenge: string };
  const signature = b64(ed25519Sign(loginMessageV2({ challenge, username, device }), signer));
  return call(socket, 'login', { username, device, protocol: 2, signature });
}

/** A raw socket and every event the server pushed to it, in order. */
export interface RecordingSocket {
  readonly socket: Socket;
  readonly events: Array<{ event: string; payload: unknown }>;
  /** The payloads of one event, in order. */
  of<T = Record<string, unknown>>(event: string): T[];
  /** Resolves with the payloads of `event` once there are `n` of them. */
  waitFor<T = Record<string, unknown>>(event: string, n?: number): Promise<T[]>;
  /** Resolves when the server closed the connection. */
  readonly disconnected: Promise<string>;
}

export async function recording(url: string): Promise<RecordingSocket> {
  const socket = await rawSocket(url);
  const events: RecordingSocket['events'] = [];
  socket.onAny((event: string, payload: unknown) => events.push({ event, payload }));
  const disconnected = new Promise<string>((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
  const of = <T>(event: string) => events.filter((e) => e.event === event).map((e) => e.payload as T);
  return {
    socket,
    events,
    of,
    waitFor: <T>(event: string, n = 1) => waitUntil(() => (of<T>(event).length >= n ? of<T>(event) : undefined), 5000, `${n} ${event} event(s)`),
    disconnected,
  };
}

/** A recording socket logged in (protocol 2) as one device of `account`. */
export async function deviceSocket(url: string, account: TestAccount, device: number): Promise<RecordingSocket> {
  const s = await recording(url);
  const ack = await loginV2(s.socket, account.username, device, account.device(device).signingSecret);
  if (!ack.ok) throw new Error(`login of ${account.username}/${device} failed: ${JSON.stringify(ack.error)}`);
  return s;
}

/**
 * Sockets of one test server, closed together: accounts registered with protocol 2 (device 1 alone,
 * its prekeys uploaded) and devices linked to them through `devices.publish`, as a primary would.
 */
export class DeviceSockets {
  private readonly sockets: Socket[] = [];

  constructor(private readonly url: () => string) {}

  /** Closes `socket` with the others; returns it. */
  track(socket: Socket): Socket {
    this.sockets.push(socket);
    return socket;
  }

  /** A bare protocol-level socket (for protocol-1 logins). */
  async raw(): Promise<Socket> {
    return this.track(await rawSocket(this.url()));
  }

  async open(): Promise<RecordingSocket> {
    const s = await recording(this.url());
    this.track(s.socket);
    return s;
  }

  /** A recording connection logged in as `account`'s device `id`. */
  async device(account: TestAccount, id: number): Promise<RecordingSocket> {
    const s = await deviceSocket(this.url(), account, id);
    this.track(s.socket);
    return s;
  }

  /** A user registered with protocol 2 (its list: device 1 alone) and its device 1's connection. */
  async registered(username: string): Promise<{ account: TestAccount; primary: RecordingSocket }> {
    const account = await TestAccount.create(username);
    const primary = await this.open();
    const ack = await registerV2(primary.socket, account);
    if (!ack.ok) throw new Error(`registering ${username} failed: ${JSON.stringify(ack.error)}`);
    const upload = await call(primary.socket, 'prekeys.upload', preKeysOf(account.device(1).keys));
    if (!upload.ok) throw new Error(`uploading ${username}'s prekeys failed: ${JSON.stringify(upload.error)}`);
    return { account, primary };
  }

  /** The primary links a new device (the next id) with its first prekeys; returns it. */
  async link(account: TestAccount, primary: RecordingSocket): Promise<TestDevice> {
    const d = await newDevice(account.maxDeviceId + 1);
    account.add(d);
    const ack = await call(primary.socket, 'devices.publish', { deviceList: account.list(), added: addedOf(d) });
    if (!ack.ok) throw new Error(`linking ${account.username}/${d.id} failed: ${JSON.stringify(ack.error)}`);
    return d;
  }

  closeAll(): void {
    for (const s of this.sockets.splice(0)) s.close();
  }
}
