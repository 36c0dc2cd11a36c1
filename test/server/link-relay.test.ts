/**
 * The link relay on its own (docs/design/devices-v2.md §6.3, PROTOCOL.md §19.10): a slot's life from open
 * to close, the one refusal `unknown_link` for every way a join or frame can be wrong, frames carried in
 * order to the other party and to nobody else, the caps (frames per direction, slots per server and per
 * connection), expiry on an injected clock, dropped connections, and the slot numbers' ranges.
 */
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../src/protocol/errors.js';
import { LINK_SLOT_PATTERN } from '../../src/protocol/link-schemas.js';
import { LINK_MAX_FRAMES, LINK_TTL_MS } from '../../src/protocol/limits.js';
import {
  LinkRelay,
  type LinkParty,
  type LinkRelayOptions,
  type LinkTimer,
  type StartTimer,
} from '../../src/server/link-relay.js';
import { drawSlotNumber, SHORT_RANGE_BELOW } from '../../src/server/link-slot-numbers.js';
import { RecordingParty } from '../helpers/recording-link-party.js';
import { seededRandom } from '../helpers/seeded-random.js';

const SID_A = 'AAAAAAAAAAAAAAAAAAAAAA'; // the new device's sid (16 zero bytes)
const SID_B = 'BBBBBBBBBBBBBBBBBBBBBA'; // the primary's sid
const ALICE = { username: 'alice', device: 1 };

/** A clock and timers that move only when the test says so. */
class ManualTime {
  private t = 1_795_776_494_638;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  readonly now = (): number => this.t;

  readonly startTimer: StartTimer = (fn, delayMs): LinkTimer => {
    const timer = { at: this.t + delayMs, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };

  /** Moves the clock and runs the timers that fall due, in order. */
  advance(ms: number): void {
    this.t += ms;
    this.fireDue();
  }

  /** Moves the clock without running any timer: a timer that is late. */
  advanceClockOnly(ms: number): void {
    this.t += ms;
  }

  fireDue(): void {
    const due = this.timers.filter((x) => !x.cancelled && x.at <= this.t).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.timers = this.timers.filter((x) => !due.includes(x));
    for (const timer of due) timer.fn();
  }

  get pending(): number {
    return this.timers.filter((x) => !x.cancelled).length;
  }
}



function setup(options: Partial<LinkRelayOptions> = {}) {
  const time = new ManualTime();
  const pushErrors: unknown[] = [];
  const relay = new LinkRelay({
    onPushError: (err) => pushErrors.push(err),
    now: time.now,
    startTimer: time.startTimer,
    random: seededRandom(0x5eed),
    ...options,
  });
  const device = new RecordingParty('new-device');
  const primary = new RecordingParty('primary');
  return { time, relay, device, primary, pushErrors };
}

/** A slot opened by `device` for alice and joined by `primary`. */
function joined(options: Partial<LinkRelayOptions> = {}) {
  const ctx = setup(options);
  const { slot } = ctx.relay.open(ctx.device, { username: 'alice', sid: SID_A });
  ctx.relay.join(ctx.primary, ALICE, { slot, sid: SID_B });
  ctx.device.events.length = 0;
  return { ...ctx, slot };
}

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    return { code: (err as ChatError).code, message: (err as ChatError).message };
  }
  throw new Error('expected a refusal');
}

const UNKNOWN_LINK = { code: 'unknown_link', message: 'no open link slot with that number' };

/** A frame's data: base64url of `i` as text, so order is visible. */
const frame = (tag: string, i: number) => Buffer.from(`${tag}${i}`).toString('base64url');

describe('a link slot from open to close', () => {
  it('opens a slot that expires LINK_TTL_MS later, and a join by the same user answers the new device\'s sid and tells the new device the primary\'s', () => {
    const { relay, device, primary, time } = setup();
    const opened = relay.open(device, { username: 'alice', sid: SID_A });
    expect(opened.slot).toMatch(LINK_SLOT_PATTERN);
    expect(opened.expiresAt).toBe(time.now() + LINK_TTL_MS);
    expect(relay.openSlots).toBe(1);

    expect(relay.join(primary, ALICE, { slot: opened.slot, sid: SID_B })).toEqual({ slot: opened.slot, sid: SID_A });
    expect(device.events).toEqual([['link.joined', { slot: opened.slot, sid: SID_B, device: 1 }]]);
    expect(primary.events).toEqual([]);
  });

  it('carries frames in order both ways, each to the other party only', () => {
    const { relay, device, primary, slot } = joined();
    for (let i = 0; i < 5; i++) {
      relay.send(primary, { slot, data: frame('a', i) });
      relay.send(device, { slot, data: frame('b', i) });
    }
    expect(device.frames()).toEqual([0, 1, 2, 3, 4].map((i) => frame('a', i)));
    expect(primary.frames()).toEqual([0, 1, 2, 3, 4].map((i) => frame('b', i)));
    expect(device.events.every(([, payload]) => payload.slot === slot)).toBe(true);
  });

  it('closing by either party deletes the slot and tells only the other party "closed"', () => {
    for (const closer of ['device', 'primary'] as const) {
      const { relay, device, primary, slot } = joined();
      const [by, other] = closer === 'device' ? [device, primary] : [primary, device];
      relay.close(by, { slot });
      expect(other.events).toEqual([['link.closed', { slot, reason: 'closed' }]]);
      expect(by.events).toEqual([]);
      expect(relay.openSlots).toBe(0);
      expect(refusal(() => relay.send(other, { slot, data: frame('x', 0) }))).toEqual(UNKNOWN_LINK);
    }
  });

  it('a slot closed before anyone joined tells nobody, and nobody can join it', () => {
    const { relay, device, primary } = setup();
    const { slot } = relay.open(device, { username: 'alice', sid: SID_A });
    relay.close(device, { slot });
    expect(device.events).toEqual([]);
    expect(refusal(() => relay.join(primary, ALICE, { slot, sid: SID_B }))).toEqual(UNKNOWN_LINK);
    expect(relay.openSlots).toBe(0);
  });

  it('close answers quietly for a slot that does not exist, and leaves alone a slot the caller is not in', () => {
    const { relay, device, primary, slot } = joined();
    const stranger = new RecordingParty('stranger');
    relay.close(stranger, { slot: '999999' });
    relay.close(stranger, { slot });
    expect(relay.openSlots).toBe(1);
    relay.send(primary, { slot, data: frame('a', 0) });
    expect(device.frames()).toEqual([frame('a', 0)]);
    expect(stranger.events).toEqual([]);
  });
});

describe('one answer for every wrong join: unknown_link', () => {
  it('a slot is joined once: a second join, by another connection or the same one, is refused', () => {
    const { relay, device, primary, slot } = joined();
    const otherPrimary = new RecordingParty('primary-2');
    expect(refusal(() => relay.join(otherPrimary, ALICE, { slot, sid: SID_B }))).toEqual(UNKNOWN_LINK);
    expect(refusal(() => relay.join(primary, ALICE, { slot, sid: SID_B }))).toEqual(UNKNOWN_LINK);
    expect(device.events).toEqual([]);
    // The refused joiner is not a party: its frames go nowhere.
    expect(refusal(() => relay.send(otherPrimary, { slot, data: frame('x', 0) }))).toEqual(UNKNOWN_LINK);
    expect(device.events).toEqual([]);
  });

  it('a join by another user, for a never-opened, closed or expired slot, or by the opener itself, is refused the same way and tells the new device nothing', () => {
    const { relay, device, primary, time } = setup();
    const mallory = new RecordingParty('mallory');
    const { slot } = relay.open(device, { username: 'alice', sid: SID_A });
    const refusals = [
      refusal(() => relay.join(mallory, { username: 'mallory', device: 1 }, { slot, sid: SID_B })),
      refusal(() => relay.join(primary, ALICE, { slot: slot === '999999' ? '999998' : '999999', sid: SID_B })),
      refusal(() => relay.join(device, ALICE, { slot, sid: SID_B })),
    ];
    expect(device.events).toEqual([]);

    const closed = new RecordingParty('closed-device');
    const closedSlot = relay.open(closed, { username: 'alice', sid: SID_A }).slot;
    relay.close(closed, { slot: closedSlot });
    refusals.push(refusal(() => relay.join(primary, ALICE, { slot: closedSlot, sid: SID_B })));

    time.advance(LINK_TTL_MS);
    refusals.push(refusal(() => relay.join(primary, ALICE, { slot, sid: SID_B })));

    expect(refusals).toEqual(Array(5).fill(UNKNOWN_LINK));
    expect(device.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(primary.events).toEqual([]);
    expect(mallory.events).toEqual([]);
  });

  it('a frame before the join, or from a connection that is not a party, is refused and reaches no one', () => {
    const { relay, device, primary } = setup();
    const { slot } = relay.open(device, { username: 'alice', sid: SID_A });
    expect(refusal(() => relay.send(device, { slot, data: frame('b', 0) }))).toEqual(UNKNOWN_LINK);
    relay.join(primary, ALICE, { slot, sid: SID_B });
    const stranger = new RecordingParty('stranger');
    expect(refusal(() => relay.send(stranger, { slot, data: frame('x', 0) }))).toEqual(UNKNOWN_LINK);
    expect(refusal(() => relay.send(primary, { slot: '999999', data: frame('x', 0) }))).toEqual(UNKNOWN_LINK);
    expect(device.frames()).toEqual([]);
    expect(primary.frames()).toEqual([]);
    expect(stranger.events).toEqual([]);
  });

  it('two slots at once keep their frames apart', () => {
    const { relay, device, primary, slot } = joined();
    const device2 = new RecordingParty('new-device-2');
    const primary2 = new RecordingParty('bob-primary');
    const slot2 = relay.open(device2, { username: 'bob', sid: SID_A }).slot;
    relay.join(primary2, { username: 'bob', device: 1 }, { slot: slot2, sid: SID_B });
    relay.send(primary, { slot, data: frame('alice', 0) });
    relay.send(primary2, { slot: slot2, data: frame('bob', 0) });
    // A party of one slot naming the other slot is not a party of it.
    expect(refusal(() => relay.send(primary, { slot: slot2, data: frame('alice', 1) }))).toEqual(UNKNOWN_LINK);
    expect(device.frames()).toEqual([frame('alice', 0)]);
    expect(device2.frames()).toEqual([frame('bob', 0)]);
  });
});

describe('caps', () => {
  it(`carries ${LINK_MAX_FRAMES} frames in each direction; the next one closes the slot, is refused with unknown_link and the other party hears "closed"`, () => {
    const { relay, device, primary, slot } = joined();
    for (let i = 0; i < LINK_MAX_FRAMES; i++) relay.send(primary, { slot, data: frame('a', i) });
    // The primary's cap does not touch the new device's direction.
    for (let i = 0; i < LINK_MAX_FRAMES; i++) relay.send(device, { slot, data: frame('b', i) });
    expect(device.frames()).toHaveLength(LINK_MAX_FRAMES);
    expect(primary.frames()).toHaveLength(LINK_MAX_FRAMES);

    expect(refusal(() => relay.send(primary, { slot, data: frame('a', LINK_MAX_FRAMES) }))).toEqual(UNKNOWN_LINK);
    expect(device.events.at(-1)).toEqual(['link.closed', { slot, reason: 'closed' }]);
    expect(device.frames()).toHaveLength(LINK_MAX_FRAMES);
    expect(relay.openSlots).toBe(0);
    expect(refusal(() => relay.send(device, { slot, data: frame('b', 0) }))).toEqual(UNKNOWN_LINK);
  });

  it('refuses a second open on a connection with an open slot (link_limit), and allows one once that slot is gone', () => {
    const { relay, device, time } = setup();
    const { slot } = relay.open(device, { username: 'alice', sid: SID_A });
    expect(refusal(() => relay.open(device, { username: 'alice', sid: SID_A })).code).toBe('link_limit');
    relay.close(device, { slot });
    const second = relay.open(device, { username: 'alice', sid: SID_A });
    time.advance(LINK_TTL_MS);
    const third = relay.open(device, { username: 'alice', sid: SID_A });
    expect(relay.openSlots).toBe(1);
    expect(third.expiresAt).toBe(time.now() + LINK_TTL_MS);
    expect(device.events).toEqual([['link.closed', { slot: second.slot, reason: 'expired' }]]);
  });

  it('refuses an open beyond the server-wide cap (link_limit) and opens again when a slot frees', () => {
    const { relay } = setup({ maxOpen: 3 });
    const parties = [0, 1, 2, 3].map((i) => new RecordingParty(`device-${i}`));
    const slots = parties.slice(0, 3).map((p) => relay.open(p, { username: 'alice', sid: SID_A }).slot);
    expect(refusal(() => relay.open(parties[3]!, { username: 'alice', sid: SID_A })).code).toBe('link_limit');
    expect(relay.openSlots).toBe(3);
    relay.disconnected(parties[0]!);
    expect(new Set(slots).size).toBe(3);
    expect(relay.open(parties[3]!, { username: 'alice', sid: SID_A }).slot).toMatch(LINK_SLOT_PATTERN);
    expect(relay.openSlots).toBe(3);
  });

  it('refuses limits it cannot honour (more slots than the numbering serves, no frames, a lifetime past setTimeout\'s range)', () => {
    expect(() => setup({ maxOpen: 100_000 })).toThrow(RangeError);
    expect(() => setup({ maxFrames: 0 })).toThrow(RangeError);
    expect(() => setup({ ttlMs: 2 ** 31 })).toThrow(RangeError);
  });
});

describe('expiry and dropped connections', () => {
  it('a slot lives until its expiry and then closes as "expired" to both parties', () => {
    const { relay, device, primary, slot, time } = joined();
    time.advance(LINK_TTL_MS - 1);
    relay.send(primary, { slot, data: frame('a', 0) });
    time.advance(1);
    expect(device.events).toEqual([
      ['link.data', { slot, data: frame('a', 0) }],
      ['link.closed', { slot, reason: 'expired' }],
    ]);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(relay.openSlots).toBe(0);
    expect(refusal(() => relay.send(device, { slot, data: frame('b', 0) }))).toEqual(UNKNOWN_LINK);
    expect(time.pending).toBe(0);
  });

  it('a late timer lets nothing in after expiresAt: the slot expires when next touched', () => {
    const { relay, device, primary, slot, time } = joined();
    time.advanceClockOnly(LINK_TTL_MS);
    expect(refusal(() => relay.send(primary, { slot, data: frame('a', 0) }))).toEqual(UNKNOWN_LINK);
    expect(device.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    // The timer, running late, finds the slot gone and tells no one twice.
    time.fireDue();
    expect(device.events).toHaveLength(1);
    expect(primary.events).toHaveLength(1);
  });

  it('a dropped connection closes its slots as "disconnected" to the other party, whichever side dropped', () => {
    for (const dropped of ['device', 'primary'] as const) {
      const { relay, device, primary, slot, time } = joined();
      const [gone, other] = dropped === 'device' ? [device, primary] : [primary, device];
      relay.disconnected(gone);
      expect(other.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
      expect(gone.events).toEqual([]);
      expect(relay.openSlots).toBe(0);
      expect(time.pending).toBe(0);
    }
  });

  it('a primary that joined several slots and drops closes all of them', () => {
    const { relay, primary } = setup();
    const devices = [0, 1, 2].map((i) => new RecordingParty(`device-${i}`));
    const slots = devices.map((d) => relay.open(d, { username: 'alice', sid: SID_A }).slot);
    slots.forEach((slot) => relay.join(primary, ALICE, { slot, sid: SID_B }));
    relay.disconnected(primary);
    devices.forEach((d, i) => expect(d.events.at(-1)).toEqual(['link.closed', { slot: slots[i], reason: 'disconnected' }]));
    expect(relay.openSlots).toBe(0);
  });

  it('a connection in no slot drops without effect', () => {
    const { relay, device, primary, slot } = joined();
    relay.disconnected(new RecordingParty('stranger'));
    expect(relay.openSlots).toBe(1);
    expect(device.events).toEqual([]);
    relay.send(primary, { slot, data: frame('a', 0) });
    expect(device.frames()).toEqual([frame('a', 0)]);
  });

  it('a push that throws is reported and does not keep the other party from hearing', () => {
    const { relay, primary, pushErrors, time } = setup();
    const gone = () => {
      throw new Error('socket gone');
    };
    const broken: LinkParty = { id: 'broken', joined: gone, data: gone, closed: gone };
    const { slot } = relay.open(broken, { username: 'alice', sid: SID_A });
    relay.join(primary, ALICE, { slot, sid: SID_B });
    time.advance(LINK_TTL_MS);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(pushErrors).toHaveLength(2); // link.joined and link.closed to the broken party
    expect(relay.openSlots).toBe(0);
  });

  it('dispose cancels every timer and forgets every slot', () => {
    const { relay, device, primary, slot, time } = joined();
    relay.dispose();
    expect(time.pending).toBe(0);
    expect(relay.openSlots).toBe(0);
    expect(refusal(() => relay.send(primary, { slot, data: frame('a', 0) }))).toEqual(UNKNOWN_LINK);
    expect(device.events).toEqual([]);
  });
});

describe('slot numbers', () => {
  it('are three digits while fewer than 100 slots are open, then 1,000–999,999, and short again once slots free', () => {
    const { relay } = setup();
    const parties = Array.from({ length: 150 }, (_, i) => new RecordingParty(`device-${i}`));
    const slots = parties.map((p) => relay.open(p, { username: 'alice', sid: SID_A }).slot);
    expect(new Set(slots).size).toBe(150);
    for (const slot of slots) expect(slot).toMatch(LINK_SLOT_PATTERN);
    const short = slots.slice(0, SHORT_RANGE_BELOW).map(Number);
    const wide = slots.slice(SHORT_RANGE_BELOW).map(Number);
    expect(short.every((n) => n >= 100 && n <= 999)).toBe(true);
    expect(wide.every((n) => n >= 1_000 && n <= 999_999)).toBe(true);

    for (const p of parties.slice(0, 60)) relay.disconnected(p);
    expect(relay.openSlots).toBe(90);
    const again = Number(relay.open(new RecordingParty('late'), { username: 'alice', sid: SID_A }).slot);
    expect(again >= 100 && again <= 999).toBe(true);
  });

  it('are spread over the whole range, not counted up', () => {
    const random = seededRandom(42);
    const short = Array.from({ length: 2000 }, () => Number(drawSlotNumber(random, 0, () => false)));
    expect(Math.min(...short)).toBeLessThan(120);
    expect(Math.max(...short)).toBeGreaterThan(980);
    expect(short.every((n) => n >= 100 && n <= 999)).toBe(true);
    const wide = Array.from({ length: 2000 }, () => Number(drawSlotNumber(random, SHORT_RANGE_BELOW, () => false)));
    expect(Math.min(...wide)).toBeLessThan(20_000);
    expect(Math.max(...wide)).toBeGreaterThan(980_000);
    expect(wide.every((n) => n >= 1_000 && n <= 999_999)).toBe(true);
  });

  it('skip a taken number by drawing again', () => {
    // Two draws: 32-bit 0 (→ 100, taken) then 1 (→ 101).
    const draws = [new Uint8Array([0, 0, 0, 0]), new Uint8Array([0, 0, 0, 1])];
    const random = (n: number) => {
      const next = draws.shift();
      if (!next || next.length !== n) throw new Error('unexpected draw');
      return next as Uint8Array<ArrayBuffer>;
    };
    expect(drawSlotNumber(random, 1, (slot) => slot === '100')).toBe('101');
  });

  it('fail loudly rather than loop when the random source repeats itself', () => {
    const stuck = (n: number) => new Uint8Array(n);
    expect(() => drawSlotNumber(stuck, 1, (slot) => slot === '100')).toThrow(/random source/);
  });
});

describe('what a cluster builds on (cluster/cross-node-links.ts)', () => {
  it('reports each slot once when it goes, however it goes, before the other party hears; not on dispose', () => {
    const removed: string[] = [];
    const order: string[] = [];
    const ctx = setup({ onSlotRemoved: (slot) => (removed.push(slot), order.push(`removed ${slot}`)) });
    const { relay, time } = ctx;
    const parties = Array.from({ length: 5 }, (_, i) => [new RecordingParty(`d${i}`), new RecordingParty(`p${i}`)] as const);
    const slots = parties.map(([d, p]) => {
      const { slot } = relay.open(d, { username: 'alice', sid: SID_A });
      relay.join(p, ALICE, { slot, sid: SID_B });
      const closed = p.closed.bind(p);
      p.closed = (e) => (order.push(`closed ${e.slot}`), closed(e));
      return slot;
    });
    relay.close(parties[0]![0], { slot: slots[0]! });
    relay.disconnected(parties[1]![0]);
    for (let i = 0; i <= LINK_MAX_FRAMES; i++) {
      try {
        relay.send(parties[2]![0], { slot: slots[2]!, data: frame('d', i) });
      } catch {
        // The frame past the cap is refused: that closes the slot.
      }
    }
    time.advance(LINK_TTL_MS);
    expect(removed.sort()).toEqual([...slots].sort());
    expect(order.slice(0, 2)).toEqual([`removed ${slots[0]}`, `closed ${slots[0]}`]);
    const kept = relay.openNumbered(new RecordingParty('d-late'), { username: 'alice', sid: SID_A }, '4242');
    expect(kept.slot).toBe('4242');
    relay.dispose();
    expect(removed).toHaveLength(5);
  });

  it('opens under a number given to it after checking its limits again, and never under one in use', () => {
    const { relay, device } = setup({ maxOpen: 1 });
    expect(relay.openNumbered(device, { username: 'alice', sid: SID_A }, '555')).toMatchObject({ slot: '555' });
    expect(relay.has('555')).toBe(true);
    expect(refusal(() => relay.openNumbered(new RecordingParty('other'), { username: 'alice', sid: SID_A }, '556')).code).toBe('link_limit');
    const wide = setup();
    wide.relay.openNumbered(wide.device, { username: 'alice', sid: SID_A }, '555');
    expect(() => wide.relay.openNumbered(new RecordingParty('other'), { username: 'alice', sid: SID_A }, '555')).toThrow(/open already/);
  });
});
