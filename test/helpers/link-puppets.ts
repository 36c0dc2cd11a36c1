/**
 * The link parties a lying server runs itself (docs/design/devices-v2.md §6.6): it does not know the
 * code's secret, so each is built from a guess. A hostile-server test puts one at the other end of a
 * real device's link slot and relays the real device's frames to it.
 *
 *  - fakeNewDevice: the library's own responder with the guess and the server's own offer, posing as
 *    the new device to the primary.
 *  - fakePrimary: CPace's initiator with the guess, posing as the primary to the new device. Unlike the
 *    library's initiator it goes on after a failed Tb and seals a confirm-a anyway, as an attacker would;
 *    it reports whether Tb confirmed and whether the new device's offer opened under its keys.
 */
import { ed25519SigningKeyFromSeed } from '../../src/crypto/signing-key.js';
import { MemoryRatchetStore } from '../../src/client/ratchet-store.js';
import { longLivedPreKeys } from '../../src/client/prekey-publisher.js';
import { rsaPublic } from '../../src/client/link-provisioning.js';
import { base64urlDecode, randomBytes, type Bytes } from '../../src/crypto/bytes.js';
import { rsaPublicOf } from '../../src/crypto/keys.js';
import { defaultRandom } from '../../src/crypto/random.js';
import { CPaceParty } from '../../src/e2ee/link/cpace.js';
import { deriveLinkChannelKeys, LinkRecordOpener, LinkRecordSealer } from '../../src/e2ee/link/link-channel.js';
import type { LinkCode } from '../../src/e2ee/link/link-code.js';
import { LINK_AD, linkCpaceInputs } from '../../src/e2ee/link/link-cpace-inputs.js';
import { decodeLinkFrame, encodeLinkFrame, LINK_FRAME_TYPE } from '../../src/e2ee/link/link-frames.js';
import type { LinkOffer } from '../../src/e2ee/link/link-messages.js';
import { LinkResponder } from '../../src/e2ee/link/link-responder.js';
import { linkMessageFrames } from '../../src/e2ee/link/link-transfer.js';
import { LINK_MAX_FRAMES } from '../../src/protocol/limits.js';
import { LINK_SID_BYTES } from '../../src/protocol/link-schemas.js';
import { keysFor } from './test-clients.js';

export interface FakeNewDevice {
  /** Its half of the session id, for the answer to the primary's `link.join`. */
  readonly sid: Bytes;
  /** Takes one of the primary's frames; returns the frames it answers with (cpace-b and its offer). */
  receive(frame: Uint8Array): Bytes[];
}

/** The server's own "new device" for `username`, run with `guess` as the code (the primary's sid from its join). */
export async function fakeNewDevice(username: string, guess: LinkCode, sidA: Uint8Array): Promise<FakeNewDevice> {
  const keys = await keysFor();
  const preKeys = await longLivedPreKeys(new MemoryRatchetStore(), ed25519SigningKeyFromSeed(base64urlDecode(keys.signing.d)), Date.now());
  const offer: LinkOffer = { v: 2, name: 'server', signingKey: keys.signing.x, ...preKeys, encryptionKey: rsaPublic(rsaPublicOf(keys.encryption)) };
  const sid = randomBytes(LINK_SID_BYTES);
  const responder = new LinkResponder({ username, code: guess, sidA, sidB: sid }, offer);
  return {
    sid,
    receive(frame) {
      const event = responder.receive(frame);
      return event.kind === 'send' ? [...event.frames] : [];
    },
  };
}

export interface FakePrimaryAnswer {
  /** confirm-a (Ta of the guess's session) carrying `provisioning`, then any `more` frames. */
  readonly frames: Bytes[];
  /** Whether the new device's Tb confirmed the guess's key: only if the guess was the code. */
  readonly confirmedTb: boolean;
  /** Whether the offer in cpace-b opened under the guess's channel key. */
  readonly openedOffer: boolean;
}

export interface FakePrimary {
  /** Its half of the session id, for the `link.joined` it pushes to the new device. */
  readonly sid: Bytes;
  /** The cpace-a frame to push first. */
  readonly cpaceA: Bytes;
  /** Answers the new device's cpace-b with a sealed `provisioning`, whatever Tb said. */
  answer(cpaceB: Uint8Array, provisioning: Uint8Array): FakePrimaryAnswer;
}

/** The server posing as `username`'s primary to the new device that opened `guess.slot` with sid `sidB`. */
export function fakePrimary(username: string, guess: LinkCode, sidB: Uint8Array): FakePrimary {
  const sid = randomBytes(LINK_SID_BYTES);
  const inputs = linkCpaceInputs({ username, code: guess, sidA: sid, sidB });
  const party = CPaceParty.start('initiator', inputs, LINK_AD, defaultRandom);
  return {
    sid,
    cpaceA: encodeLinkFrame({ type: 'cpace-a', share: party.share }),
    answer(cpaceB, provisioning) {
      const frame = decodeLinkFrame(cpaceB);
      if (frame.type !== 'cpace-b') throw new Error(`the fake primary expected cpace-b, not ${frame.type}`);
      const session = party.finish(frame.share, LINK_AD);
      const keys = deriveLinkChannelKeys(session.isk(), inputs.sid);
      let openedOffer = true;
      try {
        new LinkRecordOpener(keys.newToPrimary, inputs.sid).open(LINK_FRAME_TYPE['cpace-b'], frame.final, frame.record);
      } catch {
        openedOffer = false;
      }
      const ta = session.ownTag();
      const frames = linkMessageFrames(new LinkRecordSealer(keys.primaryToNew, inputs.sid), provisioning, LINK_MAX_FRAMES - 1, {
        type: 'confirm-a',
        build: (part) => ({ type: 'confirm-a', tag: ta, ...part }),
      });
      return { frames, confirmedTb: session.confirms(frame.tag), openedOffer };
    },
  };
}
