/** The timings of a cluster (nodes on one Redis), each with why it has its value. */

/**
 * Each connected device's delivery reads the store this often even without a wake-up. Redis pub/sub is
 * at-most-once: a wake-up published while a subscriber is reconnecting is gone. Every reconnect already
 * wakes all pumps of the node, so this poll is the backstop for what no event tells about; 5 s bounds
 * the delay of a lost wake-up, at one indexed read per connected device per 5 s (10,000 devices: 2,000
 * small reads a second, spread over the interval).
 */
export const DEFAULT_DELIVERY_POLL_MS = 5_000;

/**
 * A node's presence records live this long unless it refreshes them (every third of it): a node that
 * dies without saying goodbye (kill -9, a lost machine) has its users shown offline within 30 s.
 * Shorter means more refresh writes per online user; longer means ghosts for longer.
 */
export const DEFAULT_PRESENCE_LEASE_MS = 30_000;

/**
 * A Redis command that has had no answer after this long fails. Every caller has a local fallback
 * (presence, rate limits) or none is needed (wake-ups), so a stalled Redis must cost a login or a send
 * at most this much, never hang it.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** Reconnect attempts back off to this, so a Redis that comes back is found within 2 s. */
export const REDIS_MAX_RECONNECT_DELAY_MS = 2_000;

/** Every key and channel of the cluster starts with this: one Redis may hold other things too. */
export const REDIS_KEY_PREFIX = 'e2ee-chat:';

/**
 * A link event forwarded to the node holding its slot (cross-node-links.ts) fails if not answered
 * within this: one pub/sub round trip, about a millisecond on a LAN. Twice the Redis command timeout,
 * so a stalled Redis is reported as such (by the publish) rather than as a silent node; short enough
 * that a primary waiting on a dead node hears of it long before the user gives up on the code.
 */
export const LINK_REQUEST_TIMEOUT_MS = 2_000;
