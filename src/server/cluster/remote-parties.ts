/**
 * The home side of cross-node links (cross-node-links.ts): the connections of other nodes that joined
 * slots homed here, each as the proxy party the home relay knows it by, with the slots it is in.
 */
import type { LinkParty } from '../link-relay.js';

/** A connection of another node that joined slots homed here. */
export interface RemoteParty {
  readonly node: string;
  readonly proxy: LinkParty;
  readonly slots: Set<string>;
}

export class RemoteParties {
  private readonly byProxy = new Map<string, RemoteParty>();
  private readonly joinerOf = new Map<string, string>();

  /** Slots homed here with a joiner on another node. */
  get slotCount(): number {
    return this.joinerOf.size;
  }

  get(proxyId: string): RemoteParty | undefined {
    return this.byProxy.get(proxyId);
  }

  joined(node: string, proxy: LinkParty, slot: string): void {
    let r = this.byProxy.get(proxy.id);
    if (!r) this.byProxy.set(proxy.id, (r = { node, proxy, slots: new Set() }));
    r.slots.add(slot);
    this.joinerOf.set(slot, proxy.id);
  }

  /** The slot went: forgets its remote joiner, if it had one. */
  slotGone(slot: string): void {
    const proxyId = this.joinerOf.get(slot);
    if (proxyId === undefined) return;
    this.joinerOf.delete(slot);
    const r = this.byProxy.get(proxyId);
    if (!r) return;
    r.slots.delete(slot);
    if (r.slots.size === 0) this.byProxy.delete(proxyId);
  }

  /** A copy: the caller may close slots (and so change this) while going through it. */
  all(): RemoteParty[] {
    return [...this.byProxy.values()];
  }

  clear(): void {
    this.byProxy.clear();
    this.joinerOf.clear();
  }
}
