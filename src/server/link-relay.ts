/**
 * The link relay (docs/design/devices-v2.md §6.3, PROTOCOL.md §19.10): slots in memory through which a new
 * device and its user's primary run the CPace exchange of §6.5. The relay reads none of it: it opens a
 * slot for a user, lets one connection of that user join it once, carries frames between exactly those
 * two parties in order, and closes the slot on request, on a dropped connection or at its expiry.
 *
 * It knows no sockets. A party is an id and one method per pushed event; the connection layer validates
 * payloads with the schemas of protocol/link-schemas.ts, checks that the user of `link.open` exists
 * (`unknown_user`) and that `link.join` comes from a logged-in protocol-2 connection, then calls the
 * methods here, which answer with the event's result or throw a ChatError. It also calls `disconnected`
 * when a socket drops and `dispose` when the server stops. The clock, the RNG and the timers are injected,
 * so tests drive expiry without waiting.
 *
 * Every refusal of `join` and `send` is the same `unknown_link` with the same message, whatever the
 * reason (never opened, expired, joined, closed, another user's, not a party, over the frame cap): the
 * answer must not tell a prober which slots exist or whose they are.
 */
import { defaultClock, defaultRandom, type Clock, type RandomSource } from '../crypto/random.js';
import { ChatError } from '../protocol/errors.js';
import type { LinkClosedEvent, LinkCloseReason, LinkDataEvent, LinkJoinedEvent, LinkJoinResult, LinkOpenResult } from '../protocol/events-v2.js';
import type { LinkClosePayload, LinkJoinPayload, LinkOpenPayload, LinkSendPayload } from '../protocol/link-schemas.js';
import { LINK_MAX_FRAMES, LINK_TTL_MS, MAX_OPEN_LINKS } from '../protocol/limits.js';
import { drawSlotNumber, MAX_NUMBERED_SLOTS } from './link-slot-numbers.js';
import type { LinkSlots } from './link-slots.js';

/** The events the relay pushes, with their payloads. */
export interface LinkPushEvents {
  'link.joined': LinkJoinedEvent;
  'link.data': LinkDataEvent;
  'link.closed': LinkClosedEvent;
}
export type LinkPushEvent = keyof LinkPushEvents;

/**
 * One end of a link: a connection, as the relay sees it. One method per pushed event rather than one
 * generic `push(event, payload)`: a typed Socket.IO socket's `emit` accepts each literal event with its
 * own payload, but no generic or union call without a cast, and a cast would stop the compiler from
 * checking the pair. So the connection layer writes `joined: (e) => socket.emit('link.joined', e)`.
 * Each is called after the relay's state is committed.
 */
export interface LinkParty {
  /** Unique among live connections (the Socket.IO id); parties are compared by it. */
  readonly id: string;
  /** `link.joined`, to the opener: the primary joined its slot. */
  joined(event: LinkJoinedEvent): void;
  /** `link.data`: a frame from the other party. */
  data(event: LinkDataEvent): void;
  /** `link.closed`: the slot is gone. */
  closed(event: LinkClosedEvent): void;
}

/** The logged-in account of a joining connection. */
export interface LinkAccount {
  username: string;
  /** Its device id, sent to the new device in `link.joined` (1, the primary, in every correct run). */
  device: number;
}

/** A one-shot timer, cancelled when its slot closes first. */
export interface LinkTimer {
  cancel(): void;
}
export type StartTimer = (fn: () => void, delayMs: number) => LinkTimer;

/** Node's setTimeout, unref'd: an open link slot must not keep a stopping server alive. */
export const nodeTimer: StartTimer = (fn, delayMs) => {
  const handle = setTimeout(fn, delayMs);
  handle.unref();
  return { cancel: () => clearTimeout(handle) };
};

export interface LinkRelayOptions {
  /** Reports a `push` that threw; the relay has already committed its state and goes on with the rest. */
  onPushError: (err: unknown, event: LinkPushEvent, party: LinkParty) => void;
  now?: Clock;
  random?: RandomSource;
  startTimer?: StartTimer;
  /** Server-wide open slots (`link_limit` beyond). */
  maxOpen?: number;
  /** A slot's lifetime from `link.open`. */
  ttlMs?: number;
  /** Frames per slot in each direction; the next one closes the slot (see `send`). */
  maxFrames?: number;
  /**
   * Called once for every slot that goes (closed, dropped, expired, over the frame cap; not on `dispose`),
   * after the relay forgot it and before it pushes `link.closed`: a cluster frees the slot's number.
   */
  onSlotRemoved?: (slot: string) => void;
}

interface Slot {
  readonly slot: string;
  readonly username: string;
  readonly opener: LinkParty;
  readonly openerSid: string;
  readonly expiresAt: number;
  readonly timer: LinkTimer;
  joiner: LinkParty | null;
  /** Frames relayed so far from the opener and from the joiner. */
  fromOpener: number;
  fromJoiner: number;
}

/** The one refusal of `join` and `send`, word for word the same in every case. */
export function unknownLink(): ChatError {
  return new ChatError('unknown_link', 'no open link slot with that number');
}

/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function positiveInteger(value: number, name: string, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new RangeError(`"${name}" expected an integer in 1 … ${max}`);
  return value;
}

export class LinkRelay implements LinkSlots {
  /** Open slots by number. */
  private readonly slots = new Map<string, Slot>();
  /** The numbers of the slots each party is in (opened or joined), for `disconnected`. */
  private readonly byParty = new Map<string, Set<string>>();
  /** The slot each party opened: one at a time. */
  private readonly openedBy = new Map<string, string>();

  private readonly onPushError: LinkRelayOptions['onPushError'];
  private readonly now: Clock;
  private readonly random: RandomSource;
  private readonly startTimer: StartTimer;
  private readonly maxOpen: number;
  private readonly ttlMs: number;
  private readonly maxFrames: number;
  private readonly onSlotRemoved: (slot: string) => void;

  constructor(options: LinkRelayOptions) {
    this.onPushError = options.onPushError;
    this.now = options.now ?? defaultClock;
    this.random = options.random ?? defaultRandom;
    this.startTimer = options.startTimer ?? nodeTimer;
    this.maxOpen = positiveInteger(options.maxOpen ?? MAX_OPEN_LINKS, 'maxOpen', MAX_NUMBERED_SLOTS - 1);
    this.ttlMs = positiveInteger(options.ttlMs ?? LINK_TTL_MS, 'ttlMs', MAX_TIMER_MS);
    this.maxFrames = positiveInteger(options.maxFrames ?? LINK_MAX_FRAMES, 'maxFrames', Number.MAX_SAFE_INTEGER);
    this.onSlotRemoved = options.onSlotRemoved ?? (() => undefined);
  }

  /** A slot's lifetime from `link.open` (a cluster registers the slot's number for as long). */
  get slotTtlMs(): number {
    return this.ttlMs;
  }

  /** True while a slot of that number is open here (past its expiry it is closed first, as `live` does). */
  has(slot: string): boolean {
    return this.live(slot) !== undefined;
  }

  /** Open slots now (for /health or metrics). */
  get openSlots(): number {
    return this.slots.size;
  }

  /**
   * `link.open`: a slot for `username` (whose existence the caller checked), opened by `party`.
   * `link_limit` when this party has an open slot already or the server has `maxOpen`.
   */
  open(party: LinkParty, payload: LinkOpenPayload): LinkOpenResult {
    this.checkOpen(party);
    return this.openNumbered(party, payload, drawSlotNumber(this.random, this.slots.size, (n) => this.slots.has(n)));
  }

  /** `link_limit` when `party` may not open a slot now (see `open`); a cluster asks before it claims a number. */
  checkOpen(party: LinkParty): void {
    const previous = this.openedBy.get(party.id);
    if (previous !== undefined && this.live(previous)) throw new ChatError('link_limit', 'this connection has an open link slot already');
    if (this.slots.size >= this.maxOpen) throw new ChatError('link_limit', 'too many open link slots on the server; try again later');
  }

  /**
   * `open` under a number the caller drew and made unique across a cluster (cluster/cross-node-links.ts).
   * The limits are checked again: other opens may have come in while the number was being claimed.
   */
  openNumbered(party: LinkParty, payload: LinkOpenPayload, number: string): LinkOpenResult {
    this.checkOpen(party);
    if (this.slots.has(number)) throw new Error(`link slot ${number} is open already`);
    const expiresAt = this.now() + this.ttlMs;
    const slot: Slot = {
      slot: number,
      username: payload.username,
      opener: party,
      openerSid: payload.sid,
      expiresAt,
      timer: this.startTimer(() => this.expire(number, slot), this.ttlMs),
      joiner: null,
      fromOpener: 0,
      fromJoiner: 0,
    };
    this.slots.set(number, slot);
    this.openedBy.set(party.id, number);
    this.index(party.id).add(number);
    return { slot: number, expiresAt };
  }

  /**
   * `link.join`: `party`, logged in as `account`, joins an open slot of its own user that nobody has
   * joined and that it did not open; else `unknown_link`. Pushes `link.joined` with the joiner's sid and
   * device to the opener; answers the opener's sid.
   */
  join(party: LinkParty, account: LinkAccount, payload: LinkJoinPayload): LinkJoinResult {
    const slot = this.live(payload.slot);
    if (!slot || slot.joiner !== null || slot.username !== account.username || slot.opener.id === party.id) throw unknownLink();
    slot.joiner = party;
    this.index(party.id).add(slot.slot);
    const joinedEvent: LinkJoinedEvent = { slot: slot.slot, sid: payload.sid, device: account.device };
    this.tell(slot.opener, 'link.joined', (p) => p.joined(joinedEvent));
    return { slot: slot.slot, sid: slot.openerSid };
  }

  /**
   * `link.send`: relays `data` to the other party of a joined slot, in call order. `unknown_link` when
   * the slot is not open, not joined, or `party` is not one of its two. The frame past `maxFrames` in one
   * direction closes the slot (the other party gets `link.closed` "closed") and is refused with
   * `unknown_link`, like every later frame: no correct run needs that many, so the run cannot succeed,
   * and a code such as `rate_limited` would invite a retry that can never work.
   */
  send(party: LinkParty, payload: LinkSendPayload): void {
    const slot = this.live(payload.slot);
    if (!slot || slot.joiner === null) throw unknownLink();
    const fromOpener = slot.opener.id === party.id;
    if (!fromOpener && slot.joiner.id !== party.id) throw unknownLink();
    const to = fromOpener ? slot.joiner : slot.opener;
    if ((fromOpener ? slot.fromOpener : slot.fromJoiner) >= this.maxFrames) {
      this.remove(slot);
      this.closed(to, slot.slot, 'closed');
      throw unknownLink();
    }
    if (fromOpener) slot.fromOpener++;
    else slot.fromJoiner++;
    const dataEvent: LinkDataEvent = { slot: slot.slot, data: payload.data };
    this.tell(to, 'link.data', (p) => p.data(dataEvent));
  }

  /**
   * `link.close`: deletes the slot and pushes `link.closed` "closed" to the other party, if it joined.
   * Always succeeds; a slot `party` is not in is left alone.
   */
  close(party: LinkParty, payload: LinkClosePayload): void {
    const slot = this.live(payload.slot);
    if (!slot) return;
    const other = slot.opener.id === party.id ? slot.joiner : slot.joiner?.id === party.id ? slot.opener : undefined;
    if (other === undefined) return;
    this.remove(slot);
    if (other !== null) this.closed(other, slot.slot, 'closed');
  }

  /** The connection dropped: closes every slot it is in, pushing `link.closed` "disconnected" to the other party. */
  disconnected(party: LinkParty): void {
    for (const number of [...(this.byParty.get(party.id) ?? [])]) {
      const slot = this.slots.get(number);
      if (!slot) continue;
      const other = slot.opener.id === party.id ? slot.joiner : slot.opener;
      // A slot whose expiry is due but whose timer has not run yet closes as what it is.
      const reason: LinkCloseReason = this.now() >= slot.expiresAt ? 'expired' : 'disconnected';
      this.remove(slot);
      if (other !== null) this.closed(other, number, reason);
    }
  }

  /** The server is stopping: cancels every timer and forgets every slot, pushing nothing. */
  dispose(): void {
    for (const slot of this.slots.values()) slot.timer.cancel();
    this.slots.clear();
    this.byParty.clear();
    this.openedBy.clear();
  }

  /**
   * The open slot of that number, or undefined. A slot found past its expiry (its timer is late) is
   * expired here, so no join or frame gets in after `expiresAt` whatever the timers do.
   */
  private live(number: string): Slot | undefined {
    const slot = this.slots.get(number);
    if (!slot) return undefined;
    if (this.now() < slot.expiresAt) return slot;
    this.expire(number, slot);
    return undefined;
  }

  /** Closes `slot` as expired, telling both parties; a no-op if it is closed already (a late timer). */
  private expire(number: string, slot: Slot): void {
    if (this.slots.get(number) !== slot) return;
    this.remove(slot);
    this.closed(slot.opener, number, 'expired');
    if (slot.joiner) this.closed(slot.joiner, number, 'expired');
  }

  /** Forgets a slot everywhere and cancels its timer. Called before any push, so pushes see the committed state. */
  private remove(slot: Slot): void {
    slot.timer.cancel();
    this.slots.delete(slot.slot);
    if (this.openedBy.get(slot.opener.id) === slot.slot) this.openedBy.delete(slot.opener.id);
    this.unindex(slot.opener.id, slot.slot);
    if (slot.joiner) this.unindex(slot.joiner.id, slot.slot);
    this.onSlotRemoved(slot.slot);
  }

  private index(partyId: string): Set<string> {
    let set = this.byParty.get(partyId);
    if (!set) this.byParty.set(partyId, (set = new Set()));
    return set;
  }

  private unindex(partyId: string, number: string): void {
    const set = this.byParty.get(partyId);
    if (!set) return;
    set.delete(number);
    if (set.size === 0) this.byParty.delete(partyId);
  }

  private closed(party: LinkParty, slot: string, reason: LinkCloseReason): void {
    const event: LinkClosedEvent = { slot, reason };
    this.tell(party, 'link.closed', (p) => p.closed(event));
  }

  /** One push, isolated: a party whose push throws must not keep the other from hearing. */
  private tell(party: LinkParty, event: LinkPushEvent, push: (party: LinkParty) => void): void {
    try {
      push(party);
    } catch (err) {
      this.onPushError(err, event, party);
    }
  }
}
