/**
 * Users with several devices, each device a GroupManager over its own memory store, all talking to one
 * FakeGroupDelivery, for the group client's tests. Every client has verified the same device lists
 * (`lists`, which a test edits to add or drop a device; the fake serves them as the server's). What each
 * device's listeners heard is kept per device.
 */
import { randomBytes, type Bytes } from '../../src/crypto/bytes.js';
import { ed25519PublicKeyFromSecret } from '../../src/crypto/ed25519-keygen.js';
import { ed25519SigningKeyFromSeed, type Ed25519SigningKey } from '../../src/crypto/signing-key.js';
import { addressText, type Address } from '../../src/client/address.js';
import { GroupManager } from '../../src/client/groups/group-manager.js';
import type { GroupMembershipEvent, GroupMessageEvent, GroupRefusalEvent } from '../../src/client/groups/group-runtime.js';
import { MemoryGroupHistory } from '../../src/client/groups/memory-group-history.js';
import { MemoryGroupStore } from '../../src/client/groups/memory-group-store.js';
import type { DeviceList } from '../../src/protocol/device-list-payload.js';
import { verifiedList } from '../e2ee/mls/mls-world.js';
import { FakeGroupDelivery } from './fake-group-delivery.js';

export interface GroupDevice {
  readonly address: Address;
  readonly name: string;
  readonly signingKey: Ed25519SigningKey;
  store: MemoryGroupStore;
  /** What the device recorded of its groups (kept across a restart, as the store is). */
  readonly history: MemoryGroupHistory;
  manager: GroupManager;
  online: boolean;
  /** Lists this device's client believes instead of the verified ones (a client a hostile server fooled). */
  listOverride?: (user: string) => DeviceList | undefined;
  /**
   * When set, the lists this device's client holds: `refresh` copies a user's current list in, `held`
   * reads only what was copied (a client that has not looked a user up since their list changed).
   */
  held?: Map<string, DeviceList>;
  readonly messages: GroupMessageEvent[];
  readonly memberships: GroupMembershipEvent[];
  readonly refused: GroupRefusalEvent[];
  readonly debug: string[];
}

export class GroupPeople {
  readonly lists = new Map<string, DeviceList>();
  readonly devices: GroupDevice[] = [];
  readonly server = new FakeGroupDelivery((u) => this.lists.get(u));
  readonly #keys = new Map<string, { deviceId: number; signingKey: Bytes }[]>();

  static async create(users: Record<string, number>): Promise<GroupPeople> {
    const people = new GroupPeople();
    for (const [user, count] of Object.entries(users)) for (let i = 0; i < count; i++) await people.addDevice(user, false);
    for (const d of people.devices) await d.manager.keyPackages.maintain();
    return people;
  }

  /** A new device of `user`, its list republished (version + 1); it uploads its KeyPackages when `upload`. */
  async addDevice(user: string, upload = true): Promise<GroupDevice> {
    const seed = randomBytes(32);
    const keys = this.#keys.get(user) ?? [];
    const deviceId = keys.length === 0 ? 1 : Math.max(...keys.map((k) => k.deviceId)) + 1;
    keys.push({ deviceId, signingKey: ed25519PublicKeyFromSecret(seed) });
    this.#keys.set(user, keys);
    await this.publish(user, (this.lists.get(user)?.version ?? 0) + 1);
    const device = this.open({ user, device: deviceId }, ed25519SigningKeyFromSeed(seed));
    if (upload) await device.manager.keyPackages.maintain();
    return device;
  }

  /** Drops a device from its user's list (a new version): every client holds the new list from now on. */
  async dropDevice(address: Address): Promise<DeviceList> {
    this.#keys.set(address.user, this.#keys.get(address.user)!.filter((k) => k.deviceId !== address.device));
    return this.publish(address.user, this.lists.get(address.user)!.version + 1);
  }

  private async publish(user: string, version: number): Promise<DeviceList> {
    const list = await verifiedList(user, this.#keys.get(user)!);
    const versioned = { ...list, version };
    this.lists.set(user, versioned);
    return versioned;
  }

  private open(address: Address, signingKey: Ed25519SigningKey, store = new MemoryGroupStore(), history = new MemoryGroupHistory()): GroupDevice {
    const current = (u: string) => device.listOverride?.(u) ?? this.lists.get(u) ?? null;
    const held = async (u: string) => (device.held ? (device.held.get(u) ?? null) : current(u));
    const refresh = async (u: string) => {
      const list = current(u);
      if (device.held && list) device.held.set(u, list);
      return list;
    };
    const device: GroupDevice = {
      address,
      name: addressText(address),
      signingKey,
      store,
      history,
      online: true,
      messages: [],
      memberships: [],
      refused: [],
      debug: [],
      manager: undefined as unknown as GroupManager,
    };
    device.manager = new GroupManager({
      self: address,
      signingKey,
      store,
      history: device.history,
      delivery: this.server.connection(address),
      lists: { held, refresh },
      events: {
        message: (e) => device.messages.push(e),
        membership: (e) => device.memberships.push(e),
        refused: (e) => device.refused.push(e),
        debug: (m) => device.debug.push(m),
      },
    });
    this.server.attach(address, device.manager);
    const existing = this.devices.findIndex((d) => d.name === device.name);
    if (existing >= 0) this.devices[existing] = device;
    else this.devices.push(device);
    return device;
  }

  /** The device restarts: a new GroupManager over the same store (what survives is what was saved). */
  restart(device: GroupDevice): GroupDevice {
    return this.open(device.address, device.signingKey, device.store, device.history);
  }

  device(user: string, id: number): GroupDevice {
    const found = this.devices.find((d) => d.address.user === user && d.address.device === id);
    if (!found) throw new Error(`no device ${user}/${id}`);
    return found;
  }

  /** Delivers every online device's queue, and waits for the work that starts, until nothing moves. */
  async settle(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      let moved = 0;
      for (const d of this.devices) {
        if (!d.online) continue;
        moved += await this.server.deliver(d.address);
        await d.manager.idle();
      }
      if (moved === 0) return;
    }
    throw new Error('the fake Delivery Service did not settle');
  }
}
