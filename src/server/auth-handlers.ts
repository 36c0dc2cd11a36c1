/**
 * The authentication events (`challenge`, `register`, `login`) of both protocols and what a proven
 * identity changes on a connection. The proofs themselves are in auth.ts (protocol 1) and auth-v2.ts
 * (protocol 2); this module decides when a connection may try one and binds the connection to the
 * address (user and device) and protocol once one succeeds (design §5.1).
 */
import type { Logger } from 'pino';
import { ChatError } from '../protocol/errors.js';
import type { ServerLimits } from '../protocol/events.js';
import { PROTOCOL_VERSIONS, type ProtocolVersion, type ServerLimitsV2 } from '../protocol/events-v2.js';
import { authenticateLogin, authenticateRegistration, newChallenge } from './auth.js';
import { authenticateLoginV2, authenticateRegistrationV2 } from './auth-v2.js';
import type { ConnectionState, HandlerTable, HandlerTableV2 } from './connection.js';
import { recordLogin } from './last-seen.js';
import { addressRoom, PROTOCOL_1_ROOM, PROTOCOL_2_ROOM, receiptRoom, userRoom } from './rooms.js';
import { PRIMARY_DEVICE, type ServerStore } from './store/server-store.js';

export type AuthEventName = 'challenge' | 'register' | 'login';

export interface AuthDeps {
  store: ServerStore;
  logger: Logger;
  /** Told to every client at login, so it refuses an over-size message before it ever enters its outbox. */
  limits: ServerLimitsV2;
  /** The connection now speaks for its address: presence and delivery start here. */
  authenticated(conn: ConnectionState): Promise<void>;
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

export function authHandlers(deps: AuthDeps): { v1: Pick<HandlerTable, AuthEventName>; v2: Pick<HandlerTableV2, AuthEventName> } {
  const { store, logger, limits } = deps;
  const limitsV1: ServerLimits = {
    maxEnvelopeBytes: limits.maxEnvelopeBytes,
    ...(limits.maxAttachmentBytes !== undefined && { maxAttachmentBytes: limits.maxAttachmentBytes }),
  };

  async function bindIdentity(conn: ConnectionState, username: string, device: number, protocol: ProtocolVersion): Promise<void> {
    // The proof is checked against the store, so the connection may have closed meanwhile; its
    // disconnect handler has run and will not run again: binding it now would leave the user online
    // for good, a dead member in their room and a delivery pump nobody stops. (The answer goes nowhere.)
    if (!conn.socket.connected) throw new ChatError('not_connected', 'the connection closed before its login was checked');
    conn.username = username;
    conn.device = device;
    conn.protocol = protocol;
    if (conn.authTimer) clearTimeout(conn.authTimer);
    conn.authTimer = null;
    conn.socket.join([
      userRoom(username),
      addressRoom(username, device),
      protocol === 1 ? PROTOCOL_1_ROOM : PROTOCOL_2_ROOM,
      receiptRoom(username, device, protocol, conn.receiptBatches),
    ]);
    await deps.authenticated(conn);
    // After delivery started (in the same tick as the room join, see app.ts). A protocol-2 login waits
    // for it, so the device's own `devices.list` right after shows it; a protocol-1 login does not (the
    // device has no list row unless its user published a list, and v1 logins keep their latency).
    // A failure to record it is logged, never answered: the connection is bound already, and an error
    // answer would leave a client that retries with already_authenticated.
    const seen = recordLogin(store, conn, Date.now()).catch((err: unknown) => logger.error({ err, user: username, device }, 'recording last seen failed'));
    if (protocol === 2) await seen;
    logger.info({ user: username, device, protocol, sid: conn.socket.id }, 'authenticated');
  }

  // One answer for both protocols: a protocol-1 client ignores `protocols` (design §5.1).
  const challenge = { run: async (conn: ConnectionState) => ({ challenge: conn.challenge, protocols: [...PROTOCOL_VERSIONS] }) };

  return {
    v1: {
      challenge,
      register: {
        run: async (conn, p) => {
          rejectIfAuthenticated(conn);
          const { record, created } = await authenticateRegistration(store, takeChallenge(conn), p, Date.now());
          await bindIdentity(conn, record.username, PRIMARY_DEVICE, 1);
          if (created) logger.info({ user: record.username }, 'registered');
          return { username: record.username, registered: created, limits: limitsV1 };
        },
      },
      login: {
        run: async (conn, p) => {
          rejectIfAuthenticated(conn);
          const record = await authenticateLogin(store, takeChallenge(conn), p);
          await bindIdentity(conn, record.username, PRIMARY_DEVICE, 1);
          return { username: record.username, registered: false, limits: limitsV1 };
        },
      },
    },
    v2: {
      challenge,
      register: {
        run: async (conn, p) => {
          rejectIfAuthenticated(conn);
          const { record, created } = await authenticateRegistrationV2(store, takeChallenge(conn), p, Date.now());
          await bindIdentity(conn, record.username, PRIMARY_DEVICE, 2);
          if (created) logger.info({ user: record.username }, 'registered');
          return { username: record.username, device: PRIMARY_DEVICE, protocol: 2, registered: created, limits };
        },
      },
      login: {
        run: async (conn, p) => {
          rejectIfAuthenticated(conn);
          const record = await authenticateLoginV2(store, takeChallenge(conn), p);
          await bindIdentity(conn, record.username, p.device, 2);
          return { username: record.username, device: p.device, protocol: 2, registered: false, limits };
        },
      },
    },
  };
}
