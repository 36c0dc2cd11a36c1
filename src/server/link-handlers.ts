/**
 * The link relay's events on the wire (design §6.3, PROTOCOL.md §19.10): this module turns connections
 * into the relay's parties and its answers into acks; the slots themselves are link-relay.ts. `link.open`
 * is the one event a protocol-2 connection may use before it logs in besides the authentication events:
 * it makes the connection a *linking* one, which may then use only the authentication and link events
 * (connection.ts) and whose auth timeout becomes the slot's expiry. `link.join` needs a protocol-2 login
 * (on a protocol-1 connection it is not an event at all).
 */
import type { Logger } from 'pino';
import { ChatError } from '../protocol/errors.js';
import type { ConnectionState, HandlerTableV2 } from './connection.js';
import { type LinkParty, unknownLink } from './link-relay.js';
import type { LinkSlots } from './link-slots.js';
import { signedInAddress } from './prekeys.js';
import { PRIMARY_DEVICE, type ServerStore } from './store/server-store.js';

export type LinkEventName = 'link.open' | 'link.join' | 'link.send' | 'link.close';

/** The relay's view of a connection: its Socket.IO id and the three pushes, each typed by Socket.IO's emit. */
export function linkParty(conn: ConnectionState): LinkParty {
  const socket = conn.socket;
  return {
    id: socket.id,
    joined: (e) => socket.emit('link.joined', e),
    data: (e) => socket.emit('link.data', e),
    closed: (e) => socket.emit('link.closed', e),
  };
}

export interface LinkServiceDeps {
  store: ServerStore;
  /** The node's relay, or a cluster's (cluster/cross-node-links.ts). */
  relay: LinkSlots;
  logger: Logger;
}

export function linkHandlers({ store, relay, logger }: LinkServiceDeps): Pick<HandlerTableV2, LinkEventName> {
  return {
    'link.open': {
      run: async (conn, p) => {
        // The new device opens a slot before it has an identity; a connection that has one is a device
        // already, and linking it again would make no sense.
        if (conn.username !== null) throw new ChatError('already_authenticated', `already logged in as "${conn.username}"; link.open is for a device not yet linked`);
        // One slot per connection's lifetime: each open moves the connection's deadline to the slot's
        // expiry, so reopening after a close would keep an unauthenticated connection alive for ever.
        if (conn.linking) throw new ChatError('link_limit', 'this connection has opened a link slot already; a new code needs a new connection');
        if (!(await store.getUser(p.username))) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        const opened = await relay.open(linkParty(conn), p);
        conn.linking = true;
        // The code has to be typed on the other machine: the connection may wait for the slot's expiry
        // instead of the few seconds an unauthenticated connection gets.
        if (conn.authTimer) clearTimeout(conn.authTimer);
        conn.authTimer = setTimeout(() => {
          logger.debug({ sid: conn.socket.id }, 'dropping a linking connection at its slot expiry');
          conn.socket.disconnect(true);
        }, Math.max(0, opened.expiresAt - Date.now()));
        return opened;
      },
    },
    'link.join': {
      run: async (conn, p) => {
        const { username, device } = signedInAddress(conn);
        // Only the primary holds the account key and can publish the list that adds the new device
        // (design §2.3); another device is answered as for every slot it cannot join.
        if (device !== PRIMARY_DEVICE) throw unknownLink();
        return await relay.join(linkParty(conn), { username, device }, p);
      },
    },
    'link.send': {
      run: async (conn, p) => {
        await relay.send(linkParty(conn), p);
        return {};
      },
    },
    'link.close': {
      run: async (conn, p) => {
        await relay.close(linkParty(conn), p);
        return {};
      },
    },
  };
}
