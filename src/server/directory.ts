/**
 * The directory: a user's registered public keys (`keys`) and who is online (`users`). Asking for the
 * online list also subscribes the connection to presence changes from then on.
 */
import { ChatError } from '../protocol/errors.js';
import type { HandlerTable } from './connection.js';
import type { PresenceHandling } from './presence-handling.js';
import type { ServerStore } from './store/server-store.js';

export type DirectoryEventName = 'keys' | 'users';

export function directoryHandlers(store: ServerStore, presence: PresenceHandling): Pick<HandlerTable, DirectoryEventName> {
  return {
    keys: {
      run: async (_conn, p) => {
        const record = await store.getUser(p.username);
        if (!record) throw new ChatError('unknown_user', `no user named "${p.username}"`);
        return { username: record.username, signingKey: record.signingKey, encryptionKey: record.encryptionKey, registeredAt: record.registeredAt };
      },
    },
    users: { run: async (conn) => ({ users: presence.watch(conn) }) },
  };
}
