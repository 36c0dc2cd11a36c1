/**
 * Presence as clients see it: a user comes online with their first authenticated connection and goes
 * offline with their last; connections that asked for the online list hear both (through the adapter,
 * so watchers on any node hear them). Presence is advisory: a registry that fails is logged and never
 * fails a login or leaves a connection half closed.
 */
import type { Logger } from 'pino';
import type { ChatIO, ConnectionState } from './connection.js';
import type { PresenceRegistry } from './presence.js';
import { PRESENCE_ROOM } from './rooms.js';

export class PresenceHandling {
  constructor(
    private readonly io: ChatIO,
    readonly registry: PresenceRegistry,
    private readonly logger: Logger,
  ) {}

  /** A connection just logged in. */
  async online(conn: ConnectionState): Promise<void> {
    const username = conn.username!;
    try {
      if (await this.registry.add(username, conn.socket.id)) {
        conn.socket.to(PRESENCE_ROOM).emit('presence', { username, online: true });
      }
    } catch (err) {
      this.logger.error({ err, user: username }, 'presence update failed');
    }
  }

  /** A connection closed (logged in or not). */
  async offline(conn: ConnectionState): Promise<void> {
    const username = conn.username;
    if (username === null) return;
    try {
      if (await this.registry.remove(username, conn.socket.id)) {
        this.io.to(PRESENCE_ROOM).emit('presence', { username, online: false });
      }
    } catch (err) {
      this.logger.error({ err, user: username }, 'presence update failed');
    }
  }

  /** The online users now; the connection hears of changes from here on. */
  async watch(conn: ConnectionState): Promise<string[]> {
    conn.socket.join(PRESENCE_ROOM);
    return this.registry.users();
  }
}
