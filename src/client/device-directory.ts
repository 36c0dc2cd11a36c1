/**
 * Which devices a user has, and each device's keys, as far as this client can verify them
 * (docs/PROTOCOL.md §17.5, §21.3): every list comes from the server, so every list is checked against the
 * account key pinned for its user (PeerDeviceLists) before it decides anything. The user's own list is
 * checked the same way, against the user's own account key: a server that added a device of its own to
 * it would otherwise receive a copy of everything the user sends.
 *
 * A user without a list (a protocol-1 client, or one that has not published yet, §19.14) is device 1
 * alone, with the pinned keys: device 1's signing key is the account key, its RSA key the registered one.
 *
 * A user's list is asked for once per connection (`devices.list`) and then taken from what is held;
 * a refusal carrying newer lists (`devices_changed`), a message from a device the held list lacks and the
 * server's `devices.changed` for the user's own list bring the newer one in between.
 */
import { base64urlEncode, constantTimeEqual } from '../crypto/bytes.js';
import type { PreKeyBundle } from '../e2ee/pqxdh/bundle.js';
import type { DeviceEntry, DeviceList } from '../protocol/device-list-payload.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import type { DeviceLastSeen } from '../protocol/events-v2.js';
import { ChatError } from '../protocol/errors.js';
import type { RsaPublicJwk } from '../crypto/keys.js';
import { addressText, PRIMARY_DEVICE, type Address } from './address.js';
import type { PeerDeviceLists } from './peer-device-lists.js';
import type { PeerDirectory } from './peer-directory.js';
import { samePeerKeys, signingKeyOf } from './peer-keys.js';
import { bundleFromWire } from './prekey-publisher.js';
import type { ServerConnection } from './server-connection.js';
import type { PeerKeyStore, PinnedPeer } from './stores.js';

/** The keys one device is known by: from its user's verified list, or the pin for device 1 of a user without one. */
export interface DeviceKeys {
  readonly address: Address;
  /** DSK_d: signs its prekeys and, in hybrid mode, its messages. */
  readonly signingKey: Uint8Array;
  /** IK_d; null for device 1 of a user without a list (no list says which IK it has). */
  readonly identityKey: Uint8Array | null;
  /** The RSA key hybrid envelopes to this device are encrypted to. */
  readonly encryptionKey: RsaPublicJwk;
}

const RSA_EXPONENT_65537 = 'AQAB';

function keysOfEntry(user: string, pin: PinnedPeer, entry: DeviceEntry): DeviceKeys {
  return {
    address: { user, device: entry.deviceId },
    signingKey: entry.signingKey,
    identityKey: entry.identityKey,
    // Device 1's RSA key is the registered one, which the pin holds (the list names the same modulus).
    encryptionKey: entry.deviceId === PRIMARY_DEVICE ? pin.encryptionKey : { kty: 'RSA', n: base64urlEncode(entry.rsaModulus), e: RSA_EXPONENT_65537 },
  };
}

export class DeviceDirectory {
  /** Users whose list was asked for on this connection. Cleared on disconnect. */
  private readonly asked = new Set<string>();
  /** The user's own pin, checked against this device's knowledge of the account keys (see pin). */
  private ownPin: Promise<PinnedPeer> | undefined;
  /** Bundles fetched ahead for a message being sealed, by address text; each used once (prefetchBundles). */
  private readonly prefetched = new Map<string, PreKeyBundle>();

  constructor(
    private readonly connection: Pick<ServerConnection, 'call'>,
    private readonly peers: PeerDirectory,
    private readonly lists: PeerDeviceLists,
    /**
     * This client's user and device, and the user's own pin: the account's public keys as this device
     * knows them (never the server's word), under which the user's own list is checked.
     */
    private readonly me: { username: string; device: number; pin: () => Promise<PinnedPeer> },
    private readonly pins: PeerKeyStore,
  ) {}

  /** Forgets which lists were asked for: the next use asks again. */
  forgetAsked(): void {
    this.asked.clear();
  }

  /** The pin a user's list is checked against (pinning a peer on first use; the user's own from its own keys). */
  private pin(user: string): Promise<PinnedPeer> {
    if (user !== this.me.username) return this.peers.peerKeys(user);
    // Settled once per process: it is read for every message sent, and the file store locks and reads
    // peers.json for it. A failed settling is tried again on the next call.
    const settling = (this.ownPin ??= this.settleOwnPin());
    settling.catch(() => this.ownPin === settling && (this.ownPin = undefined));
    return settling;
  }

  private async settleOwnPin(): Promise<PinnedPeer> {
    const user = this.me.username;
    const own = await this.me.pin();
    const stored = await this.pins.putIfAbsent(own);
    if (samePeerKeys(stored, own)) return stored;
    // A pin of other keys under the user's own name: left from keys this folder had before (they were
    // remade). The account's keys are this device's to know, not the file's: pin them, and the list held
    // under the old ones goes with that pin.
    return this.pins.update(user, (pin) => (pin && samePeerKeys(pin, own) ? { result: pin } : { pin: own, result: own }));
  }

  /** The pin, without asking the server (offline). */
  private async pinOffline(user: string): Promise<PinnedPeer> {
    return user === this.me.username ? this.pin(user) : this.peers.pinned(user);
  }

  /**
   * Takes in a list the server gave for `user` (null: it has none), checked against the pin. Throws
   * device_list_invalid or device_list_rollback, changing nothing, when it may not follow the held one.
   */
  async accept(user: string, wire: DeviceListWire | null): Promise<DeviceList | null> {
    await this.pin(user);
    const update = await this.lists.accept(user, wire);
    this.asked.add(user);
    return update.list;
  }

  /**
   * This device has just registered the account, with a first list it signed: the account's list history
   * on this server starts there, whatever list was held from another server (or from before it lost us).
   */
  async registered(): Promise<void> {
    await this.pin(this.me.username);
    await this.lists.forget(this.me.username);
  }

  /** Asks the server for `user`'s current list and takes it in. */
  async refresh(user: string): Promise<DeviceList | null> {
    return (await this.ask(user)).list;
  }

  /**
   * The user's own list, asked for and taken in like refresh, with the `lastSeen` of the same answer
   * (§19.5): when the server last saw each device, its unsigned word, only ever given about oneself.
   */
  async refreshOwn(): Promise<{ list: DeviceList | null; lastSeen: readonly DeviceLastSeen[] }> {
    const { list, lastSeen } = await this.ask(this.me.username);
    return { list, lastSeen: lastSeen ?? [] };
  }

  private async ask(user: string): Promise<{ list: DeviceList | null; lastSeen: readonly DeviceLastSeen[] | undefined }> {
    const answer = await this.connection.call('devices.list', { username: user });
    if (answer.username !== user) throw new ChatError('bad_response', `the server answered a request for the devices of "${user}" with those of "${answer.username}"`);
    return { list: await this.accept(user, answer.deviceList), lastSeen: answer.lastSeen };
  }

  /** The newest verified list of `user`: asked for once per connection, held after. */
  async list(user: string): Promise<DeviceList | null> {
    if (!this.asked.has(user)) return this.refresh(user);
    await this.pin(user);
    return this.lists.held(user);
  }

  /** The list held for `user`, without asking the server (for sealing while offline). */
  held(user: string): Promise<DeviceList | null> {
    return this.lists.held(user);
  }

  /** The device ids a list names; a user without one is device 1 alone. */
  static devicesOf(list: DeviceList | null): number[] {
    return list ? list.devices.map((d) => d.deviceId) : [PRIMARY_DEVICE];
  }

  /**
   * The devices a message to `to` goes to (§21.3): every current device of `to` and every other current
   * device of this user, from the verified lists (online: asked once per connection; offline: as held).
   */
  async targets(to: string, online: boolean): Promise<Address[]> {
    const listOf = async (user: string) => (online ? this.list(user) : (await this.pinOffline(user), this.held(user)));
    const peerDevices = DeviceDirectory.devicesOf(await listOf(to)).map((device) => ({ user: to, device }));
    const own = DeviceDirectory.devicesOf(await listOf(this.me.username))
      .filter((device) => device !== this.me.device)
      .map((device) => ({ user: this.me.username, device }));
    return [...peerDevices, ...own];
  }

  /**
   * The keys of one device of `user` from its verified list, or undefined when the list does not name
   * it. `refresh`: a device the held list lacks is asked about once more (a newer list may add it).
   */
  async deviceKeys(address: Address, options: { refresh?: boolean; online?: boolean } = {}): Promise<DeviceKeys | undefined> {
    const online = options.online ?? true;
    const pin = online ? await this.pin(address.user) : await this.pinOffline(address.user);
    const found = keysIn(address, pin, online ? await this.list(address.user) : await this.held(address.user));
    if (found || !options.refresh || !online) return found;
    return keysIn(address, pin, await this.refresh(address.user));
  }

  /**
   * A prekey bundle of one device, bound to the question (§21.3): it is that device's, and its identity is
   * the one the verified list names for it (for a user without a list: the pinned account key). One
   * fetched ahead by `prefetchBundles` is used instead of asking again, once.
   */
  async fetchBundle(address: Address): Promise<PreKeyBundle> {
    const key = addressText(address);
    const ready = this.prefetched.get(key);
    if (ready) {
      this.prefetched.delete(key);
      return ready;
    }
    return (await this.fetchBundles(address.user, [address.device]))[0]!;
  }

  /**
   * Fetches the bundles of several devices of one user in one request and keeps them for the next
   * `fetchBundle` of each (a message's first copies to a user's devices: one round trip, not one per
   * device). Each is handed out once: the server spent its one-time prekeys on us.
   */
  async prefetchBundles(user: string, devices: readonly number[]): Promise<void> {
    if (devices.length === 0) return;
    const bundles = await this.fetchBundles(user, devices);
    devices.forEach((device, i) => this.prefetched.set(addressText({ user, device }), bundles[i]!));
  }

  /** Forgets prefetched bundles that were not used (a session appeared meanwhile, or the seal failed). */
  forgetPrefetched(): void {
    this.prefetched.clear();
  }

  /** The bundles of `devices` of `user`, in that order, each bound to its device's listed keys. */
  private async fetchBundles(user: string, devices: readonly number[]): Promise<PreKeyBundle[]> {
    const keys = await Promise.all(devices.map((device) => this.deviceKeys({ user, device })));
    keys.forEach((k, i) => {
      if (!k) throw new ChatError('devices_changed', `${addressText({ user, device: devices[i]! })} is not in the verified device list of "${user}"`);
    });
    const answer = await this.connection.call('prekeys.bundle', { username: user, devices: [...devices] });
    if (answer.username !== user || answer.bundles.length !== devices.length || answer.bundles.some((b, i) => b.device !== devices[i])) {
      throw new ChatError('bad_response', `the server answered a request for the prekeys of ${devices.map((device) => addressText({ user, device })).join(', ')} with others`);
    }
    return answer.bundles.map((wire, i) => {
      const address = addressText({ user, device: wire.device });
      const bundle = bundleFromWire({ username: user, ...wire });
      if (!constantTimeEqual(bundle.identity.signingKey, keys[i]!.signingKey)) {
        throw new ChatError('bad_response', `the server's prekey bundle for ${address} is signed by another key than the one its list names`);
      }
      const identityKey = keys[i]!.identityKey;
      if (identityKey && !constantTimeEqual(bundle.identity.dhKey, identityKey)) {
        throw new ChatError('bad_response', `the server's prekey bundle for ${address} carries another identity key than the one its list names`);
      }
      return bundle;
    });
  }
}

/** A device's keys in `list` (or device 1 of a user without one). */
function keysIn(address: Address, pin: PinnedPeer, list: DeviceList | null): DeviceKeys | undefined {
  if (!list) {
    if (address.device !== PRIMARY_DEVICE) return undefined;
    return { address, signingKey: signingKeyOf(pin), identityKey: null, encryptionKey: pin.encryptionKey };
  }
  const entry = list.devices.find((d) => d.deviceId === address.device);
  return entry ? keysOfEntry(address.user, pin, entry) : undefined;
}
