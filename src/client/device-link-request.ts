/**
 * The new device's side of linking (docs/PROTOCOL.md §18.7, steps 1, 3 and 5): make this device's
 * prekey identity and first prekeys, open a link slot, hand out the code, and wait for the primary.
 * Once the primary joins it answers one cpace-a with its offer, then takes the provisioning only after
 * the primary confirmed the key (Ta), and checks it (link-provisioning.ts).
 *
 * Nothing is written but the ratchet store's first keys: the caller writes the folder from the returned
 * ProvisionedDevice, then logs in as the new device. Any failure ends the run for good (`link_failed`):
 * the code is never used again, and the user starts over with a new one (a second run could otherwise
 * give the server a second guess at the same code, §18.9).
 */
import { base64urlDecode, base64urlEncode } from '../crypto/bytes.js';
import type { UserKeyPairs } from '../crypto/keys.js';
import { defaultRandom, type RandomSource } from '../crypto/random.js';
import { formatLinkCode, generateLinkSecret, type LinkCode } from '../e2ee/link/link-code.js';
import { deviceNameProblem, encodeLinkOffer, type LinkOffer, type LinkProvisioning } from '../e2ee/link/link-messages.js';
import { LinkResponder } from '../e2ee/link/link-responder.js';
import { ChatError } from '../protocol/errors.js';
import { LINK_TTL_MS } from '../protocol/limits.js';
import { LINK_SID_BYTES } from '../protocol/link-schemas.js';
import { deviceSecretsOf, type DeviceSecrets } from './device-secrets.js';
import { shortKeyFingerprint } from './fingerprint.js';
import { LinkConnection, type LinkConnectionOptions } from './link-connection.js';
import { checkProvisioning, rsaPublic, type ProvisionedDevice } from './link-provisioning.js';
import { LINK_STEP_TIMEOUT_MS, LinkSlot } from './link-slot.js';
import { linkUri } from './link-uri.js';
import { longLivedPreKeys } from './prekey-publisher.js';
import type { RatchetStore } from './ratchet-store.js';


export interface DeviceLinkOptions extends LinkConnectionOptions {
  /** The account to join. */
  username: string;
  /** This device's name in the list: public (the list signs it), at most 32 bytes of UTF-8. */
  name: string;
  /** This device's own key pairs (its signing key DSK and RSA key): made for it, never the account's. */
  keys: UserKeyPairs | DeviceSecrets;
  /** This device's ratchet store: its identity key and first prekeys are made there now and offered. */
  ratchet: RatchetStore;
  random?: RandomSource;
  now?: () => number;
  stepTimeoutMs?: number;
}

export interface PendingDeviceLink {
  /** The code to type on the primary, e.g. `417-K7QM-9TZC`. */
  readonly code: string;
  /** The same code as the link URI a QR code carries (`e2ee-chat:link?user=alice&code=…`). */
  readonly uri: string;
  /** When the server closes the slot (ms since the epoch). */
  readonly expiresAt: number;
  /** The first four groups of this device's signing-key fingerprint: the primary shows the same before it approves. */
  readonly keyFingerprint: string;
  /** Settles with the checked provisioning, or fails with `link_failed` (or the connection's error). */
  readonly done: Promise<ProvisionedDevice>;
  /** Gives up: the slot closes and `done` fails. */
  cancel(): void;
}

export async function requestDeviceLink(options: DeviceLinkOptions): Promise<PendingDeviceLink> {
  const random = options.random ?? defaultRandom;
  const now = options.now ?? Date.now;
  const stepTimeoutMs = options.stepTimeoutMs ?? LINK_STEP_TIMEOUT_MS;
  const nameProblem = deviceNameProblem(options.name);
  if (nameProblem !== undefined) throw new ChatError('bad_request', `device name "${options.name}": ${nameProblem}`);
  const secrets = deviceSecretsOf(options.keys);
  const preKeys = await longLivedPreKeys(options.ratchet, secrets.signing, now());
  const offer: LinkOffer = {
    v: 2,
    name: options.name,
    signingKey: secrets.signingPublicJwk.x,
    ...preKeys,
    encryptionKey: rsaPublic(secrets.encryptionPublicJwk),
  };
  // Checked before any traffic: a device never offers what its primary would refuse.
  encodeLinkOffer(offer);
  const offered = {
    signingKey: base64urlDecode(offer.signingKey),
    identityKey: base64urlDecode(offer.identity.dhKey),
    rsaModulus: base64urlDecode(offer.encryptionKey.n),
  };

  const connection = await LinkConnection.open(options);
  let slot: LinkSlot | undefined;
  try {
    const sidB = random(LINK_SID_BYTES);
    const opened = await connection.call('link.open', { username: options.username, sid: base64urlEncode(sidB) });
    const code: LinkCode = { slot: opened.slot, secret: generateLinkSecret(random) };
    const open = (slot = new LinkSlot(connection, opened.slot));
    const joined = waitForJoin(connection, open);
    connection.onDropped((reason) => open.end(new ChatError('link_failed', `the connection to the server dropped (${reason})`)));
    const done = (async () => {
      try {
        const sidA = await joined;
        const responder = new LinkResponder({ username: options.username, code, sidA, sidB }, offer, random);
        try {
          const provisioning = await answerPrimary(responder, open, stepTimeoutMs);
          const provisioned = checkProvisioning(provisioning, offered);
          await open.close();
          return provisioned;
        } finally {
          responder.abort();
        }
      } finally {
        open.end();
        connection.close();
      }
    })();
    return {
      code: formatLinkCode(code),
      uri: linkUri(options.username, code),
      expiresAt: opened.expiresAt,
      keyFingerprint: await shortKeyFingerprint(offer.signingKey),
      done,
      cancel: () => open.end(new ChatError('link_failed', 'the link was cancelled on this device')),
    };
  } catch (err) {
    slot?.end();
    connection.close();
    throw err;
  }
}

/**
 * The primary's sid from `link.joined` for our slot. The server closes the slot at its expiry (and says
 * so); the timer here only covers a server that never does.
 */
function waitForJoin(connection: LinkConnection, slot: LinkSlot): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(() => slot.end(new ChatError('link_failed', 'the code expired before a device of the account used it')), LINK_TTL_MS + LINK_STEP_TIMEOUT_MS);
    const stop = () => {
      clearTimeout(timer);
      off();
      offEnd();
    };
    const off = connection.onEvent('link.joined', (e) => {
      if (e.slot !== slot.slot) return;
      stop();
      resolve(base64urlDecode(e.sid));
    });
    // The slot can end before anyone joins (cancelled, expired, the connection dropped): the wait ends with it.
    const offEnd = slot.onEnd((err) => {
      stop();
      reject(err);
    });
  });
}

/** Runs the responder over the slot until the provisioning is whole: answers cpace-a with the offer, then collects. */
async function answerPrimary(responder: LinkResponder, slot: LinkSlot, stepTimeoutMs: number): Promise<LinkProvisioning> {
  for (;;) {
    const event = responder.receive(await slot.next(stepTimeoutMs, "the primary's next link frame"));
    if (event.kind === 'failed') throw event.error;
    if (event.kind === 'send') await slot.send(event.frames);
    if (event.kind === 'provisioned') return event.provisioning;
  }
}
