/**
 * A ChatClient's groups, with the group code (group-manager.ts, our MLS glue and ts-mls under it) loaded
 * by a dynamic import the first time something needs it. A client whose user has no group never loads
 * it: in the browser that code is a chunk of its own, kept out of what a first visit fetches (issue 14).
 *
 * Answered without it: the list of groups and a name's id (group-list.ts), a login's sync and a new device
 * list while this device is in no group (there is nothing to sync or follow), and the KeyPackage upkeep
 * while the server's stock is full (group-key-packages.ts counts before it makes any).
 *
 * Everything else waits for the load. A Welcome or group message pushed meanwhile waits in the receive
 * loop's chain, which acknowledges it only once it is handled (receive-loop.ts): nothing is lost, and
 * what comes after it waits its turn. A load that fails fails what waited on it (a push is then not
 * acknowledged and comes again at the next login) and is tried again at the next need.
 */
import type { DeviceList } from '../../protocol/device-list-payload.js';
import type { Address } from '../address.js';
import type { GroupPushes } from '../receive-loop.js';
import type { GroupLogEntry, GroupWelcomeDelivery } from './group-delivery.js';
import { KeyPackagePublisher } from './group-key-packages.js';
import { findGroupId, hasActiveGroup, listGroups, type ListedGroup } from './group-list.js';
import type { GroupInfo, GroupManager, GroupManagerOptions } from './group-manager.js';

/** Loads the group code and makes the manager. */
export type OpenGroupManager = (options: GroupManagerOptions) => Promise<GroupManager>;

const importGroupManager: OpenGroupManager = async (options) => new (await import('./group-manager.js')).GroupManager(options);

export class LazyGroupManager implements GroupPushes {
  /** Kept here, not in the manager: the stock is counted (and found full) with no group code loaded. */
  readonly keyPackages: KeyPackagePublisher;
  #manager: GroupManager | undefined;
  #loading: Promise<GroupManager> | undefined;

  /** `open`: how the group code is loaded (a test may hold it back). */
  constructor(
    private readonly options: GroupManagerOptions,
    private readonly open: OpenGroupManager = importGroupManager,
  ) {
    this.keyPackages = new KeyPackagePublisher(async () => (await this.manager()).newKeyPackage(), options.store, options.delivery, options.clock);
  }

  /** Whether the group code has been loaded (it stays loaded). */
  get loaded(): boolean {
    return this.#manager !== undefined;
  }

  /** The manager, loading the group code first if no call did yet; a failed load is tried again by the next call. */
  private manager(): Promise<GroupManager> {
    if (this.#manager) return Promise.resolve(this.#manager);
    const loading = (this.#loading ??= this.open({ ...this.options, keyPackages: this.keyPackages }).then((m) => (this.#manager = m)));
    loading.catch(() => {
      if (this.#loading === loading) this.#loading = undefined;
    });
    return loading;
  }

  /** Whether work on every group has anything to do: the code is loaded already, or this device is in a group. */
  private async inAnyGroup(): Promise<boolean> {
    return this.#manager !== undefined || (await hasActiveGroup(this.options.store));
  }

  async receive(entry: GroupLogEntry): Promise<void> {
    return (await this.manager()).receive(entry);
  }

  async welcome(delivery: GroupWelcomeDelivery): Promise<void> {
    return (await this.manager()).welcome(delivery);
  }

  async catchUpAll(): Promise<void> {
    if (await this.inAnyGroup()) await (await this.manager()).catchUpAll();
  }

  async deviceListChanged(user: string, list: DeviceList | null): Promise<void> {
    if (await this.inAnyGroup()) await (await this.manager()).deviceListChanged(user, list);
  }

  /** Resolves once the manager's background work is done (nothing runs in the background before it is loaded). */
  async idle(): Promise<void> {
    const manager = await this.#loading?.catch(() => undefined);
    await manager?.idle();
  }

  groups(): Promise<ListedGroup[]> {
    return listGroups(this.options.store);
  }

  findGroup(nameOrId: string): Promise<string> {
    return findGroupId(this.options.store, nameOrId);
  }

  async createGroup(name: string | undefined, users: readonly string[]): Promise<string> {
    return (await this.manager()).createGroup(name, users);
  }

  async addUsers(groupId: string, users: readonly string[]): Promise<boolean> {
    return (await this.manager()).addUsers(groupId, users);
  }

  async removeUsers(groupId: string, users: readonly string[]): Promise<boolean> {
    return (await this.manager()).removeUsers(groupId, users);
  }

  async leaveGroup(groupId: string): Promise<void> {
    return (await this.manager()).leaveGroup(groupId);
  }

  async updateKeys(groupId: string): Promise<void> {
    return (await this.manager()).updateKeys(groupId);
  }

  async sendMessage(groupId: string, text: string): Promise<{ seq: number }> {
    return (await this.manager()).sendMessage(groupId, text);
  }

  async groupInfo(groupId: string): Promise<GroupInfo> {
    return (await this.manager()).groupInfo(groupId);
  }

  async routingDiffers(groupId: string): Promise<{ missing: Address[]; extra: Address[] }> {
    return (await this.manager()).routingDiffers(groupId);
  }
}
