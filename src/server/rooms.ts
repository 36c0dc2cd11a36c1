/**
 * The Socket.IO rooms the server addresses. Everything sent to a user or a device goes to its room
 * through the adapter, never through a list of sockets this process keeps, so an adapter that spans
 * nodes (Redis) reaches the connections wherever they are.
 */

/** Every authenticated connection of a user joins this room at login: all of the user's devices. */
export const userRoom = (username: string): string => `user:${username}`;

/**
 * The connections of one address (design §3.1): every authenticated connection joins the room of the
 * device it logged in as. Messages, receipts and `prekeys.low` go to an address, never to a whole user.
 */
export const addressRoom = (username: string, device: number): string => `device:${username}/${device}`;

/**
 * Receipts for one address go to the connections of that address that take them in one shape: its
 * protocol's, one `receipt` event each or `receipts` batches (docs/PROTOCOL.md §7.12). A room per shape,
 * so that a receipt is addressed to exactly its readers: sending it to the address's room except a
 * protocol's room made the adapter copy that whole room (every connection of the protocol) per receipt,
 * a cost that grew with idle connections.
 */
export const receiptRoom = (username: string, device: number, protocol: 1 | 2, batched: boolean): string =>
  `receipts${protocol}${batched ? 'b' : ''}:${username}/${device}`;

/**
 * Every connection joins the room of its protocol, so that a broadcast in one protocol's words can leave
 * the other protocol's connections out with `except`. Protocol-1 connections get exactly protocol 1's
 * frames (a `receipt` without `toDevice`, never a `removed` one, no `devices.changed`), as they always did.
 */
export const PROTOCOL_1_ROOM = 'protocol-1';
export const PROTOCOL_2_ROOM = 'protocol-2';

/**
 * Room of the connections that asked for the online list (`users`): they get join/leave events from then
 * on. Broadcasting every login to every connection would cost O(n) per login, O(n²) for n logins.
 */
export const PRESENCE_ROOM = 'presence-watchers';
