/**
 * Presence as clients see it: a user comes online with their first authenticated connection and goes
 * offline with their last; connections that asked for the online list hear both.
 */
import type { ConnectionState } from './connection.js';
import type { ChatIO } from './connection.js';
import type { Presence } from './presence.js';
import { PRESENCE_ROOM } from './rooms.js';

export class PresenceHandling {
  constructor(
    private readonly io: ChatIO,
    readonly registry: Presence<ConnectionState>,
  ) {}

  /** A connection just logged in. */
  online(conn: ConnectionState): void {
    const username = conn.username!;
    if (this.registry.add(username, conn)) {
      conn.socket.to(PRESENCE_ROOM).emit('presence', { username, online: true });
    }
  }

  /** A connection closed (logged in or not). */
  offline(conn: ConnectionState): void {
    if (conn.username !== null && this.registry.remove(conn.username, conn)) {
      this.io.to(PRESENCE_ROOM).emit('presence', { username: conn.username, online: false });
    }
  }

  /** The online users now; the connection hears of changes from here on. */
  watch(conn: ConnectionState): string[] {
    conn.socket.join(PRESENCE_ROOM);
    return this.registry.users();
  }
}
