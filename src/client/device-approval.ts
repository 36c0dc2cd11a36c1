/**
 * The primary's side of linking (docs/PROTOCOL.md §18.7, steps 2 and 4): the user typed the code the new
 * device printed. Join its slot, run CPace as the initiator, and only once the new device proved it knows
 * the code (Tb) open and check its offer, publish the list that adds it (with its first prekeys, so a
 * bundle exists from the moment it is listed), and send it the provisioning.
 *
 * Each code runs once on this device (the ledger): a second try of the same code would give a server
 * posing as the new device a second guess (§18.9). A wrong code fails before anything is published. If
 * the provisioning cannot be delivered after the list was published (the new device went away), the
 * device is removed again at once: a device that was never provisioned does not stay listed.
 */
import { base64urlDecode, base64urlEncode, constantTimeEqual } from '../crypto/bytes.js';
import type { RsaPublicJwk } from '../crypto/keys.js';
import type { Ed25519SigningKey } from '../crypto/signing-key.js';
import { defaultRandom, type RandomSource } from '../crypto/random.js';
import { linkCodeHash, parseLinkCode } from '../e2ee/link/link-code.js';
import { LinkInitiator } from '../e2ee/link/link-initiator.js';
import type { LinkOffer } from '../e2ee/link/link-messages.js';
import type { DeviceList } from '../protocol/device-list-payload.js';
import { ChatError } from '../protocol/errors.js';
import { LINK_TTL_MS } from '../protocol/limits.js';
import { LINK_SID_BYTES } from '../protocol/link-schemas.js';
import { PRIMARY_DEVICE } from './address.js';
import { shortKeyFingerprint } from './fingerprint.js';
import type { DeviceDirectory } from './device-directory.js';
import { ed25519PublicWire, linkPinsOf, rsaPublic } from './link-provisioning.js';
import { LINK_STEP_TIMEOUT_MS, LinkSlot, type LinkTransport } from './link-slot.js';
import { withDeviceAdded, withDeviceRemoved } from './own-list-edits.js';
import type { ServerConnection } from './server-connection.js';
import type { PeerKeyStore, TriedLinkCodes } from './stores.js';

export interface ApprovalDeps {
  readonly connection: LinkTransport & Pick<ServerConnection, 'call'>;
  readonly devices: DeviceDirectory;
  readonly peers: PeerKeyStore;
  readonly triedCodes: TriedLinkCodes;
  readonly username: string;
  readonly device: number;
  /** The account keys, which only the primary holds. */
  readonly signingKey: Ed25519SigningKey;
  readonly encryptionKey: RsaPublicJwk;
  readonly random?: RandomSource;
  readonly now?: () => number;
  readonly stepTimeoutMs?: number;
}

/** What the new device offered, as the primary shows it before publishing anything. */
export interface OfferedDevice {
  readonly name: string;
  /** The first four groups of its signing key's fingerprint: the new device printed the same. */
  readonly keyFingerprint: string;
}

export interface ApprovedDevice extends OfferedDevice {
  readonly device: number;
  /** The version of the list that added it. */
  readonly version: number;
}

export interface ApproveOptions {
  /** How many recent history messages the new device will be sent (§18.8); told in the provisioning. */
  readonly history?: number;
  /** Called once the offer is open and checked, before the list is published (for the user to see). */
  readonly onOffer?: (offer: OfferedDevice) => void;
}

export async function approveDevice(deps: ApprovalDeps, codeText: string, options: ApproveOptions = {}): Promise<ApprovedDevice> {
  const { username, connection } = deps;
  if (deps.device !== PRIMARY_DEVICE) {
    throw new ChatError('not_primary', `only ${username}'s device 1 holds the account key and can change ${username}'s devices; this is device ${deps.device}`);
  }
  const random = deps.random ?? defaultRandom;
  const now = deps.now ?? Date.now;
  const stepTimeoutMs = deps.stepTimeoutMs ?? LINK_STEP_TIMEOUT_MS;
  const code = parseLinkCode(codeText);
  if (!(await deps.triedCodes.claim(linkCodeHash(code), now(), LINK_TTL_MS))) {
    throw new ChatError('link_failed', 'this code was tried on this device already; a code runs once. Run `e2ee-chat link` on the new device again for a new one');
  }

  const slot = new LinkSlot(connection, code.slot);
  let run: LinkInitiator | undefined;
  try {
    const sidA = random(LINK_SID_BYTES);
    let joined;
    try {
      joined = await connection.call('link.join', { slot: code.slot, sid: base64urlEncode(sidA) });
    } catch (err) {
      if (err instanceof ChatError && err.code === 'unknown_link') {
        throw new ChatError('link_failed', `no device is waiting with this code for ${username} (it expired, was used, or was typed wrong); nothing was changed`, { cause: err });
      }
      throw err;
    }
    if (joined.slot !== code.slot) throw new ChatError('bad_response', `the server answered a join of link slot ${code.slot} for slot ${joined.slot}`);
    const started = LinkInitiator.start({ username, code, sidA, sidB: base64urlDecode(joined.sid) }, random);
    run = started.run;
    await slot.send([started.frame]);
    const offer = await receiveOffer(run, slot, stepTimeoutMs);
    const offered: OfferedDevice = { name: offer.name, keyFingerprint: await shortKeyFingerprint(offer.signingKey) };
    options.onOffer?.(offered);

    const current = await deps.devices.refresh(username);
    if (!current) throw new ChatError('device_list_invalid', `the server holds no device list for ${username}; log in once on this device and try again`);
    refuseKnownKeys(current, offer);
    const { deviceList, device } = await withDeviceAdded(
      current,
      {
        signingKey: base64urlDecode(offer.signingKey),
        identityKey: base64urlDecode(offer.identity.dhKey),
        rsaModulus: base64urlDecode(offer.encryptionKey.n),
        addedAt: now(),
        name: offer.name,
      },
      deps.signingKey,
      now(),
    );
    const { identity, signedPreKey, lastResortKemPreKey } = offer;
    await connection.call('devices.publish', { deviceList, added: { device, identity, signedPreKey, lastResortKemPreKey } });
    const published = await deps.devices.accept(username, deviceList);

    const frames = run.provision({
      v: 2,
      username,
      device,
      approvedBy: PRIMARY_DEVICE,
      account: { signingKey: ed25519PublicWire(deps.signingKey.publicKey), encryptionKey: rsaPublic(deps.encryptionKey) },
      deviceList,
      pins: linkPinsOf(await deps.peers.all(), username),
      history: { count: options.history ?? 0 },
    });
    // The new device closes the slot once it has checked the provisioning (§18.7 step 5); a device that
    // went away meanwhile (the slot closes as `disconnected`, or never) did not get it, and must not stay
    // listed. A server can fake either outcome, as it can refuse any service; it cannot make another
    // device than the one that proved the code be listed.
    let delivered: Awaited<ReturnType<LinkSlot['closedByOther']>> | 'unsent' = 'unsent';
    try {
      await slot.send(frames);
      delivered = await slot.closedByOther(stepTimeoutMs);
    } catch {
      // A slot the server no longer relays: the provisioning did not get through.
    }
    if (delivered !== 'closed') {
      await unlist(deps, published, device, now()).catch((cause: unknown) => {
        throw new ChatError('link_failed', `device ${device} was listed but never took its provisioning, and removing it again failed: run \`e2ee-chat devices remove ${device}\``, { cause });
      });
      throw new ChatError('link_failed', `the new device did not confirm it took its provisioning (${delivered === 'unsent' ? 'it could not be sent' : delivered}); it was removed from the list again`);
    }
    return { ...offered, device, version: published!.version };
  } catch (err) {
    // The new device hears of it at once (link.closed) instead of waiting for a frame that never comes.
    await slot.close();
    throw err;
  } finally {
    run?.abort();
    slot.end();
  }
}

/** Runs the initiator over the slot until the new device's offer is whole and checked. */
async function receiveOffer(run: LinkInitiator, slot: LinkSlot, stepTimeoutMs: number): Promise<LinkOffer> {
  for (;;) {
    const event = run.receive(await slot.next(stepTimeoutMs, "the new device's answer"));
    if (event.kind === 'failed') throw event.error;
    if (event.kind === 'offer') return event.offer;
  }
}

/** The offer's keys must be new to the list (a list never names one key twice, and a device is linked once). */
function refuseKnownKeys(list: DeviceList, offer: LinkOffer): void {
  const signingKey = base64urlDecode(offer.signingKey);
  const identityKey = base64urlDecode(offer.identity.dhKey);
  for (const d of list.devices) {
    if (constantTimeEqual(d.signingKey, signingKey) || constantTimeEqual(d.identityKey, identityKey)) {
      throw new ChatError('link_failed', `the new device offered the keys of ${list.username}'s device ${d.deviceId}; nothing was changed`);
    }
  }
}

/** The provisioning did not get through: the device that was just listed goes again. */
async function unlist(deps: ApprovalDeps, list: DeviceList | null, device: number, now: number): Promise<void> {
  if (!list) return;
  const deviceList = await withDeviceRemoved(list, device, deps.signingKey, now);
  await deps.connection.call('devices.publish', { deviceList });
  await deps.devices.accept(deps.username, deviceList);
}
