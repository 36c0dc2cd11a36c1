/**
 * Several nodes' link buses in one process (socket.io's lesson: test multi-node behaviour with an
 * in-memory cluster before any Redis is involved). The hub is what Redis is to the nodes: the registry of
 * slot numbers, the nodes' leases and channels. Messages are delivered in publication order, each in a
 * microtask of its own, so a request and its answer interleave with other work as they would over Redis.
 *
 * A test can stop a node (it no longer listens and its lease is gone, like a killed node), take Redis
 * down (every call throws), or hold a node's incoming messages (a node that stalls).
 */
import type { LinkBus, SlotClaim, SlotHome } from '../../src/server/cluster/link-bus.js';
import { SHORT_RANGE_BELOW } from '../../src/server/link-slot-numbers.js';

interface Registered {
  node: string;
  expiresAt: number;
  /** When the registry drops it (claim time + ttl). */
  until: number;
}

export class MemoryLinkHub {
  readonly slots = new Map<string, Registered>();
  private readonly listeners = new Map<string, (text: string) => void>();
  private readonly leases = new Set<string>();
  private readonly held = new Set<string>();
  /** Every message published, as [to node, text]. */
  readonly published: Array<[string, string]> = [];
  down = false;

  constructor(private readonly now: () => number) {}

  bus(node: string): LinkBus {
    this.leases.add(node);
    const hub = this;
    return {
      node,
      async claim(short, wide, expiresAt, ttlMs, maxOpen): Promise<SlotClaim> {
        hub.check();
        const open = hub.openCount();
        if (open >= maxOpen) return 'full';
        for (const slot of open < SHORT_RANGE_BELOW ? short : wide) {
          if (hub.live(slot)) continue;
          hub.slots.set(slot, { node, expiresAt, until: hub.now() + ttlMs });
          return { slot };
        }
        return 'taken';
      },
      async lookup(slot): Promise<SlotHome | undefined> {
        hub.check();
        const r = hub.live(slot);
        return r && { node: r.node, expiresAt: r.expiresAt };
      },
      async release(slot) {
        hub.check();
        if (hub.slots.get(slot)?.node === node) hub.slots.delete(slot);
      },
      async publish(to, text) {
        hub.check();
        hub.published.push([to, text]);
        const listener = hub.listeners.get(to);
        if (!listener) return false;
        if (!hub.held.has(to)) queueMicrotask(() => hub.listeners.get(to)?.(text));
        return true;
      },
      listen(received) {
        hub.listeners.set(node, received);
      },
      async alive(other) {
        hub.check();
        return hub.leases.has(other);
      },
    };
  }

  /** The node dies: nobody listens on its channel and its lease is gone (its slots stay registered until they expire). */
  kill(node: string): void {
    this.listeners.delete(node);
    this.leases.delete(node);
  }

  /** Messages to `node` are taken by Redis but never handed to it (a node that stalls). */
  hold(node: string): void {
    this.held.add(node);
  }

  /** Another node's message (or anything else) arriving on a node's channel. */
  inject(node: string, text: string): void {
    this.listeners.get(node)?.(text);
  }

  openCount(): number {
    return [...this.slots.keys()].filter((slot) => this.live(slot)).length;
  }

  private live(slot: string): Registered | undefined {
    const r = this.slots.get(slot);
    if (r && r.until <= this.now()) this.slots.delete(slot);
    return r && r.until > this.now() ? r : undefined;
  }

  private check(): void {
    if (this.down) throw new Error('connect ECONNREFUSED (redis is down)');
  }
}

/** A clock and timers that move only when the test says so. */
export class ManualTime {
  private t = 1_795_776_494_638;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];
  private seq = 0;

  readonly now = (): number => this.t;

  readonly startTimer = (fn: () => void, delayMs: number): { cancel(): void } => {
    const timer = { at: this.t + delayMs, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };

  /** Moves the clock and runs the timers that fall due, in order. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((x) => !x.cancelled && x.at <= this.t).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.timers = this.timers.filter((x) => !due.includes(x));
    for (const timer of due) timer.fn();
  }
}
