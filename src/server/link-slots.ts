/**
 * What the link events (link-handlers.ts) ask of whatever holds the link slots: the in-memory relay of
 * one node (link-relay.ts), or, on a node of a cluster, the relay of cluster/cross-node-links.ts, which
 * keeps its own slots in one and reaches the others' through Redis. The methods a cluster must wait for
 * (a number claimed in Redis, a join or frame forwarded to the slot's node) may answer with a promise;
 * the single node answers at once, as it always has.
 */
import type { LinkJoinResult, LinkOpenResult } from '../protocol/events-v2.js';
import type { LinkClosePayload, LinkJoinPayload, LinkOpenPayload, LinkSendPayload } from '../protocol/link-schemas.js';
import type { LinkAccount, LinkParty } from './link-relay.js';

export interface LinkSlots {
  open(party: LinkParty, payload: LinkOpenPayload): LinkOpenResult | Promise<LinkOpenResult>;
  join(party: LinkParty, account: LinkAccount, payload: LinkJoinPayload): LinkJoinResult | Promise<LinkJoinResult>;
  send(party: LinkParty, payload: LinkSendPayload): void | Promise<void>;
  close(party: LinkParty, payload: LinkClosePayload): void | Promise<void>;
  /** The connection dropped: every slot it is in closes, and the other party hears `link.closed` "disconnected". */
  disconnected(party: LinkParty): void;
  /** The server is stopping: forgets every slot. */
  dispose(): void;
}
