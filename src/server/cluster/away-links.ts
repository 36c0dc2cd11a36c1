/**
 * The visiting side of cross-node links (cross-node-links.ts): per connection of this node, the slots
 * homed on other nodes that it joined, with the home to forward its frames to and the slot's expiry.
 */
import type { LinkParty } from '../link-relay.js';

/** A slot homed on another node that a connection of this node joined. */
export interface Membership {
  readonly home: string;
  readonly party: LinkParty;
  readonly expiresAt: number;
}

export class AwayLinks {
  private readonly byParty = new Map<string, Map<string, Membership>>();
  private count = 0;

  /** Memberships now. */
  get size(): number {
    return this.count;
  }

  get(partyId: string, slot: string): Membership | undefined {
    return this.byParty.get(partyId)?.get(slot);
  }

  add(slot: string, membership: Membership): void {
    const partyId = membership.party.id;
    let slots = this.byParty.get(partyId);
    if (!slots) this.byParty.set(partyId, (slots = new Map()));
    if (!slots.has(slot)) this.count++;
    slots.set(slot, membership);
  }

  /** Forgets one membership; returns it, or undefined if there was none. */
  drop(partyId: string, slot: string): Membership | undefined {
    const slots = this.byParty.get(partyId);
    const membership = slots?.get(slot);
    if (!slots || !membership) return undefined;
    slots.delete(slot);
    this.count--;
    if (slots.size === 0) this.byParty.delete(partyId);
    return membership;
  }

  /** Forgets every membership `drop` picks; returns them with their slots. */
  dropWhere(drop: (slot: string, membership: Membership) => boolean): Array<[string, Membership]> {
    const dropped: Array<[string, Membership]> = [];
    for (const [partyId, slots] of [...this.byParty]) {
      for (const [slot, m] of [...slots]) {
        if (!drop(slot, m)) continue;
        this.drop(partyId, slot);
        dropped.push([slot, m]);
      }
    }
    return dropped;
  }

  /** The nodes holding the slots of these memberships. */
  homes(): Set<string> {
    const homes = new Set<string>();
    for (const slots of this.byParty.values()) for (const m of slots.values()) homes.add(m.home);
    return homes;
  }

  clear(): void {
    this.byParty.clear();
    this.count = 0;
  }
}
