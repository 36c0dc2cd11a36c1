/**
 * The Socket.IO rooms the server addresses. Everything sent to a user goes to their room through the
 * adapter, never through a list of sockets this process keeps, so an adapter that spans nodes (Redis)
 * reaches the user's connections wherever they are.
 */

/** Every authenticated connection of a user joins this room at login. */
export const userRoom = (username: string): string => `user:${username}`;

/**
 * Room of the connections that asked for the online list (`users`): they get join/leave events from then
 * on. Broadcasting every login to every connection would cost O(n) per login, O(n²) for n logins.
 */
export const PRESENCE_ROOM = 'presence-watchers';
