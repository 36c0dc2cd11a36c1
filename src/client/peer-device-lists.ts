/**
 * The newest verified device list of each peer (Sesame's user record, docs/design/devices-v2.md §4.5, §7.1):
 * kept with the peer's pin, because it is verified under the pinned account key and belongs to that pin.
 *
 * A list a server hands us for a name we asked is checked by acceptDeviceList (src/protocol/device-list-history.ts)
 * against the pin and the list held: signed by the pinned key for that name, no rollback, no two lists of
 * one version, no device id reused, listed devices keeping their keys. A refused list changes nothing
 * and fails with device_list_invalid or device_list_rollback. An accepted one replaces the held list,
 * and the sessions of the devices it no longer has (and device 1's, when device 1 replaced its identity
 * key) are deleted: nothing is ever sent to them again.
 *
 * The check and the write are one step under the pin store's update (the peers.json lock on Node), so two
 * processes of the user taking in lists at once never write back an older list over a newer one: the
 * second to run judges its list against what the first stored.
 */
import { base64urlDecode } from '../crypto/bytes.js';
import { acceptDeviceList } from '../protocol/device-list-history.js';
import { decodeDeviceListPayload, type DeviceList } from '../protocol/device-list-payload.js';
import { deviceListWireSchema, type DeviceListWire } from '../protocol/device-list-wire.js';
import { ChatError } from '../protocol/errors.js';
import { PRIMARY_DEVICE } from './address.js';
import { signingKeyOf } from './peer-keys.js';
import type { RatchetStore } from './ratchet-store.js';
import type { PeerKeyStore, PinnedPeer } from './stores.js';

export interface DeviceListUpdate {
  /** The newest verified list held now; null: none was ever seen (the peer is served as device 1 alone, §3.4). */
  readonly list: DeviceList | null;
  /** Whether the received list replaced the one held. */
  readonly changed: boolean;
  /** Devices of the list held before that the new one no longer has: their sessions are deleted. */
  readonly removedDevices: readonly number[];
  /** Device 1 replaced its identity key IK_1: its session (built on the old key) is deleted. */
  readonly identityKey1Changed: boolean;
}

/**
 * Decoded lists kept per process, by their payload text. Decoding checks every key in the list (point
 * and modulus checks: about 5 ms for a list of one device here), and the held list of a peer and of the
 * user are read for every message sent; the same bytes always decode to the same list.
 */
const DECODED_LISTS_KEPT = 256;
const decodedLists = new Map<string, DeviceList>();

/** The list a pin holds, decoded; it was verified under this pin when it was stored. */
function heldList(pin: PinnedPeer): DeviceList | null {
  if (!pin.deviceList) return null;
  const text = pin.deviceList.list;
  let list = decodedLists.get(text);
  if (!list) {
    list = decodeDeviceListPayload(base64urlDecode(text));
    decodedLists.set(text, list);
    if (decodedLists.size > DECODED_LISTS_KEPT) decodedLists.delete(decodedLists.keys().next().value!);
  }
  return list;
}

export class PeerDeviceLists {
  constructor(
    private readonly pins: PeerKeyStore,
    /** Where sessions with peers' devices live; null for a client that keeps none (hybrid mode without a ratchet store). */
    private readonly sessions: Pick<RatchetStore, 'deleteSessions'> | null,
    /** Told after a new list of a user was taken in (its groups follow it, groups/group-manager.ts). */
    private readonly onChanged?: (username: string, list: DeviceList | null) => void,
  ) {}

  /** The newest verified list of `username`; null when none was seen or no keys are pinned for them. */
  async held(username: string): Promise<DeviceList | null> {
    const pin = await this.pins.get(username);
    return pin ? heldList(pin) : null;
  }

  /**
   * Forgets the list held for `username` (the pin stays): its history starts again from the next list.
   * Only for the user's own list right after registering, when the list the server holds is the one this
   * device has just signed and sent (§21.1): a new server, or one that lost the account.
   */
  async forget(username: string): Promise<void> {
    await this.pins.update(username, (pin) => {
      if (!pin?.deviceList) return { result: undefined };
      const { deviceList: _old, ...kept } = pin;
      return { pin: kept, result: undefined };
    });
  }

  /**
   * Takes in `received`, the list a server answered for `asked` (null: the server has none), checked
   * against the keys pinned for `asked`, which must be pinned already. Throws device_list_invalid or
   * device_list_rollback, changing nothing, when it may not follow the list held.
   */
  async accept(asked: string, received: DeviceListWire | null): Promise<DeviceListUpdate> {
    const update = await this.take(asked, received);
    if (update.changed) this.onChanged?.(asked, update.list);
    return update;
  }

  private async take(asked: string, received: DeviceListWire | null): Promise<DeviceListUpdate> {
    let wire: DeviceListWire | null = null;
    if (received !== null) {
      // Checked here too, not only where the event was parsed: an object of another shape is refused, not decoded.
      const parsed = deviceListWireSchema.safeParse(received);
      if (!parsed.success) throw new ChatError('device_list_invalid', `the device list for "${asked}" is not a signed device list`);
      wire = parsed.data;
    }
    return this.pins.update<DeviceListUpdate>(asked, async (pin) => {
      if (!pin) throw new ChatError('internal', `no keys pinned for "${asked}": a device list is verified against the pinned account key`);
      const stored = heldList(pin);
      const decision = acceptDeviceList({ username: asked, pin: signingKeyOf(pin), stored, received: wire });
      if (decision.outcome === 'refuse') throw new ChatError(decision.code, decision.message);
      if (decision.outcome === 'unchanged') return { result: { list: stored, changed: false, removedDevices: [], identityKey1Changed: false } };
      const { removedDevices, identityKey1Changed } = decision;
      const ended = identityKey1Changed ? [...removedDevices, PRIMARY_DEVICE] : removedDevices;
      // Sessions before the list: a crash between leaves the old list held, and taking the new one in
      // again deletes them again (deleting is idempotent); the other order could keep a session of a
      // device the held list no longer has.
      if (ended.length > 0) await this.sessions?.deleteSessions(asked, ended);
      return {
        pin: { ...pin, deviceList: { list: decision.wire.list, signature: decision.wire.signature } },
        result: { list: decision.list, changed: true, removedDevices, identityKey1Changed },
      };
    });
  }
}
