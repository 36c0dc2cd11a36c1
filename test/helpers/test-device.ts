/**
 * A scriptable peer for client tests: a user with several devices, each logged in with protocol 2 over
 * its own raw socket (to the real server or a hostile one), its prekeys published so others can fetch
 * its bundle. Each device keeps every `message` pushed to it, opens the ratchet envelopes addressed to
 * it as the responder with the library's own session code, and acknowledges them. The test drives the
 * account: link a device, remove one, publish any list (signed, unsigned, forged), send a v2 message.
 *
 * The opening is the library's: decryptMessage on a SessionRecord per sending address, the prekeys read
 * from a MemoryRatchetStore (ResponderPreKeys) seeded with the same LocalKeys whose identity key the
 * published list names. SessionManager itself is not used: it parses the plaintext with the client's
 * payload schema, which is changing (v1 → v2); here the plaintext is handed back as loose JSON.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { ResponderPreKeys } from '../../src/client/responder-prekeys.js';
import { loadOrCreateIdentity } from '../../src/client/local-prekeys.js';
import { MemoryRatchetStore, type PeerSessionPickle, type PreKeysUsed, type Versioned } from '../../src/client/ratchet-store.js';
import { addressText, type Address } from '../../src/client/address.js';
import { base64urlDecode, base64urlEncode, randomBytes, utf8Decode, utf8Encode, type Bytes } from '../../src/crypto/bytes.js';
import type { PreKeyBundle } from '../../src/e2ee/pqxdh/bundle.js';
import type { LocalIdentity } from '../../src/e2ee/pqxdh/identity.js';
import { pickleSessionRecord, unpickleSessionRecord } from '../../src/e2ee/ratchet/pickle.js';
import { decryptMessage, encryptMessage, initiateSession } from '../../src/e2ee/ratchet/session-builder.js';
import { SessionRecord } from '../../src/e2ee/ratchet/session-record.js';
import type { DeviceListWire } from '../../src/protocol/device-list-signature.js';
import type { DeviceListFields } from '../../src/protocol/device-list-payload.js';
import type { DeviceBundleWire, IncomingMessageV2 } from '../../src/protocol/events-v2.js';
import type { UserKeyPairs } from '../../src/crypto/keys.js';
import { addedOf, deviceSocket, newDevice, preKeysOf, recording, registerV2, TestAccount, type RecordingSocket, type TestDevice } from './devices.js';
import { PeerDirectory, type PeerDeviceKeys } from './test-device-directory.js';
import { call, type RawAck } from './test-clients.js';

/** A decrypted plaintext, parsed as JSON and nothing more (v1's or v2's payload, or whatever a test sent). */
export type LoosePayload = Readonly<Record<string, unknown>>;

/** One device of a TestPeer: its keys, its socket, its sessions, and what was pushed to it. */
export class RawDevice {
  /** Plaintexts opened so far, by server id: opening one again answers from here. */
  readonly opened = new Map<string, LoosePayload>();
  readonly #acked = new Set<string>();
  /** Every open and seal runs after the one before: each loads and saves a session. */
  #queue: Promise<unknown> = Promise.resolve();
  #identity: LocalIdentity | undefined;

  private constructor(
    readonly username: string,
    readonly keys: TestDevice,
    private current: RecordingSocket,
    /** This device's prekeys and identity (the ones its list entry names) and its sessions. */
    readonly store: MemoryRatchetStore,
    private readonly directory: PeerDirectory,
    private readonly login: () => Promise<RecordingSocket>,
  ) {}

  /**
   * The device on a socket logged in as it (`socket`, or a new one from `login`), with a store seeded
   * with the device's LocalKeys; `login` also serves `reconnect`.
   */
  static async create(username: string, keys: TestDevice, directory: PeerDirectory, login: () => Promise<RecordingSocket>, socket?: RecordingSocket): Promise<RawDevice> {
    const store = new MemoryRatchetStore();
    await store.createKeys(keys.keys.pickle());
    return new RawDevice(username, keys, socket ?? (await login()), store, directory, login);
  }

  get id(): number {
    return this.keys.id;
  }

  /** The connection now (a new one after `reconnect`), with every event pushed on it. */
  get socket(): RecordingSocket {
    return this.current;
  }

  /** Ends this device's connection: the server queues what comes for it meanwhile. */
  disconnect(): void {
    this.current.socket.close();
  }

  /**
   * Logs in again on a new socket, keeping sessions and what was opened; `messages` then starts anew
   * with the backlog the server pushes (an unacknowledged message comes again and opens from memory).
   */
  async reconnect(): Promise<RawDevice> {
    this.disconnect();
    this.current = await this.login();
    return this;
  }

  /** Every `message` pushed on the current connection, in order. */
  get messages(): IncomingMessageV2[] {
    return this.socket.of<IncomingMessageV2>('message');
  }

  /** Resolves with the messages once there are `n`. */
  waitForMessages(n = 1): Promise<IncomingMessageV2[]> {
    return this.socket.waitFor<IncomingMessageV2>('message', n);
  }

  /** Any event over this device's connection. */
  call(event: string, payload: unknown): Promise<RawAck> {
    return call(this.socket.socket, event, payload);
  }

  /**
   * Opens a ratchet envelope pushed to this device and saves the session; throws when it does not decrypt
   * (a DecryptionFailedError or ChatError from the library). The sender's signing key is the one its
   * device list names (device 1 of a user without one: the registered key) unless `senderSigningKey` says.
   */
  open(message: IncomingMessageV2, senderSigningKey?: Bytes): Promise<LoosePayload> {
    return this.serially(async () => {
      const earlier = this.opened.get(message.id);
      if (earlier) return earlier;
      if (message.envelope.type !== 'ratchet') throw new Error(`${addressText(this.address)} opens ratchet envelopes only, not ${message.envelope.type}`);
      const from: Address = { user: message.from, device: message.fromDevice ?? 1 };
      const key = senderSigningKey ?? (await this.directory.device(this, from)).signingKey;
      const { record, saved } = await this.load(from);
      const preKeys = new ResponderPreKeys(this.store);
      const { plaintext } = await decryptMessage(record, base64urlDecode(message.envelope.body), { identity: await this.identity(), preKeys, expectedRemoteSigningKey: key });
      const payload = JSON.parse(utf8Decode(plaintext)) as LoosePayload;
      // The used one-time keys go with the session, in one save, as SessionManager does. Redeliveries
      // are recognised by `opened`, so the pickle's own list of decrypted ids is left as it was.
      await this.save(from, this.pickle(record, saved), saved?.version ?? 0, preKeys.used);
      this.opened.set(message.id, payload);
      return payload;
    });
  }

  /**
   * Waits for `n` messages, opens those not opened yet (in order), acknowledges them, and returns the
   * first `n` plaintexts. A message that does not open fails the call (nothing of it is acknowledged).
   */
  async receive(n = 1): Promise<LoosePayload[]> {
    const messages = (await this.waitForMessages(n)).slice(0, n);
    const payloads: LoosePayload[] = [];
    for (const m of messages) payloads.push(await this.open(m));
    await this.ack();
    return payloads;
  }

  /** Acknowledges `ids` (default: every opened message not acknowledged yet); resolves with the answer. */
  async ack(ids: string[] = [...this.opened.keys()].filter((id) => !this.#acked.has(id))): Promise<RawAck> {
    if (ids.length === 0) return { ok: true, acknowledged: 0 };
    const answer = await this.call('ack', { ids });
    if (answer.ok) for (const id of ids) this.#acked.add(id);
    return answer;
  }

  /** Settles messages as unreadable, with a reason (decryption_failed, peer_key_changed, unsupported). */
  reject(ids: string[], reason = 'decryption_failed'): Promise<RawAck> {
    return this.call('ack', { rejected: ids.map((id) => ({ id, reason })) });
  }

  /**
   * Seals `payload` (any JSON) for one address: on the current session when it can send, else on a new
   * one from that device's bundle (`prekeys.bundle` v2), checked against its listed keys.
   */
  seal(to: Address, payload: object): Promise<{ type: 'ratchet'; v: 1; body: string }> {
    return this.serially(async () => {
      const peer = await this.directory.device(this, to);
      const { record, saved } = await this.load(to);
      if (!record.current?.canSend) {
        const bundle = await this.bundleOf(to, peer);
        await initiateSession(record, bundle, await this.identity(), { expectedRemoteSigningKey: peer.signingKey });
      }
      const body = base64urlEncode(encryptMessage(record, utf8Encode(JSON.stringify(payload))));
      await this.save(to, this.pickle(record, saved), saved?.version ?? 0);
      return { type: 'ratchet', v: 1, body };
    });
  }

  get address(): Address {
    return { user: this.username, device: this.id };
  }

  private async bundleOf(to: Address, peer: PeerDeviceKeys): Promise<PreKeyBundle> {
    const answer = await this.call('prekeys.bundle', { username: to.user, devices: [to.device] });
    const wire = (answer.bundles as DeviceBundleWire[] | undefined)?.[0];
    if (!answer.ok || !wire) throw new Error(`no bundle of ${addressText(to)}: ${JSON.stringify(answer.error)}`);
    const b = base64urlDecode;
    if (peer.identityKey && base64urlEncode(peer.identityKey) !== wire.identity.dhKey) throw new Error(`the bundle of ${addressText(to)} is not its listed identity key`);
    return {
      identity: { signingKey: b(wire.identity.signingKey), dhKey: b(wire.identity.dhKey), binding: b(wire.identity.binding) },
      signedPreKey: { ...wire.signedPreKey, publicKey: b(wire.signedPreKey.publicKey), signature: b(wire.signedPreKey.signature) },
      kemPreKey: { ...wire.kemPreKey, publicKey: b(wire.kemPreKey.publicKey), signature: b(wire.kemPreKey.signature) },
      ...(wire.oneTimePreKey && { oneTimePreKey: { id: wire.oneTimePreKey.id, publicKey: b(wire.oneTimePreKey.publicKey) } }),
    };
  }

  /** The identity the store holds (the one seeded from this device's LocalKeys). */
  private async identity(): Promise<LocalIdentity> {
    return (this.#identity ??= await loadOrCreateIdentity(this.store, ed25519SigningKeyFromSeed(this.keys.signingSecret), Date.now()));
  }

  private async load(peer: Address) {
    const saved = await this.store.loadSession(peer);
    return { saved, record: saved ? unpickleSessionRecord(saved.value.record) : new SessionRecord() };
  }

  private pickle(record: SessionRecord, saved: Versioned<PeerSessionPickle> | undefined): PeerSessionPickle {
    return { v: 1, record: pickleSessionRecord(record), delivered: saved?.value.delivered ?? [] };
  }

  private async save(peer: Address, session: PeerSessionPickle, expected: number, used?: PreKeysUsed): Promise<void> {
    if (!(await this.store.saveSession(peer, session, expected, used))) throw new Error(`the session with ${addressText(peer)} changed under ${addressText(this.address)}`);
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

/** A user with devices (device 1 the primary, holding the account key), each a RawDevice. */
export class TestPeer {
  readonly #devices = new Map<number, RawDevice>();
  readonly directory = new PeerDirectory();

  private constructor(
    readonly url: string,
    readonly account: TestAccount,
  ) {}

  /**
   * Registers `username` with protocol 2 (its first list: device 1 alone), uploads device 1's prekeys,
   * then links `devices - 1` more devices, each logged in on its own socket.
   */
  static async register(url: string, username: string, opts: { devices?: number; keys?: UserKeyPairs } = {}): Promise<TestPeer> {
    const peer = new TestPeer(url, await TestAccount.create(username, opts.keys));
    const primary = await recording(url);
    const registered = await registerV2(primary.socket, peer.account);
    if (!registered.ok) throw new Error(`registering ${username} failed: ${JSON.stringify(registered.error)}`);
    const device1 = await peer.wrap(peer.account.device(1), primary);
    const upload = await device1.call('prekeys.upload', preKeysOf(peer.account.device(1).keys));
    if (!upload.ok) throw new Error(`uploading ${username}'s prekeys failed: ${JSON.stringify(upload.error)}`);
    for (let i = 1; i < (opts.devices ?? 1); i++) await peer.addDevice();
    return peer;
  }

  get username(): string {
    return this.account.username;
  }

  device(id: number): RawDevice {
    const d = this.#devices.get(id);
    if (!d) throw new Error(`${this.username} has no device ${id} logged in here`);
    return d;
  }

  /** The devices logged in now, by id. */
  get devices(): RawDevice[] {
    return [...this.#devices.values()].sort((a, b) => a.id - b.id);
  }

  /** Links a new device (the next id): the primary publishes the next version with `added`, then it logs in. */
  async addDevice(name?: string): Promise<RawDevice> {
    const keys = await newDevice(this.account.maxDeviceId + 1, name);
    this.account.add(keys);
    const ack = await this.publish(this.account.list(), addedOf(keys));
    if (!ack.ok) throw new Error(`linking ${this.username}/${keys.id} failed: ${JSON.stringify(ack.error)}`);
    return this.wrap(keys);
  }

  /**
   * The primary publishes a list without device `id`; resolves with the answer once the server has
   * disconnected the device. The mirror (`account`) drops the device even when the server refuses.
   */
  async removeDevice(id: number): Promise<RawAck> {
    this.account.remove(id);
    const ack = await this.publish(this.account.list());
    const removed = this.#devices.get(id);
    if (ack.ok && removed) {
      await removed.socket.disconnected;
      this.#devices.delete(id);
    }
    return ack;
  }

  /**
   * Publishes any list through the primary and returns the raw answer. The test's mirror (`account`)
   * is not changed: build lists with `signedList`, `forgedList`, `unsignedList` or `account.list`.
   */
  publish(deviceList: DeviceListWire, added?: ReturnType<typeof addedOf>): Promise<RawAck> {
    return this.device(1).call('devices.publish', { deviceList, ...(added && { added }) });
  }

  /** The current list (any field replaced), signed by the account key. */
  signedList(overrides: Partial<DeviceListFields> = {}): DeviceListWire {
    return this.account.list(overrides);
  }

  /** The same list signed by another key than the account's (a server's or an attacker's forgery). */
  forgedList(overrides: Partial<DeviceListFields> = {}, signer: Bytes = randomBytes(32)): DeviceListWire {
    return this.account.list(overrides, signer);
  }

  /** The list with a signature of zeros: signed by nobody. */
  unsignedList(overrides: Partial<DeviceListFields> = {}): DeviceListWire {
    return { ...this.account.list(overrides), signature: base64urlEncode(new Uint8Array(64)) };
  }

  /**
   * Sends `body` from device `from` to `to` as a v2 `send`: one envelope per device of `to`'s list and
   * per other device of this user, each sealing the v2 payload (design §7.7). Resolves with the answer.
   */
  async sendTo(to: string, body: string, opts: { from?: number; id?: string } = {}): Promise<RawAck & { id: string }> {
    const me = this.device(opts.from ?? 1);
    const id = opts.id ?? base64urlEncode(randomBytes(16));
    const payload = { v: 2, kind: 'message', from: this.username, fromDevice: me.id, to, id, sentAt: Date.now(), body };
    // A note to self goes to the other own devices only (design §5.5.4).
    const theirs = to === this.username ? [] : [...(await this.directory.refresh(me, to)).keys()].map((device) => ({ user: to, device }));
    const mine = [...this.account.devices.keys()].filter((d) => d !== me.id).map((device) => ({ user: this.username, device }));
    const messages = [];
    for (const address of [...theirs, ...mine]) messages.push({ to: address.user, device: address.device, envelope: await me.seal(address, payload) });
    return { ...(await me.call('send', { id, messages })), id };
  }

  close(): void {
    for (const d of this.#devices.values()) d.disconnect();
  }

  /** A RawDevice for `keys`, on `socket` if it is logged in already (a register's), else logging in. */
  private async wrap(keys: TestDevice, socket?: RecordingSocket): Promise<RawDevice> {
    this.directory.own(this.account);
    const device = await RawDevice.create(this.username, keys, this.directory, () => deviceSocket(this.url, this.account, keys.id), socket);
    this.#devices.set(keys.id, device);
    return device;
  }
}
