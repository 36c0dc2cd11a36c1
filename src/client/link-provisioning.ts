/**
 * What crosses a link besides keys (docs/PROTOCOL.md §18.6): the primary's *provisioning* of the new
 * device, built from its own state, and the new device's checks of it and adoption into its stores.
 *
 * The new device trusts the provisioning because the channel is authenticated by the code (only the
 * primary that was typed the code can seal it). What it checks is that the primary's word is coherent
 * and about this device: the list verifies under the account key it names and lists this device with
 * exactly its keys; device 1 of that list carries the account's RSA key; every pin's list verifies under
 * that pin. A server never gets to say any of it.
 */
import { base64urlDecode, base64urlEncode, constantTimeEqual } from '../crypto/bytes.js';
import type { Ed25519PublicJwk, RsaPublicJwk } from '../crypto/keys.js';
import type { LinkPin, LinkProvisioning } from '../e2ee/link/link-messages.js';
import { acceptDeviceList } from '../protocol/device-list-history.js';
import type { DeviceList } from '../protocol/device-list-payload.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import { ChatError } from '../protocol/errors.js';
import { PRIMARY_DEVICE } from './address.js';
import { toPinned } from './peer-keys.js';
import type { PeerKeyStore, PinnedPeer } from './stores.js';
import type { Ed25519PublicJwkWire, Rsa2048PublicJwkWire } from '../protocol/schemas.js';

/** The account's public keys, as a pin and the list's signature check need them (the wire's shapes: RSA-2048, e = 65537). */
export interface AccountPublicKeys {
  readonly signingKey: Ed25519PublicJwkWire;
  readonly encryptionKey: Rsa2048PublicJwkWire;
}

/** A provisioning the new device checked: it is device `device` of `username`, whose account keys are `account`. */
export interface ProvisionedDevice {
  readonly username: string;
  readonly device: number;
  /** This device's name, as the list signs it. */
  readonly name: string;
  readonly account: AccountPublicKeys;
  /** The account's list that adds this device, verified. */
  readonly deviceList: DeviceListWire;
  readonly list: DeviceList;
  /** The primary's pins, each list verified under its pin. */
  readonly pins: readonly LinkPin[];
  /** How many history messages the primary sends after the link (§18.8). */
  readonly historyCount: number;
}

/** The keys the new device offered: the list must name exactly these for it. */
export interface OfferedKeys {
  readonly signingKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly rsaModulus: Uint8Array;
}

const failed = (why: string): never => {
  throw new ChatError('link_failed', `the primary's provisioning does not hold together: ${why}; nothing was saved`);
};

/** The public JWKs exactly as the strict link schemas take them (pins may carry members the schemas drop). */
export const ed25519Public = (k: Ed25519PublicJwk): Ed25519PublicJwkWire => ({ kty: 'OKP', crv: 'Ed25519', x: k.x });
export const ed25519PublicWire = (key: Uint8Array): Ed25519PublicJwkWire => ({ kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(key) });
export function rsaPublic(k: RsaPublicJwk): Rsa2048PublicJwkWire {
  // Every pinned key came through the wire's schema, which takes exponent 65537 only.
  if (k.e !== 'AQAB') throw new ChatError('internal', 'a pinned RSA key with an exponent other than 65537');
  return { kty: 'RSA', n: k.n, e: 'AQAB' };
}

/** The new device's checks (§18.6); returns what it may adopt. Throws `link_failed`. */
export function checkProvisioning(p: LinkProvisioning, offered: OfferedKeys): ProvisionedDevice {
  const accountKey = base64urlDecode(p.account.signingKey.x);
  const opened = acceptDeviceList({ username: p.username, pin: accountKey, stored: null, received: p.deviceList });
  if (opened.outcome !== 'accept') return failed(opened.outcome === 'refuse' ? opened.message : 'no device list');
  const list = opened.list;
  const mine = list.devices.find((d) => d.deviceId === p.device);
  if (!mine) return failed(`its device list (version ${list.version}) does not name device ${p.device}`);
  if (!constantTimeEqual(mine.signingKey, offered.signingKey) || !constantTimeEqual(mine.identityKey, offered.identityKey) || !constantTimeEqual(mine.rsaModulus, offered.rsaModulus)) {
    failed(`its device list names other keys than this device's for device ${p.device}`);
  }
  const primary = list.devices.find((d) => d.deviceId === PRIMARY_DEVICE);
  if (!primary || !constantTimeEqual(primary.rsaModulus, base64urlDecode(p.account.encryptionKey.n))) {
    failed("the account's encryption key is not the one its list gives device 1");
  }
  for (const pin of p.pins) {
    if (pin.username === p.username) failed('it pins the account itself among its peers');
    if (!pin.deviceList) continue;
    const peerList = acceptDeviceList({ username: pin.username, pin: base64urlDecode(pin.signingKey.x), stored: null, received: pin.deviceList });
    if (peerList.outcome !== 'accept') failed(`the device list it holds for ${pin.username} does not verify under ${pin.username}'s pinned key`);
  }
  return { username: p.username, device: p.device, name: mine.name, account: p.account, deviceList: p.deviceList, list, pins: p.pins, historyCount: p.history.count };
}

/** The primary's pins as the provisioning carries them: every peer, never the account itself. */
export function linkPinsOf(pins: readonly PinnedPeer[], username: string): LinkPin[] {
  return pins
    .filter((pin) => pin.username !== username)
    .map((pin) => ({
      username: pin.username,
      signingKey: ed25519Public(pin.signingKey),
      encryptionKey: rsaPublic(pin.encryptionKey),
      pinnedAt: pin.pinnedAt,
      verified: pin.verified,
      ...(pin.deviceList && { deviceList: { list: pin.deviceList.list, signature: pin.deviceList.signature } }),
    }));
}

/**
 * Writes the provisioning into the new device's pins: the account's own keys with the list that adds
 * this device (so a server can never roll it back to a list without it), and the primary's pins, with
 * whether the user verified them and the newest list seen for each. The device starts with its primary's
 * trust, not trust on first use afresh against a server that could choose this moment to lie (§18.6).
 */
export async function adoptProvisioning(peers: PeerKeyStore, provisioned: ProvisionedDevice): Promise<void> {
  const own = await toPinned({ username: provisioned.username, ...provisioned.account, registeredAt: 0 }, 0);
  await peers.put({ ...own, deviceList: provisioned.deviceList });
  for (const pin of provisioned.pins) {
    const pinned = await toPinned({ username: pin.username, signingKey: pin.signingKey, encryptionKey: pin.encryptionKey, registeredAt: 0 }, pin.pinnedAt);
    await peers.put({ ...pinned, verified: pin.verified, ...(pin.deviceList && { deviceList: pin.deviceList }) });
  }
}
