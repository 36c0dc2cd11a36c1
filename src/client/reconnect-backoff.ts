/**
 * The wait before a reconnection the client starts itself (Socket.IO's manager has its own for a lost
 * transport, with the same settings): doubling from the initial delay up to the maximum, each spread by
 * ± jitter, so the clients of a node that sends them all away at once do not all come back at once.
 */
export interface BackoffSettings {
  initialDelayMs: number;
  maxDelayMs: number;
  /** 0 to 1: the share of each delay drawn at random either side of it. */
  jitter: number;
}

/** The delay before attempt `attempt` (0 for the first), in ms. */
export function reconnectDelayMs(attempt: number, settings: BackoffSettings, random: () => number = Math.random): number {
  // 2^31 already dwarfs any maximum: the cap keeps the power finite.
  const base = Math.min(settings.maxDelayMs, settings.initialDelayMs * 2 ** Math.min(attempt, 31));
  const spread = base * settings.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(base + spread));
}
