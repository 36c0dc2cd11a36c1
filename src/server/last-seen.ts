/**
 * When a device was last seen (design §5.4: `lastSeen`, for one's own devices only): recorded at each
 * login and, at most once a minute per connection, when it acknowledges. "Last seen" is read by people
 * deciding whether to remove a device that has been away for weeks; a minute's resolution costs them
 * nothing and spares a write per acknowledgement.
 */
import type { Logger } from 'pino';
import type { ConnectionState } from './connection.js';
import type { ServerStore } from './store/server-store.js';

/** Acknowledgements record the time at most this often per connection. */
export const LAST_SEEN_RESOLUTION_MS = 60_000;

/** At login. The store leaves a device of a user without a list alone (it has no row). */
export async function recordLogin(store: ServerStore, conn: ConnectionState, now: number): Promise<void> {
  conn.lastSeenRecordedAt = now;
  await store.touchDevice(conn.username!, conn.device!, now);
}

/** At an acknowledgement: written in the background, once per LAST_SEEN_RESOLUTION_MS. */
export function recordActivity(store: ServerStore, conn: ConnectionState, now: number, logger: Logger): void {
  if (now - conn.lastSeenRecordedAt < LAST_SEEN_RESOLUTION_MS) return;
  conn.lastSeenRecordedAt = now;
  store.touchDevice(conn.username!, conn.device!, now).catch((err: unknown) => logger.error({ err, user: conn.username }, 'recording last seen failed'));
}
