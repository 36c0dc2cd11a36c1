/**
 * The primary's side of a device link (docs/PROTOCOL.md §18.7): CPace's initiator A. A pure state
 * machine: frames in, frames and results out; the caller relays the frames (link.send / link.data),
 * checks and publishes what the offer asks for, and closes the slot on failure.
 *
 *   start()            → cpace-a
 *   receive(cpace-b)   → checks Tb first (a wrong code fails here), then opens the offer's first record
 *   receive(more)*     → the offer's further records
 *                      → { kind: 'offer' } once the whole offer is open and checked
 *   provision(p)       → confirm-a (Ta and the provisioning's first record) and `more` frames
 *
 * Anything else (a frame out of order, a failed tag or record, a malformed frame or offer) ends the run
 * with `link_failed`; a failed run answers every later frame the same way and never opens anything.
 */
import type { Bytes } from '../../crypto/bytes.js';
import { defaultRandom, type RandomSource } from '../../crypto/random.js';
import { ChatError } from '../../protocol/errors.js';
import { LINK_MAX_FRAMES } from '../../protocol/limits.js';
import { CPaceParty } from './cpace.js';
import { deriveLinkChannelKeys, LinkRecordOpener, LinkRecordSealer } from './link-channel.js';
import { LINK_AD, linkCpaceInputs, type LinkRunParameters } from './link-cpace-inputs.js';
import { decodeLinkFrame, encodeLinkFrame } from './link-frames.js';
import { encodeLinkProvisioning, parseLinkOffer, type LinkOffer, type LinkProvisioning } from './link-messages.js';
import { LinkMessageCollector, linkMessageFrames } from './link-transfer.js';

export type LinkInitiatorEvent =
  /** The frame was taken; the offer continues in further frames. */
  | { readonly kind: 'wait' }
  /** The code matched (Tb verified) and the whole offer opened and passed its checks. */
  | { readonly kind: 'offer'; readonly offer: LinkOffer }
  /** The run is over: `link_failed`. */
  | { readonly kind: 'failed'; readonly error: ChatError };

type State =
  | { readonly name: 'awaiting-cpace-b'; readonly party: CPaceParty }
  | { readonly name: 'receiving-offer'; readonly collector: LinkMessageCollector; readonly opener: LinkRecordOpener; readonly sealer: LinkRecordSealer; readonly ta: Bytes }
  | { readonly name: 'offer-received'; readonly sealer: LinkRecordSealer; readonly ta: Bytes }
  | { readonly name: 'done' }
  | { readonly name: 'failed'; readonly error: ChatError };

export class LinkInitiator {
  #state: State;
  readonly #sid: Bytes;
  /** Frames received so far; the relay passes at most LINK_MAX_FRAMES per direction. */
  #received = 0;

  private constructor(party: CPaceParty, sid: Bytes) {
    this.#state = { name: 'awaiting-cpace-b', party };
    this.#sid = sid;
  }

  /** Computes the generator and Ya; returns the run and the cpace-a frame to send. */
  static start(params: LinkRunParameters, random: RandomSource = defaultRandom): { run: LinkInitiator; frame: Bytes } {
    const inputs = linkCpaceInputs(params);
    const party = CPaceParty.start('initiator', inputs, LINK_AD, random);
    return { run: new LinkInitiator(party, Uint8Array.from(inputs.sid)), frame: encodeLinkFrame({ type: 'cpace-a', share: party.share }) };
  }

  get state(): State['name'] {
    return this.#state.name;
  }

  receive(bytes: Uint8Array): LinkInitiatorEvent {
    const state = this.#state;
    if (state.name === 'failed') return { kind: 'failed', error: state.error };
    if (state.name === 'done') return { kind: 'failed', error: new ChatError('link_failed', 'this link is already complete') };
    try {
      if (++this.#received > LINK_MAX_FRAMES) throw new ChatError('link_failed', `the new device sent more than ${LINK_MAX_FRAMES} link frames`);
      const frame = decodeLinkFrame(bytes);
      if (state.name === 'awaiting-cpace-b' && frame.type === 'cpace-b') {
        // finish() wipes the scalar and refuses an invalid share or the identity (CPace §7.2).
        const session = state.party.finish(frame.share, LINK_AD);
        try {
          // Key confirmation before anything is opened (CPace §10.4): a wrong code stops here.
          if (!session.confirms(frame.tag)) throw new ChatError('link_failed', 'the code did not match (the new device could not confirm the key)');
          const isk = session.isk();
          const keys = deriveLinkChannelKeys(isk, this.#sid);
          isk.fill(0);
          const opener = new LinkRecordOpener(keys.newToPrimary, this.#sid);
          const sealer = new LinkRecordSealer(keys.primaryToNew, this.#sid);
          keys.newToPrimary.fill(0);
          keys.primaryToNew.fill(0);
          const collector = new LinkMessageCollector(opener, LINK_MAX_FRAMES);
          this.#state = { name: 'receiving-offer', collector, opener, sealer, ta: session.ownTag() };
        } finally {
          session.wipe();
        }
        return this.#offerPart(frame.type, frame);
      }
      if (state.name === 'receiving-offer' && frame.type === 'more') return this.#offerPart(frame.type, frame);
      throw new ChatError('link_failed', `unexpected ${frame.type} frame from the new device`);
    } catch (err) {
      return this.#fail(err);
    }
  }

  #offerPart(type: 'cpace-b' | 'more', part: { final: boolean; record: Bytes }): LinkInitiatorEvent {
    const state = this.#state;
    if (state.name !== 'receiving-offer') throw new Error('unreachable: no offer is being received');
    const message = state.collector.add(type, part);
    if (message === undefined) return { kind: 'wait' };
    const offer = parseLinkOffer(message);
    message.fill(0);
    state.opener.wipe();
    this.#state = { name: 'offer-received', sealer: state.sealer, ta: state.ta };
    return { kind: 'offer', offer };
  }

  /**
   * The frames that carry the provisioning (confirm-a, then `more`); the run is complete. Call it only
   * after the offer, once the new device list is published. Throws `link_failed` (and fails the run) when
   * the provisioning needs more frames than the relay carries.
   */
  provision(provisioning: LinkProvisioning): Bytes[] {
    const state = this.#state;
    if (state.name !== 'offer-received') throw new Error(`provision() needs a received offer; this run is ${state.name}`);
    try {
      // cpace-a took one of the frames the relay carries in this direction.
      const frames = linkMessageFrames(state.sealer, encodeLinkProvisioning(provisioning), LINK_MAX_FRAMES - 1, {
        type: 'confirm-a',
        build: (part) => ({ type: 'confirm-a', tag: state.ta, ...part }),
      });
      this.#end({ name: 'done' });
      return frames;
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  /** Ends the run (link.closed, expiry, the user gave up): later frames fail. */
  abort(reason = 'the link was closed'): void {
    if (this.#state.name !== 'done' && this.#state.name !== 'failed') this.#fail(new ChatError('link_failed', reason));
  }

  #fail(err: unknown): LinkInitiatorEvent {
    const error = err instanceof ChatError && err.code === 'link_failed' ? err : new ChatError('link_failed', 'the link failed', { cause: err });
    this.#end({ name: 'failed', error });
    return { kind: 'failed', error };
  }

  #end(next: State): void {
    const state = this.#state;
    if (state.name === 'awaiting-cpace-b') state.party.wipe();
    if (state.name === 'receiving-offer') state.opener.wipe();
    if (state.name === 'receiving-offer' || state.name === 'offer-received') {
      state.sealer.wipe();
      state.ta.fill(0);
    }
    this.#state = next;
  }
}
