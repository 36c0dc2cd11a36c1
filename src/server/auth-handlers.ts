/**
 * The authentication events (`challenge`, `register`, `login`) and what a proven identity changes on a
 * connection. The proofs themselves are in auth.ts; this module decides when a connection may try one
 * and binds the connection to the user once one succeeds.
 */
import type { Logger } from 'pino';
import { ChatError } from '../protocol/errors.js';
import type { ServerLimits } from '../protocol/events.js';
import { authenticateLogin, authenticateRegistration, newChallenge } from './auth.js';
import type { ConnectionState, HandlerTable } from './connection.js';
import { userRoom } from './rooms.js';
import type { ServerStore } from './store/server-store.js';

export type AuthEventName = 'challenge' | 'register' | 'login';

export interface AuthDeps {
  store: ServerStore;
  logger: Logger;
  /** Told to every client at login, so it refuses an over-size message before it ever enters its outbox. */
  limits: ServerLimits;
  /** The connection now speaks for `conn.username`: presence and delivery start here. */
  authenticated(conn: ConnectionState): void;
}

/** A challenge answers one attempt only: whatever the outcome, the next attempt needs a new one. */
function takeChallenge(conn: ConnectionState): string {
  const challenge = conn.challenge;
  conn.challenge = newChallenge();
  return challenge;
}

function rejectIfAuthenticated(conn: ConnectionState): void {
  if (conn.username !== null) throw new ChatError('already_authenticated', `already logged in as "${conn.username}"`);
}

export function authHandlers(deps: AuthDeps): Pick<HandlerTable, AuthEventName> {
  const { store, logger, limits } = deps;

  function bindIdentity(conn: ConnectionState, username: string): void {
    conn.username = username;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    conn.authTimer = null;
    conn.socket.join(userRoom(username));
    deps.authenticated(conn);
    logger.info({ user: username, sid: conn.socket.id }, 'authenticated');
  }

  return {
    challenge: { run: async (conn) => ({ challenge: conn.challenge }) },
    register: {
      run: async (conn, p) => {
        rejectIfAuthenticated(conn);
        const { record, created } = await authenticateRegistration(store, takeChallenge(conn), p, Date.now());
        bindIdentity(conn, record.username);
        if (created) logger.info({ user: record.username }, 'registered');
        return { username: record.username, registered: created, limits };
      },
    },
    login: {
      run: async (conn, p) => {
        rejectIfAuthenticated(conn);
        const record = await authenticateLogin(store, takeChallenge(conn), p);
        bindIdentity(conn, record.username);
        return { username: record.username, registered: false, limits };
      },
    },
  };
}
