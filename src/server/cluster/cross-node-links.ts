/**
 * The link relay of a node of a cluster (issue 13): the relay's slots (link-relay.ts), with exactly its
 * semantics, usable from any node.
 *
 * Why this design: a slot lives on its *home*, the node its new device opened it on, in that node's
 * LinkRelay, unchanged. The opener is always there (it opened the slot through that node), so only the
 * joining primary may be elsewhere. Moving the slot's state into Redis instead would make every frame a
 * script and every expiry a distributed timer, and would still need pub/sub to push frames; keeping it
 * in one node's memory keeps one place that orders a slot's frames and decides its end, as on one node.
 *
 * - Numbers are unique across the nodes: each is claimed in Redis (SET NX PX, for the slot's lifetime)
 *   together with its home, and freed when the slot goes. The range (3 or 6 digits) follows the number
 *   of slots open in the whole cluster, as link-slot-numbers.ts describes for one node.
 * - A `link.join` for a slot this node does not hold looks its home up and is forwarded there on the
 *   home's channel; the answer comes back on ours. A joined primary's frames and `link.close` follow the
 *   same way, and the home pushes `link.data` and `link.closed` to it on its node's channel. Pub/sub from
 *   one publisher to one subscriber keeps order, so frames arrive as sent.
 * - A remote party is a LinkParty of the home's relay whose pushes are publications ("proxy"), so the
 *   relay's rules (one join, frame cap, expiry, the one `unknown_link`) apply to it untouched.
 * - A node that dies takes its slots with it. The other node learns it by the dead node's lease in Redis
 *   running out (checked every third of the lease), or at once when a publication to it reaches nobody,
 *   and its party gets `link.closed` "disconnected", as when the other party's connection drops.
 * - A message lost is a frame lost, and CPace cannot survive a gap: when this node's subscriber was
 *   away (Redis restarted or unreachable) or a publication failed, every cross-node link it is in closes
 *   as "disconnected" rather than going on with a hole. The new device runs `link` again.
 * - Redis down: a slot is opened on this node alone (its number unregistered), so linking through one
 *   node keeps working; a join that needs another node fails with `internal`, saying why. A join is never
 *   told more than `unknown_link` about which slots exist or whose they are, whichever node it came to.
 *
 * Every wait is bounded: a forwarded request is answered within `requestTimeoutMs` or fails.
 */
import type { Logger } from 'pino';
import { defaultClock, defaultRandom, type Clock, type RandomSource } from '../../crypto/random.js';
import { ChatError } from '../../protocol/errors.js';
import type { LinkJoinResult, LinkOpenResult } from '../../protocol/events-v2.js';
import type { LinkClosePayload, LinkJoinPayload, LinkOpenPayload, LinkSendPayload } from '../../protocol/link-schemas.js';
import { MAX_OPEN_LINKS } from '../../protocol/limits.js';
import { LinkRelay, nodeTimer, unknownLink, type LinkAccount, type LinkParty, type LinkRelayOptions, type StartTimer } from '../link-relay.js';
import { drawSlotNumber, MAX_NUMBERED_SLOTS, SHORT_RANGE_BELOW } from '../link-slot-numbers.js';
import type { LinkSlots } from '../link-slots.js';
import { AwayLinks, type Membership } from './away-links.js';
import { LINK_REQUEST_TIMEOUT_MS } from './cluster-limits.js';
import type { LinkBus } from './link-bus.js';
import { parseNodeMessage, type LinkAnswer, type LinkPush, type NodeMessage } from './link-messages.js';
import { LinkRequests } from './link-requests.js';
import { RemoteParties } from './remote-parties.js';

/** Numbers drawn per range for one claim: the first free one of the range in use is taken. */
const CANDIDATES = 8;
/** Claims before giving up (each misses only if all its candidates are taken: below 0.11^8). */
const CLAIM_ATTEMPTS = 4;

export interface CrossNodeLinksOptions {
  bus: LinkBus;
  logger: Logger;
  /** For the home relay; `onSlotRemoved` is this module's. */
  relay: Omit<LinkRelayOptions, 'onSlotRemoved' | 'now' | 'random' | 'startTimer'>;
  now?: Clock;
  random?: RandomSource;
  startTimer?: StartTimer;
  requestTimeoutMs?: number;
  /** Slots open in the whole cluster at most (each node's relay also keeps to its own `maxOpen`). */
  clusterMaxOpen?: number;
  /** Slots homed elsewhere that this node's connections may be in, and requests waiting, at most. */
  maxAway?: number;
}

/** The failure of a link event that needed another node which could not be reached. */
function unreachable(why: string, cause?: unknown): ChatError {
  return new ChatError('internal', `linking through another node of the cluster failed: ${why}; run link again`, cause === undefined ? undefined : { cause });
}

const closedEvent = (slot: string, reason: 'disconnected' | 'expired'): LinkPush => ({ event: 'link.closed', payload: { slot, reason } });

export class CrossNodeLinks implements LinkSlots {
  private readonly local: LinkRelay;
  private readonly bus: LinkBus;
  private readonly logger: Logger;
  private readonly now: Clock;
  private readonly random: RandomSource;
  private readonly requestTimeoutMs: number;
  private readonly clusterMaxOpen: number;
  private readonly maxAway: number;
  private readonly onPushError: LinkRelayOptions['onPushError'];

  /** Numbers this node claimed in Redis for its slots, freed when the slot goes. */
  private readonly registered = new Set<string>();
  /** Home side: connections of other nodes in slots here. */
  private readonly remote = new RemoteParties();
  /** Visiting side: slots homed elsewhere that connections of this node joined. */
  private readonly away = new AwayLinks();
  private readonly requests: LinkRequests;
  /** Joins of another node's slots under way, per connection, and the connections that dropped meanwhile. */
  private readonly joining = new Map<string, number>();
  private readonly droppedWhileJoining = new Set<string>();

  constructor(options: CrossNodeLinksOptions) {
    this.bus = options.bus;
    this.logger = options.logger;
    this.now = options.now ?? defaultClock;
    this.random = options.random ?? defaultRandom;
    const startTimer = options.startTimer ?? nodeTimer;
    this.requestTimeoutMs = options.requestTimeoutMs ?? LINK_REQUEST_TIMEOUT_MS;
    this.requests = new LinkRequests(startTimer, this.requestTimeoutMs);
    this.clusterMaxOpen = Math.min(options.clusterMaxOpen ?? MAX_NUMBERED_SLOTS - 1, MAX_NUMBERED_SLOTS - 1);
    this.maxAway = options.maxAway ?? MAX_OPEN_LINKS;
    this.onPushError = options.relay.onPushError;
    this.local = new LinkRelay({
      ...options.relay,
      now: this.now,
      random: this.random,
      startTimer,
      onSlotRemoved: (slot) => this.slotRemoved(slot),
    });
    this.bus.listen((text) => this.received(text));
  }

  /** Slots homed on this node now. */
  get openSlots(): number {
    return this.local.openSlots;
  }

  /** Cross-node links this node takes part in now, as home and as visitor (for tests and metrics). */
  get crossNodeLinks(): { homed: number; away: number } {
    return { homed: this.remote.slotCount, away: this.away.size };
  }

  async open(party: LinkParty, payload: LinkOpenPayload): Promise<LinkOpenResult> {
    this.local.checkOpen(party);
    let number: string;
    try {
      number = await this.claim();
    } catch (err) {
      if (err instanceof ChatError) throw err;
      // Redis does not answer: the slot is this node's alone, joinable only through this node.
      this.logger.warn({ err }, 'link slot opened on this node only: redis does not answer, so no other node can find it');
      return this.local.open(party, payload);
    }
    this.registered.add(number);
    try {
      return this.local.openNumbered(party, payload, number);
    } catch (err) {
      this.slotRemoved(number);
      throw err;
    }
  }

  async join(party: LinkParty, account: LinkAccount, payload: LinkJoinPayload): Promise<LinkJoinResult> {
    if (this.local.has(payload.slot)) return this.local.join(party, account, payload);
    this.joining.set(party.id, (this.joining.get(party.id) ?? 0) + 1);
    try {
      return await this.joinElsewhere(party, account, payload);
    } finally {
      const left = this.joining.get(party.id)! - 1;
      if (left > 0) this.joining.set(party.id, left);
      else {
        this.joining.delete(party.id);
        this.droppedWhileJoining.delete(party.id);
      }
    }
  }

  async send(party: LinkParty, payload: LinkSendPayload): Promise<void> {
    if (this.local.has(payload.slot)) return this.local.send(party, payload);
    const membership = this.away.get(party.id, payload.slot);
    if (!membership) throw unknownLink();
    const answer = await this.request(membership.home, payload.slot, party, (id) => ({ t: 'send', id, from: this.bus.node, party: party.id, payload }));
    if (answer.refused === undefined) return;
    // Refused by the home: the slot is over for this party (gone, or past its frame cap), as every later frame would be.
    this.away.drop(party.id, payload.slot);
    throw answer.refused === 'unknown_link' ? unknownLink() : unreachable('the node holding the slot failed');
  }

  async close(party: LinkParty, payload: LinkClosePayload): Promise<void> {
    if (this.local.has(payload.slot)) return this.local.close(party, payload);
    const membership = this.away.drop(party.id, payload.slot);
    if (!membership) return;
    await this.tell(membership.home, { t: 'close', from: this.bus.node, party: party.id, slot: payload.slot });
  }

  disconnected(party: LinkParty): void {
    this.local.disconnected(party);
    if (this.joining.has(party.id)) this.droppedWhileJoining.add(party.id);
    const dropped = this.away.dropWhere((_, m) => m.party.id === party.id);
    for (const home of new Set(dropped.map(([, m]) => m.home))) void this.tell(home, { t: 'gone', from: this.bus.node, party: party.id });
  }

  /**
   * Closes the cross-node links of nodes whose lease ran out (their slots, or the primaries in slots
   * here, died with them), and forgets slots homed elsewhere that are past their expiry (the home's
   * `link.closed` "expired" was lost). Run every third of the lease; Redis not answering skips a round.
   */
  async checkNodes(): Promise<void> {
    const now = this.now();
    for (const [slot, m] of this.away.dropWhere((_, m) => now >= m.expiresAt + this.requestTimeoutMs)) this.push(m.party, closedEvent(slot, 'expired'));
    const nodes = this.away.homes();
    for (const r of this.remote.all()) nodes.add(r.node);
    for (const node of nodes) {
      let alive: boolean;
      try {
        alive = await this.bus.alive(node);
      } catch {
        return;
      }
      if (!alive) this.nodeLost(node);
    }
  }

  /**
   * This node's subscriber was away (Redis lost or restarted): anything published to it meanwhile is
   * gone, so every cross-node link it is in closes as "disconnected" on both sides rather than going on
   * with a frame missing.
   */
  subscriberReset(): void {
    for (const r of this.remote.all()) {
      for (const slot of r.slots) this.push(r.proxy, closedEvent(slot, 'disconnected'));
      this.local.disconnected(r.proxy);
    }
    // As if each connection dropped, for its links elsewhere: their homes close them as "disconnected".
    const gone = new Map<string, Set<string>>();
    for (const [slot, m] of this.away.dropWhere(() => true)) {
      if (!gone.has(m.home)) gone.set(m.home, new Set());
      gone.get(m.home)!.add(m.party.id);
      this.push(m.party, closedEvent(slot, 'disconnected'));
    }
    for (const [home, parties] of gone) for (const party of parties) void this.tell(home, { t: 'gone', from: this.bus.node, party });
  }

  /**
   * The server is stopping: its own connections are being closed; the primaries of other nodes in its
   * slots are told "disconnected" (their connection to the opener is what ends), then everything is forgotten.
   */
  dispose(): void {
    for (const r of this.remote.all()) for (const slot of r.slots) this.push(r.proxy, closedEvent(slot, 'disconnected'));
    for (const slot of this.registered) void this.bus.release(slot).catch(() => undefined);
    this.registered.clear();
    this.local.dispose();
    this.remote.clear();
    this.away.clear();
    this.requests.dispose();
  }

  private async joinElsewhere(party: LinkParty, account: LinkAccount, payload: LinkJoinPayload): Promise<LinkJoinResult> {
    const home = await this.bus.lookup(payload.slot).catch((err: unknown) => {
      throw unreachable('redis does not answer', err);
    });
    if (this.away.size >= this.maxAway || this.requests.size >= this.maxAway) throw unreachable('this node has too many links through other nodes open');
    // A slot no node holds is refused after the same round trip through Redis as one held elsewhere
    // (this node's own channel refuses every join it sends itself): answering it at once would tell a
    // prober, by the time taken, which numbers are open on other nodes.
    const membership: Membership | undefined = home === undefined || home.node === this.bus.node ? undefined : { home: home.node, party, expiresAt: home.expiresAt };
    const to = membership?.home ?? this.bus.node;
    const answer = await this.request(to, payload.slot, party, (id) => ({ t: 'join', id, from: this.bus.node, party: party.id, account, payload }), (a) => {
      // Recorded as the answer arrives, before any push that follows it on the same channel.
      if (a.refused !== undefined || !membership) return;
      // The connection dropped while its join was on the way: the home hears it as any drop.
      if (this.droppedWhileJoining.has(party.id)) void this.tell(membership.home, { t: 'gone', from: this.bus.node, party: party.id });
      else this.away.add(payload.slot, membership);
    });
    if (answer.refused === 'unknown_link') throw unknownLink();
    if (answer.refused !== undefined || answer.result === undefined) throw unreachable('the node holding the slot failed');
    return answer.result;
  }

  /** A number free in the whole cluster, claimed for this node; a plain Error when Redis does not answer. */
  private async claim(): Promise<string> {
    const ttlMs = this.local.slotTtlMs;
    const taken = (n: string) => this.local.has(n);
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const short = Array.from({ length: CANDIDATES }, () => drawSlotNumber(this.random, 0, taken));
      const wide = Array.from({ length: CANDIDATES }, () => drawSlotNumber(this.random, SHORT_RANGE_BELOW, taken));
      const claim = await this.bus.claim(short, wide, this.now() + ttlMs, ttlMs, this.clusterMaxOpen);
      if (claim === 'full') throw new ChatError('link_limit', 'too many open link slots on the server; try again later');
      if (claim !== 'taken') return claim.slot;
    }
    throw new ChatError('link_limit', 'no free link slot number; try again later');
  }

  /** The home relay let a slot go: free its number and forget its remote joiner. */
  private slotRemoved(slot: string): void {
    if (this.registered.delete(slot)) {
      this.bus.release(slot).catch((err: unknown) => this.logger.debug({ err, slot }, 'link slot number not released (it expires with its slot)'));
    }
    this.remote.slotGone(slot);
  }

  /** What another node said to this one. */
  private received(text: string): void {
    const message = parseNodeMessage(text);
    if (!message) {
      this.logger.warn('ignored a message on this node\'s link channel that is not one');
      return;
    }
    try {
      this.handle(message);
    } catch (err) {
      this.logger.error({ err, t: message.t }, 'link message from another node failed');
    }
  }

  private handle(message: NodeMessage): void {
    switch (message.t) {
      case 'join': {
        const proxy = this.proxy(message.from, message.party);
        const answer = this.attempt(message.id, () => {
          // A join this node sent itself is for a slot that no node held when it was looked up.
          if (message.from === this.bus.node) throw unknownLink();
          return this.local.join(proxy, message.account, message.payload);
        });
        if (answer.refused === undefined) this.remote.joined(message.from, proxy, message.payload.slot);
        void this.tell(message.from, answer);
        return;
      }
      case 'send': {
        const proxy = this.proxy(message.from, message.party);
        void this.tell(message.from, this.attempt(message.id, () => void this.local.send(proxy, message.payload)));
        return;
      }
      case 'close':
        this.local.close(this.proxy(message.from, message.party), { slot: message.slot });
        return;
      case 'gone':
        this.local.disconnected(this.proxy(message.from, message.party));
        return;
      case 'answer':
        this.requests.answered(message);
        return;
      case 'push': {
        const { slot } = message.push.payload;
        const membership = this.away.get(message.party, slot);
        if (!membership) return; // Not (or no longer) a link of this node's: nobody to tell.
        if (message.push.event === 'link.closed') this.away.drop(message.party, slot);
        this.push(membership.party, message.push);
        return;
      }
    }
  }

  /** Runs a request of another node on the home relay: its result, or the code it was refused with. */
  private attempt(id: string, run: () => LinkJoinResult | void): LinkAnswer {
    try {
      const result = run();
      return { t: 'answer', id, ...(result && { result }) };
    } catch (err) {
      if (err instanceof ChatError && err.code === 'unknown_link') return { t: 'answer', id, refused: 'unknown_link' };
      this.logger.error({ err }, 'a link request from another node failed');
      return { t: 'answer', id, refused: 'internal' };
    }
  }

  /**
   * Sends a request to a slot's home and waits for its answer, at most `requestTimeoutMs`. A home that
   * is gone (nobody listens on its channel) means the slot is: `unknown_link`, and this node's links
   * there end. Redis not answering, or no answer in time, fails with `internal`, and the slot is given
   * up on both sides (a frame may have been lost on the way).
   */
  private async request(
    node: string,
    slot: string,
    party: LinkParty,
    message: (id: string) => NodeMessage,
    onAnswer?: (answer: LinkAnswer) => void,
  ): Promise<LinkAnswer> {
    const { id, answer } = this.requests.open(onAnswer);
    let listened: boolean;
    try {
      listened = await this.bus.publish(node, JSON.stringify(message(id)));
    } catch (err) {
      this.requests.cancel(id);
      this.giveUp(node, slot, party);
      throw unreachable('redis does not answer', err);
    }
    if (!listened) {
      this.requests.cancel(id);
      this.nodeLost(node);
      throw unknownLink();
    }
    const outcome = await answer;
    if (outcome !== 'late') return outcome;
    this.giveUp(node, slot, party);
    throw unreachable('the node holding the slot did not answer in time');
  }

  /** A request to a slot's home failed midway: this party leaves the slot here and, if the home hears, there too. */
  private giveUp(node: string, slot: string, party: LinkParty): void {
    if (this.away.drop(party.id, slot)) this.push(party, closedEvent(slot, 'disconnected'));
    void this.tell(node, { t: 'close', from: this.bus.node, party: party.id, slot });
  }

  /** A node is gone: its slots' joiners here hear "disconnected", and so do the openers of slots its primaries were in. */
  private nodeLost(node: string): void {
    for (const [slot, m] of this.away.dropWhere((_, m) => m.home === node)) this.push(m.party, closedEvent(slot, 'disconnected'));
    for (const r of this.remote.all()) if (r.node === node) this.local.disconnected(r.proxy);
  }

  /** A connection of `node`, as the home relay sees it: its pushes are publications to that node. */
  private proxy(node: string, party: string): LinkParty {
    const id = `${node}/${party}`;
    const known = this.remote.get(id);
    if (known) return known.proxy;
    const send = (push: LinkPush) => this.pushAway(node, party, id, push);
    return {
      id,
      joined: (payload) => send({ event: 'link.joined', payload }),
      data: (payload) => send({ event: 'link.data', payload }),
      closed: (payload) => send({ event: 'link.closed', payload }),
    };
  }

  /**
   * Publishes a push to a connection of another node. One that reaches nobody (its node is gone) or
   * fails (Redis) was a frame or an ending lost: the relay drops that party, and the opener hears
   * "disconnected" as when its connection drops.
   */
  private pushAway(node: string, party: string, proxyId: string, push: LinkPush): void {
    const lost = (err?: unknown) => {
      if (push.event === 'link.closed') return;
      this.logger.debug({ err, slot: push.payload.slot }, 'a link push to another node did not arrive; closing the link');
      const r = this.remote.get(proxyId);
      if (r) this.local.disconnected(r.proxy);
    };
    this.bus.publish(node, JSON.stringify({ t: 'push', party, push } satisfies NodeMessage)).then((listened) => listened || lost(), lost);
  }

  /** A one-way message to another node; a failure is logged, the caller's outcome does not depend on it. */
  private async tell(node: string, message: NodeMessage): Promise<void> {
    try {
      await this.bus.publish(node, JSON.stringify(message));
    } catch (err) {
      this.logger.debug({ err, t: message.t }, 'link message to another node not published');
    }
  }

  /** One push to a connection of this node, isolated as the relay's are. */
  private push(party: LinkParty, push: LinkPush): void {
    try {
      if (push.event === 'link.joined') party.joined(push.payload);
      else if (push.event === 'link.data') party.data(push.payload);
      else party.closed(push.payload);
    } catch (err) {
      this.onPushError(err, push.event, party);
    }
  }
}
