/**
 * What the cross-node link relay (cross-node-links.ts) needs from the cluster's Redis, as an interface so
 * that its rules are tested with several nodes in one process before any Redis is involved (the tests'
 * in-memory bus), and run on Redis by redis-link-bus.ts.
 *
 * A registry of slot numbers (which node is a slot's home, until when), one channel per node for the
 * messages of link-messages.ts, and a lease per node saying it is still there.
 */

/** Where an open slot lives, as registered. */
export interface SlotHome {
  readonly node: string;
  readonly expiresAt: number;
}

/** The outcome of a claim: the number now this node's, none of the candidates free, or the cluster at its cap. */
export type SlotClaim = { readonly slot: string } | 'taken' | 'full';

export interface LinkBus {
  /** This node's id: its channel, its lease, the owner of the numbers it claims. */
  readonly node: string;
  /**
   * Registers the first free number among `short` (while fewer than SHORT_RANGE_BELOW slots are open in
   * the whole cluster) or among `wide` (from then on) as this node's until `expiresAt`, `ttlMs` from now;
   * `full` when `maxOpen` slots are open in the cluster. Throws when the registry does not answer.
   */
  claim(short: readonly string[], wide: readonly string[], expiresAt: number, ttlMs: number, maxOpen: number): Promise<SlotClaim>;
  /** The home of an open slot, or undefined. Throws when the registry does not answer. */
  lookup(slot: string): Promise<SlotHome | undefined>;
  /** Frees a number this node claimed (left alone if it is another node's by now). */
  release(slot: string): Promise<void>;
  /** Sends `text` to a node's channel: false when no node listens there (it is gone); throws when Redis does not answer. */
  publish(node: string, text: string): Promise<boolean>;
  /** Starts handing the messages of this node's channel to `received`, in the order they were published. */
  listen(received: (text: string) => void): void;
  /** True while the node's lease is held (it is running). Throws when Redis does not answer. */
  alive(node: string): Promise<boolean>;
}
