/**
 * The link relay across the nodes of a cluster (cluster/cross-node-links.ts), two or three nodes in one
 * process on an in-memory bus (test/helpers/memory-link-bus.ts) with an injected clock: a slot opened on
 * one node is joined and fed from another with the relay's exact semantics (one join, frames in order to
 * the other party only, the frame cap, close, drop, expiry, the one `unknown_link`), numbers unique
 * across nodes, and what happens when a node dies, stalls, or Redis goes away or loses messages.
 *
 * "Drained" below waits for a macrotask: every message of the in-memory bus is a microtask, so when it
 * runs, every message published so far (and every one those caused) has been handled. It proves absence
 * exactly, without waiting for time to pass.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ChatError } from '../../src/protocol/errors.js';
import { LINK_TTL_MS } from '../../src/protocol/limits.js';
import { CrossNodeLinks } from '../../src/server/cluster/cross-node-links.js';
import type { LinkRelayOptions } from '../../src/server/link-relay.js';
import { SHORT_RANGE_BELOW } from '../../src/server/link-slot-numbers.js';
import { ManualTime, MemoryLinkHub } from '../helpers/memory-link-bus.js';
import { RecordingParty } from '../helpers/recording-link-party.js';
import { seededRandom } from '../helpers/seeded-random.js';

const SID_A = 'AAAAAAAAAAAAAAAAAAAAAA'; // the new device's sid
const SID_B = 'BBBBBBBBBBBBBBBBBBBBBA'; // the primary's sid
const ALICE = { username: 'alice', device: 1 };
const NODE_A = 'aaaaaaaaaaaaaaaa';
const NODE_B = 'bbbbbbbbbbbbbbbb';
const NODE_C = 'cccccccccccccccc';
const UNKNOWN_LINK = { code: 'unknown_link', message: 'no open link slot with that number' };
const REQUEST_TIMEOUT_MS = 2_000;

const drained = () => new Promise<void>((resolve) => setImmediate(resolve));



interface NodeOptions {
  relay?: Partial<Omit<LinkRelayOptions, 'onPushError'>>;
  clusterMaxOpen?: number;
  seed?: number;
}

function cluster() {
  const time = new ManualTime();
  const hub = new MemoryLinkHub(time.now);
  const pushErrors: unknown[] = [];
  const node = (id: string, options: NodeOptions = {}) =>
    new CrossNodeLinks({
      bus: hub.bus(id),
      logger: pino({ level: 'silent' }),
      relay: { onPushError: (err) => pushErrors.push(err), ...options.relay },
      now: time.now,
      startTimer: time.startTimer,
      // The same bytes on every node unless told otherwise: numbers drawn alike must still come out unique.
      random: seededRandom(options.seed ?? 0x5eed),
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      ...(options.clusterMaxOpen !== undefined && { clusterMaxOpen: options.clusterMaxOpen }),
    });
  return { time, hub, node, pushErrors };
}

/** A slot opened by a new device on node A for alice, joined by her primary on node B. */
async function linkedAcross(options: NodeOptions = {}) {
  const ctx = cluster();
  const a = ctx.node(NODE_A, options);
  const b = ctx.node(NODE_B, options);
  const device = new RecordingParty('device-on-a');
  const primary = new RecordingParty('primary-on-b');
  const { slot } = await a.open(device, { username: 'alice', sid: SID_A });
  expect(await b.join(primary, ALICE, { slot, sid: SID_B })).toEqual({ slot, sid: SID_A });
  await drained();
  device.events.length = 0;
  return { ...ctx, a, b, device, primary, slot };
}

async function refusal(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChatError);
    return { code: (err as ChatError).code, message: (err as ChatError).message };
  }
  throw new Error('expected a refusal');
}

const frame = (tag: string, i: number) => Buffer.from(`${tag}${i}`).toString('base64url');

describe('a link slot joined from another node', () => {
  it('answers the join with the new device\'s sid and tells the new device the primary\'s, across nodes', async () => {
    const { node, hub } = cluster();
    const [a, b] = [node(NODE_A), node(NODE_B)];
    const device = new RecordingParty('device');
    const primary = new RecordingParty('primary');
    const opened = await a.open(device, { username: 'alice', sid: SID_A });
    expect(opened.slot).toMatch(/^[1-9][0-9]{2}$/);
    expect(hub.slots.get(opened.slot)).toMatchObject({ node: NODE_A, expiresAt: opened.expiresAt });
    expect(await b.join(primary, ALICE, { slot: opened.slot, sid: SID_B })).toEqual({ slot: opened.slot, sid: SID_A });
    expect(device.events).toEqual([['link.joined', { slot: opened.slot, sid: SID_B, device: 1 }]]);
    expect(primary.events).toEqual([]);
    expect(a.crossNodeLinks).toEqual({ homed: 1, away: 0 });
    expect(b.crossNodeLinks).toEqual({ homed: 0, away: 1 });
  });

  it('carries frames in order both ways, each to the other party only', async () => {
    const { a, b, device, primary, slot } = await linkedAcross();
    for (let i = 0; i < 5; i++) {
      await b.send(primary, { slot, data: frame('p', i) });
      await a.send(device, { slot, data: frame('d', i) });
    }
    // Frames sent without waiting for each answer keep their order too.
    await Promise.all([5, 6, 7].map((i) => b.send(primary, { slot, data: frame('p', i) })));
    await drained();
    expect(device.frames()).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => frame('p', i)));
    expect(primary.frames()).toEqual([0, 1, 2, 3, 4].map((i) => frame('d', i)));
    expect([...device.events, ...primary.events].every(([event]) => event === 'link.data')).toBe(true);
  });

  it('closing by either party tells only the other one "closed", frees the number, and every later frame is unknown_link', async () => {
    for (const closer of ['device', 'primary'] as const) {
      const { a, b, device, primary, slot, hub } = await linkedAcross();
      const [by, other, on, otherNode] = closer === 'device' ? [device, primary, a, b] : [primary, device, b, a];
      await on.close(by, { slot });
      await drained();
      expect(other.events).toEqual([['link.closed', { slot, reason: 'closed' }]]);
      expect(by.events).toEqual([]);
      expect(hub.slots.has(slot)).toBe(false);
      expect(a.crossNodeLinks).toEqual({ homed: 0, away: 0 });
      expect(b.crossNodeLinks).toEqual({ homed: 0, away: 0 });
      expect(await refusal(() => otherNode.send(other, { slot, data: frame('x', 0) }))).toEqual(UNKNOWN_LINK);
    }
  });

  it('closes at the frame cap as on one node: the over-cap frame and every later one are unknown_link, the new device hears "closed"', async () => {
    const { b, device, primary, slot } = await linkedAcross({ relay: { maxFrames: 3 } });
    for (let i = 0; i < 3; i++) await b.send(primary, { slot, data: frame('p', i) });
    expect(await refusal(() => b.send(primary, { slot, data: frame('p', 3) }))).toEqual(UNKNOWN_LINK);
    await drained();
    expect(device.events.at(-1)).toEqual(['link.closed', { slot, reason: 'closed' }]);
    expect(device.frames()).toHaveLength(3);
    expect(await refusal(() => b.send(primary, { slot, data: frame('p', 4) }))).toEqual(UNKNOWN_LINK);
    expect(b.crossNodeLinks.away).toBe(0);
  });

  it('expires on the home\'s clock and tells both parties "expired", the one on the other node too', async () => {
    const { time, a, b, device, primary, slot, hub } = await linkedAcross();
    time.advance(LINK_TTL_MS);
    await drained();
    expect(device.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'expired' }]]);
    expect(hub.slots.has(slot)).toBe(false);
    expect(await refusal(() => b.send(primary, { slot, data: frame('p', 0) }))).toEqual(UNKNOWN_LINK);
    expect(a.openSlots).toBe(0);
  });

  it('a dropped connection on either node closes the slot and tells the other party "disconnected"', async () => {
    {
      const { a, b, device, primary, slot } = await linkedAcross();
      b.disconnected(primary);
      await drained();
      expect(device.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
      expect(a.openSlots).toBe(0);
    }
    {
      const { a, b, primary, device, slot } = await linkedAcross();
      a.disconnected(device);
      await drained();
      expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
      expect(b.crossNodeLinks.away).toBe(0);
    }
  });
});

describe('a connection that drops while its join is on the way', () => {
  it('is taken out of the slot when the answer comes: the new device hears "disconnected", and nothing is left behind', async () => {
    const { node } = cluster();
    const [a, b] = [node(NODE_A), node(NODE_B)];
    const device = new RecordingParty('device');
    const primary = new RecordingParty('primary');
    const { slot } = await a.open(device, { username: 'alice', sid: SID_A });
    const joining = b.join(primary, ALICE, { slot, sid: SID_B });
    b.disconnected(primary);
    expect(await joining).toEqual({ slot, sid: SID_A });
    await drained();
    expect(device.events).toEqual([
      ['link.joined', { slot, sid: SID_B, device: 1 }],
      ['link.closed', { slot, reason: 'disconnected' }],
    ]);
    expect(a.openSlots).toBe(0);
    expect(b.crossNodeLinks).toEqual({ homed: 0, away: 0 });
  });
});

describe('one answer for every wrong join or frame, on every node: unknown_link', () => {
  it('a slot that does not exist, another user\'s slot, a second join, and frames from a stranger are refused alike on both nodes', async () => {
    const { a, b, primary, slot } = await linkedAcross();
    const bob = { username: 'bob', device: 1 };
    const stranger = new RecordingParty('stranger');
    const freshDevice = new RecordingParty('another-device');
    const { slot: unjoined } = await a.open(freshDevice, { username: 'alice', sid: SID_A });
    const free = ['100', '999999'].find((n) => n !== slot && n !== unjoined)!;
    const refusals = [
      await refusal(() => b.join(stranger, ALICE, { slot: free, sid: SID_B })),
      await refusal(() => a.join(stranger, ALICE, { slot: free, sid: SID_B })),
      await refusal(() => b.join(stranger, bob, { slot: unjoined, sid: SID_B })),
      await refusal(() => b.join(stranger, ALICE, { slot, sid: SID_B })),
      await refusal(() => a.join(stranger, ALICE, { slot, sid: SID_B })),
      await refusal(() => b.join(primary, ALICE, { slot, sid: SID_B })),
      await refusal(() => b.send(stranger, { slot, data: frame('s', 0) })),
      await refusal(() => a.send(stranger, { slot, data: frame('s', 0) })),
      await refusal(() => b.send(stranger, { slot: unjoined, data: frame('s', 0) })),
    ];
    expect(refusals).toEqual(refusals.map(() => UNKNOWN_LINK));
    // None of it disturbed the joined slot.
    await b.send(primary, { slot, data: frame('p', 0) });
    await drained();
    expect(a.crossNodeLinks.homed).toBe(1);
  });
});

describe('no timing oracle across nodes', () => {
  it('a join of a slot no node holds goes through Redis and back like one held elsewhere, and is refused there', async () => {
    const { hub, b, slot } = await linkedAcross();
    const free = slot === '999999' ? '999998' : '999999';
    const before = hub.published.length;
    expect(await refusal(() => b.join(new RecordingParty('prober'), ALICE, { slot: free, sid: SID_B }))).toEqual(UNKNOWN_LINK);
    const trip = hub.published.slice(before).map(([to, text]) => [to, (JSON.parse(text) as { t: string }).t]);
    expect(trip).toEqual([
      [NODE_B, 'join'],
      [NODE_B, 'answer'],
    ]);
    expect(b.crossNodeLinks).toEqual({ homed: 0, away: 1 });
  });
});

describe('slot numbers across nodes', () => {
  it('are unique across the nodes even when every node draws the same numbers', async () => {
    const { node } = cluster();
    const nodes = [node(NODE_A), node(NODE_B), node(NODE_C)];
    const numbers: string[] = [];
    for (let i = 0; i < 30; i++) numbers.push((await nodes[i % 3]!.open(new RecordingParty(`d${i}`), { username: 'alice', sid: SID_A })).slot);
    expect(new Set(numbers).size).toBe(30);
    expect(numbers.every((n) => /^[1-9][0-9]{2}$/.test(n))).toBe(true);
  });

  it('come from the wide range once the whole cluster has SHORT_RANGE_BELOW open, though no node has', async () => {
    const { node } = cluster();
    const [a, b] = [node(NODE_A, { seed: 1 }), node(NODE_B, { seed: 2 })];
    for (let i = 0; i < SHORT_RANGE_BELOW; i++) await (i % 2 ? a : b).open(new RecordingParty(`d${i}`), { username: 'alice', sid: SID_A });
    expect(a.openSlots).toBe(SHORT_RANGE_BELOW / 2);
    const { slot } = await a.open(new RecordingParty('next'), { username: 'alice', sid: SID_A });
    expect(Number(slot)).toBeGreaterThanOrEqual(1_000);
  });

  it('bound the open slots per node and in the whole cluster: link_limit beyond either', async () => {
    const { node, hub } = cluster();
    const a = node(NODE_A, { relay: { maxOpen: 2 }, clusterMaxOpen: 3 });
    const b = node(NODE_B, { relay: { maxOpen: 2 }, clusterMaxOpen: 3 });
    await a.open(new RecordingParty('a1'), { username: 'alice', sid: SID_A });
    await a.open(new RecordingParty('a2'), { username: 'alice', sid: SID_A });
    expect((await refusal(() => a.open(new RecordingParty('a3'), { username: 'alice', sid: SID_A }))).code).toBe('link_limit');
    await b.open(new RecordingParty('b1'), { username: 'alice', sid: SID_A });
    expect((await refusal(() => b.open(new RecordingParty('b2'), { username: 'alice', sid: SID_A }))).code).toBe('link_limit');
    expect(hub.openCount()).toBe(3);
  });
});

describe('nodes that die, stall or lose messages', () => {
  it('the home node dies: the primary on the other node hears "disconnected" at the next lease check, and its frames are unknown_link', async () => {
    const { hub, b, primary, slot } = await linkedAcross();
    hub.kill(NODE_A);
    await b.checkNodes();
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
    expect(await refusal(() => b.send(primary, { slot, data: frame('p', 0) }))).toEqual(UNKNOWN_LINK);
  });

  it('the home node dies between lease checks: the next frame reaches nobody, is unknown_link, and the primary hears "disconnected"', async () => {
    const { hub, b, primary, slot } = await linkedAcross();
    hub.kill(NODE_A);
    expect(await refusal(() => b.send(primary, { slot, data: frame('p', 0) }))).toEqual(UNKNOWN_LINK);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
  });

  it('the primary\'s node dies: the new device hears "disconnected" at the home\'s next lease check, and the slot is gone', async () => {
    const { hub, a, device, slot } = await linkedAcross();
    hub.kill(NODE_B);
    await a.checkNodes();
    expect(device.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
    expect(a.openSlots).toBe(0);
    expect(hub.slots.has(slot)).toBe(false);
  });

  it('a frame to a primary whose node died unseen closes the slot: the new device hears "disconnected"', async () => {
    const { hub, a, device, slot } = await linkedAcross();
    hub.kill(NODE_B);
    await a.send(device, { slot, data: frame('d', 0) });
    await drained();
    expect(device.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
  });

  it('a home that does not answer within the request timeout fails the frame with internal, closes the link for the primary, and the home closes it too', async () => {
    const { time, hub, a, b, device, primary, slot } = await linkedAcross();
    hub.hold(NODE_A);
    const heldFrom = hub.published.length;
    const sending = refusal(() => b.send(primary, { slot, data: frame('p', 0) }));
    await drained();
    time.advance(REQUEST_TIMEOUT_MS);
    const refused = await sending;
    expect(refused.code).toBe('internal');
    expect(refused.message).toMatch(/did not answer in time/);
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
    // The close sent meanwhile reaches the home once it reads its channel again: it ends the slot there.
    const held = hub.published.slice(heldFrom).filter(([to]) => to === NODE_A).map(([, text]) => text);
    for (const text of held) hub.inject(NODE_A, text);
    await drained();
    expect(a.openSlots).toBe(0);
    expect(device.events.at(-1)).toEqual(['link.closed', { slot, reason: 'closed' }]);
  });

  it('Redis down: a slot opens on its node alone and links there; a join through another node fails with a clear internal error', async () => {
    const { hub, node } = cluster();
    const a = node(NODE_A);
    const b = node(NODE_B);
    hub.down = true;
    const device = new RecordingParty('device');
    const { slot } = await a.open(device, { username: 'alice', sid: SID_A });
    expect(hub.slots.size).toBe(0);
    const refused = await refusal(() => b.join(new RecordingParty('primary-on-b'), ALICE, { slot, sid: SID_B }));
    expect(refused).toEqual({ code: 'internal', message: expect.stringMatching(/another node of the cluster.*redis does not answer/) });
    const primary = new RecordingParty('primary-on-a');
    expect(await a.join(primary, ALICE, { slot, sid: SID_B })).toEqual({ slot, sid: SID_A });
    await a.send(primary, { slot, data: frame('p', 0) });
    expect(device.frames()).toEqual([frame('p', 0)]);
  });

  it('Redis down mid-link: the frame that cannot be forwarded fails with internal and the primary hears "disconnected"', async () => {
    const { hub, b, primary, slot } = await linkedAcross();
    hub.down = true;
    expect((await refusal(() => b.send(primary, { slot, data: frame('p', 0) }))).code).toBe('internal');
    expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
  });

  it('a subscriber that was away may have missed frames: every cross-node link of its node closes on both sides', async () => {
    for (const reset of ['home', 'visitor'] as const) {
      const { a, b, device, primary, slot } = await linkedAcross();
      (reset === 'home' ? a : b).subscriberReset();
      await drained();
      expect(device.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
      expect(primary.events).toEqual([['link.closed', { slot, reason: 'disconnected' }]]);
      expect(a.openSlots).toBe(0);
      expect(b.crossNodeLinks.away).toBe(0);
    }
  });

  it('ignores what is not a message on its channel, and a push for a connection that is in no link of its own', async () => {
    const { hub, b, primary, slot } = await linkedAcross();
    hub.inject(NODE_B, 'not json');
    hub.inject(NODE_B, JSON.stringify({ t: 'push', party: primary.id, push: { event: 'link.data', payload: { slot, data: '%%%' } } }));
    hub.inject(NODE_B, JSON.stringify({ t: 'push', party: 'someone-else', push: { event: 'link.data', payload: { slot, data: frame('z', 0) } } }));
    hub.inject(NODE_B, JSON.stringify({ t: 'push', party: primary.id, push: { event: 'link.data', payload: { slot: '123456', data: frame('z', 0) } } }));
    await drained();
    expect(primary.events).toEqual([]);
    expect(b.crossNodeLinks.away).toBe(1);
  });
});
