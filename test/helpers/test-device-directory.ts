/**
 * The keys a TestPeer's devices trust for other addresses: each user's device list, fetched with
 * `devices.list` and verified under the account key the directory (`keys`) gives, or device 1 alone
 * with that key for a user without a list (design §3.4). The peer's own devices come from its account.
 * A test peer stands for an honest party, so it checks signatures but keeps no history (no rollback
 * check): that is the library's job, under test elsewhere.
 */
import { base64urlDecode, type Bytes } from '../../src/crypto/bytes.js';
import type { Address } from '../../src/client/address.js';
import { openDeviceList, type DeviceListWire } from '../../src/protocol/device-list-signature.js';
import { entryOf, type TestAccount } from './devices.js';
import type { RawAck } from './test-clients.js';

/** What a sender or recipient device is bound to: DSK_d, and IK_d when a list names it. */
export interface PeerDeviceKeys {
  readonly signingKey: Bytes;
  readonly identityKey?: Bytes;
}

/** Something that can ask the server (a logged-in device). */
export interface Asker {
  call(event: string, payload: unknown): Promise<RawAck>;
}

export class PeerDirectory {
  readonly #byUser = new Map<string, Map<number, PeerDeviceKeys>>();
  #own: TestAccount | undefined;

  /** The peer's own account: its devices' keys are known without asking. */
  own(account: TestAccount): void {
    this.#own = account;
  }

  /** One address's keys: from the cache, else from a fresh fetch of its user's list. */
  async device(asker: Asker, address: Address): Promise<PeerDeviceKeys> {
    const keys = this.#byUser.get(address.user)?.get(address.device) ?? (await this.refresh(asker, address.user)).get(address.device);
    if (!keys) throw new Error(`${address.user} has no device ${address.device} in its list`);
    return keys;
  }

  /** Fetches and verifies `user`'s list now; its devices by id. */
  async refresh(asker: Asker, user: string): Promise<Map<number, PeerDeviceKeys>> {
    const devices = user === this.#own?.username ? this.ownDevices() : await this.fetch(asker, user);
    this.#byUser.set(user, devices);
    return devices;
  }

  private ownDevices(): Map<number, PeerDeviceKeys> {
    return new Map([...this.#own!.devices.values()].map((d) => [d.id, entryOf(d)] as const));
  }

  private async fetch(asker: Asker, username: string): Promise<Map<number, PeerDeviceKeys>> {
    const keys = await asker.call('keys', { username });
    if (!keys.ok) throw new Error(`no keys of ${username}: ${JSON.stringify(keys.error)}`);
    const accountKey = base64urlDecode((keys.signingKey as { x: string }).x);
    const listed = await asker.call('devices.list', { username });
    if (!listed.ok) throw new Error(`no device list of ${username}: ${JSON.stringify(listed.error)}`);
    const wire = listed.deviceList as DeviceListWire | null;
    if (wire === null) return new Map([[1, { signingKey: accountKey }]]);
    const opened = openDeviceList(wire, { username, accountKey });
    if (!opened.ok) throw new Error(`the device list of ${username} is refused: ${opened.message}`);
    return new Map(opened.list.devices.map((d) => [d.deviceId, d] as const));
  }
}
