/**
 * The new device's side of a device link (docs/PROTOCOL.md §18.7): CPace's responder B. A pure state
 * machine like link-initiator.ts; the caller creates it when `link.joined` brings the primary's sid.
 *
 *   receive(cpace-a)     → { kind: 'send' }: cpace-b (Yb, Tb and the offer's first record) and `more` frames
 *   receive(confirm-a)   → checks Ta before opening anything, then the provisioning's first record
 *   receive(more)*       → the provisioning's further records
 *                        → { kind: 'provisioned' } once it is whole, parsed and for this account
 *
 * The new device answers exactly one cpace-a per code: a second one, like any frame out of order, a
 * failed tag or record, or a malformed frame or provisioning, ends the run with `link_failed`. The offer
 * goes out before the primary is confirmed: it holds public keys only, and without the code nobody can
 * open it (a wrong guess gives other channel keys).
 */
import type { Bytes } from '../../crypto/bytes.js';
import { defaultRandom, type RandomSource } from '../../crypto/random.js';
import { ChatError } from '../../protocol/errors.js';
import { LINK_MAX_FRAMES } from '../../protocol/limits.js';
import { CPaceParty, type CPaceSession } from './cpace.js';
import type { CPaceInputs } from './cpace.js';
import { deriveLinkChannelKeys, LinkRecordOpener, LinkRecordSealer } from './link-channel.js';
import { LINK_AD, linkCpaceInputs, type LinkRunParameters } from './link-cpace-inputs.js';
import { decodeLinkFrame } from './link-frames.js';
import { encodeLinkOffer, parseLinkProvisioning, type LinkOffer, type LinkProvisioning } from './link-messages.js';
import { LinkMessageCollector, linkMessageFrames } from './link-transfer.js';

export type LinkResponderEvent =
  /** Send these frames, in order (cpace-b carrying the offer, then `more`). */
  | { readonly kind: 'send'; readonly frames: readonly Bytes[] }
  /** The frame was taken; the provisioning continues in further frames. */
  | { readonly kind: 'wait' }
  /** The primary confirmed the key (Ta) and the whole provisioning opened and is for this account. */
  | { readonly kind: 'provisioned'; readonly provisioning: LinkProvisioning }
  /** The run is over: `link_failed`. */
  | { readonly kind: 'failed'; readonly error: ChatError };

type State =
  | { readonly name: 'awaiting-cpace-a'; readonly inputs: CPaceInputs; readonly offer: Bytes }
  | { readonly name: 'awaiting-confirm-a'; readonly session: CPaceSession; readonly opener: LinkRecordOpener }
  | { readonly name: 'receiving-provisioning'; readonly collector: LinkMessageCollector; readonly opener: LinkRecordOpener }
  | { readonly name: 'done' }
  | { readonly name: 'failed'; readonly error: ChatError };

export class LinkResponder {
  #state: State;
  readonly #sid: Bytes;
  readonly #username: string;
  readonly #random: RandomSource;
  #received = 0;

  /** `offer` is checked and encoded now: a device never sends an offer the primary would refuse. */
  constructor(params: LinkRunParameters, offer: LinkOffer, random: RandomSource = defaultRandom) {
    const inputs = linkCpaceInputs(params);
    this.#state = { name: 'awaiting-cpace-a', inputs, offer: encodeLinkOffer(offer) };
    this.#sid = Uint8Array.from(inputs.sid);
    this.#username = params.username;
    this.#random = random;
  }

  get state(): State['name'] {
    return this.#state.name;
  }

  receive(bytes: Uint8Array): LinkResponderEvent {
    const state = this.#state;
    if (state.name === 'failed') return { kind: 'failed', error: state.error };
    if (state.name === 'done') return { kind: 'failed', error: new ChatError('link_failed', 'this link is already complete') };
    try {
      // cpace-a, confirm-a and the rest share the primary's budget of frames in this direction.
      if (++this.#received > LINK_MAX_FRAMES) throw new ChatError('link_failed', `the primary sent more than ${LINK_MAX_FRAMES} link frames`);
      const frame = decodeLinkFrame(bytes);
      if (state.name === 'awaiting-cpace-a' && frame.type === 'cpace-a') return this.#answer(state, frame.share);
      if (state.name === 'awaiting-confirm-a' && frame.type === 'confirm-a') {
        // Key confirmation before anything is opened (CPace §10.4): a primary without the code stops here.
        if (!state.session.confirms(frame.tag)) {
          throw new ChatError('link_failed', `the other side could not confirm the key: it is not ${this.#username}'s primary, or the code was mistyped`);
        }
        state.session.wipe();
        // The primary's frames: cpace-a, then this one; the provisioning may use all the others.
        const collector = new LinkMessageCollector(state.opener, LINK_MAX_FRAMES - 1);
        this.#state = { name: 'receiving-provisioning', collector, opener: state.opener };
        return this.#provisioningPart(frame.type, frame);
      }
      if (state.name === 'receiving-provisioning' && frame.type === 'more') return this.#provisioningPart(frame.type, frame);
      throw new ChatError('link_failed', `unexpected ${frame.type} frame from the primary`);
    } catch (err) {
      return this.#fail(err);
    }
  }

  #answer(state: Extract<State, { name: 'awaiting-cpace-a' }>, ya: Bytes): LinkResponderEvent {
    const party = CPaceParty.start('responder', state.inputs, LINK_AD, this.#random);
    // finish() wipes the scalar and refuses an invalid share or the identity (CPace §7.2).
    const session = party.finish(ya, LINK_AD);
    const isk = session.isk();
    const keys = deriveLinkChannelKeys(isk, this.#sid);
    isk.fill(0);
    const sealer = new LinkRecordSealer(keys.newToPrimary, this.#sid);
    const opener = new LinkRecordOpener(keys.primaryToNew, this.#sid);
    keys.newToPrimary.fill(0);
    keys.primaryToNew.fill(0);
    const tb = session.ownTag();
    this.#state = { name: 'awaiting-confirm-a', session, opener };
    try {
      const frames = linkMessageFrames(sealer, state.offer, LINK_MAX_FRAMES, {
        type: 'cpace-b',
        build: (part) => ({ type: 'cpace-b', share: party.share, tag: tb, ...part }),
      });
      return { kind: 'send', frames };
    } finally {
      sealer.wipe();
      tb.fill(0);
    }
  }

  #provisioningPart(type: 'confirm-a' | 'more', part: { final: boolean; record: Bytes }): LinkResponderEvent {
    const state = this.#state;
    if (state.name !== 'receiving-provisioning') throw new Error('unreachable: no provisioning is being received');
    const message = state.collector.add(type, part);
    if (message === undefined) return { kind: 'wait' };
    const provisioning = parseLinkProvisioning(message, this.#username);
    message.fill(0);
    this.#end({ name: 'done' });
    return { kind: 'provisioned', provisioning };
  }

  /** Ends the run (link.closed, expiry, the user gave up): later frames fail. */
  abort(reason = 'the link was closed'): void {
    if (this.#state.name !== 'done' && this.#state.name !== 'failed') this.#fail(new ChatError('link_failed', reason));
  }

  #fail(err: unknown): LinkResponderEvent {
    const error = err instanceof ChatError && err.code === 'link_failed' ? err : new ChatError('link_failed', 'the link failed', { cause: err });
    this.#end({ name: 'failed', error });
    return { kind: 'failed', error };
  }

  #end(next: State): void {
    const state = this.#state;
    if (state.name === 'awaiting-confirm-a') state.session.wipe();
    if (state.name === 'awaiting-confirm-a' || state.name === 'receiving-provisioning') state.opener.wipe();
    this.#state = next;
  }
}
